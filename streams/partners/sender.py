"""One HTTP attempt at a partner's webhook, and whether another attempt could succeed.

Timeouts, connection errors, 5xx and 429 are worth retrying; any other 4xx is not, because the
partner refused the request itself (a bad signature, an unknown path) and the same bytes will
be refused again. A redirect is a failure too: following it would send the signed event to an
address nobody configured.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from opel.partners.webhook import WebhookRequest


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    recoverable: bool
    status_code: int | None = None
    error: str | None = None


async def post(client: httpx.AsyncClient, url: str, request: WebhookRequest, timeout: float) -> Attempt:
    try:
        response = await client.post(
            url, content=request.body, headers=request.headers, timeout=timeout, follow_redirects=False
        )
    except httpx.TimeoutException:
        return Attempt(False, True, None, f"timed out after {timeout:g} s")
    except httpx.HTTPError as exc:
        return Attempt(False, True, None, f"{type(exc).__name__}: {exc}")
    code = response.status_code
    if response.is_success:
        return Attempt(True, False, code)
    return Attempt(False, code >= 500 or code == 429, code, f"HTTP {code}")
