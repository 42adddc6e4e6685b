"""Errors as RFC 9457 problem details, and the middleware that renders every error that way."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from pydantic import ValidationError

from opel.validation_errors import field_problems

__all__ = [
    "PROBLEM_JSON",
    "ProblemError",
    "problem_middleware",
    "problem_response",
    "validation_problem",
]

log = logging.getLogger(__name__)

PROBLEM_JSON: Final = "application/problem+json"
_TYPE_PREFIX: Final = "urn:opel:problem:"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ProblemError(Exception):
    """Raise from a handler to answer with a problem details document."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def problem_response(
    status: int,
    kind: str,
    detail: str,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> web.Response:
    body: dict[str, Any] = {
        "type": _TYPE_PREFIX + kind,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **(extra or {}),
    }
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def validation_problem(
    exc: ValidationError, *, default_field: str = "body", renames: Mapping[str, str] | None = None
) -> ProblemError:
    """422 naming the first bad field (and listing them all) from a pydantic error.

    The wording is :mod:`opel.validation_errors`' (as for a refused message or file) but without
    the offending values: an answer never echoes what the caller sent.
    """
    errors = []
    for problem in field_problems(exc, show_input=False):
        name = problem.path or default_field
        name = (renames or {}).get(name, name)
        errors.append({"field": name, "message": problem.problem})
    first = errors[0]
    return ProblemError(
        422,
        "invalid-request",
        f"{first['field']}: {first['message']}",
        title="Invalid request",
        extra={"field": first["field"], "errors": errors},
    )


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn ProblemError, aiohttp's HTTP errors and unexpected exceptions into problem details."""
    try:
        return await handler(request)
    except ProblemError as exc:
        return problem_response(
            exc.status, exc.kind, exc.detail, title=exc.title, headers=exc.headers, extra=exc.extra
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # Keep headers such as Allow (405) but not the plain-text body and its type.
        headers = {
            k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")
        }
        detail = {
            404: f"no resource at {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
        }.get(exc.status, exc.text or exc.reason)
        return problem_response(exc.status, _slug(exc.reason), detail, headers=headers)
    except Exception:
        log.exception("unhandled error answering %s %s", request.method, request.path)
        return problem_response(500, "internal-error", "the server failed to answer; see its log")


def _slug(reason: str) -> str:
    return "-".join(reason.lower().split()) or "error"
