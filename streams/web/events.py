"""``GET /events``: status changes as Server-Sent Events, for the board's live updates.

Each change is one ``status`` event whose data is ``{"scope", "status"}`` (status null when
the scope was removed). A client that falls behind is disconnected rather than sent a
partial picture; on reconnecting it re-reads ``/status``, which is what the board does.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

from streams.status_view import SubscriptionClosedError
from streams.web.auth import Permission
from streams.web.context import context
from streams.web.guard import require
from streams.web.problems import ProblemError

RETRY_MS: Final = 3000
BUSY_RETRY_SECONDS: Final = 30
"""``Retry-After`` of the 503 a stream over the limit gets."""


def sse_message(event: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    # JSON never contains a raw newline, so the data fits on one "data:" line.
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


async def get_events(request: web.Request) -> web.StreamResponse:
    require(request, Permission.READ)
    ctx = context(request)
    limit = ctx.board.max_event_streams
    if len(ctx.streams) >= limit:
        # Each stream holds a connection and a queue for as long as the client stays; a bound
        # keeps a runaway client (or many tabs) from taking the server's memory and sockets.
        raise ProblemError(
            503,
            "too-many-event-streams",
            f"{limit} event streams are open already, the most this server keeps; try again later",
            title="Too many event streams",
            headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
        )
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # a proxy must pass events on as they come
        }
    )
    subscription = ctx.view.subscribe()
    ctx.streams.add(subscription)
    try:
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        await response.write(
            sse_message("ready", {"now": ctx.view.now().isoformat(), "caught_up": ctx.view.caught_up})
        )
        while True:
            try:
                change = await subscription.get(timeout=ctx.sse_heartbeat)
            except SubscriptionClosedError:
                break  # the server is stopping, or this client fell behind: it will reconnect
            if change is None:
                # Keeps idle connections open through proxies and notices a client that has gone.
                await response.write(b": keep-alive\n\n")
            elif change["type"] == "status":
                await response.write(
                    sse_message(
                        "status", {"scope": change["scope"], "status": change["status"]}, change["sequence"]
                    )
                )
            elif change["type"] == "warning":
                await response.write(
                    sse_message(
                        "warning",
                        {"scope": change["scope"], "warning": change["warning"]},
                        change["sequence"],
                    )
                )
    except ConnectionResetError:
        pass  # the client went away
    finally:
        ctx.streams.discard(subscription)
        subscription.close()
    return response
