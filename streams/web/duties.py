"""Routes for the plan's clock duties that people close: the KEaH organiser's "referrer told"
(plan 7.6) and assessment-bed placements (plan 6.3).

Both put the command :mod:`opel.alerting.events` builds on ``opel.commands.v1``, the same record
alerting reads from any other door, and answer 202 with it. The time recorded as "referrer told"
is when the organiser confirms here, never when opel's own message left.

``GET /keah/open`` lists the KEaH referrals still waiting for that confirmation (the board's
"referrer told" list): those the worker counted that start the 2-hour clock, less those alerting
has audited a confirmation for. It never shows a referral's ``ref``, which names a case in the
source system.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from aiohttp import web
from pydantic import ValidationError

from opel.alerting.clock import keah_deadline
from opel.alerting.duties import starts_keah_clock
from opel.alerting.events import KeahToldRequest, assessment_bed_command, keah_told_command
from opel.alerting.routing import ClockConfig
from opel.feeds import ReferralEvent
from streams.status_view import StatusView
from streams.web.auth import Permission
from streams.web.context import context
from streams.web.guard import require, require_principal
from streams.web.inputs import KeahToldBody, PlacementBody, parse_body
from streams.web.problems import ProblemError
from streams.web.writes import checked, send

__all__ = ["KEAH_WITHIN", "get_keah_open", "keah_clocks", "keah_referral", "post_keah_told", "post_placement"]

KEAH_WITHIN: Final = ClockConfig().keah_within
"""Plan 7.6's 2 hours, the routing file's ``clock.keah_within`` unless it sets another."""


def keah_clocks(view: StatusView) -> list[ReferralEvent]:
    """Every referral the worker counted (its audit record, kept for the view's history window)
    that starts a 2-hour clock, as alerting keeps one: oldest first."""
    found: list[ReferralEvent] = []
    for scope in sorted(view.scopes()):
        if not scope.startswith("area/"):
            continue
        for record in view.history(scope):
            seen = record.input
            if record.decision != "referral_counted" or seen is None:
                continue
            try:
                event = ReferralEvent.model_validate(seen)
            except ValidationError:
                continue
            if starts_keah_clock(event):
                found.append(event)
    found.sort(key=lambda event: (event.occurred_at, event.event_id))
    return found


def keah_referral(view: StatusView, event_id: str) -> ReferralEvent | None:
    """The referral event ``event_id`` if the worker counted it and it starts a 2-hour clock."""
    return next((event for event in keah_clocks(view) if event.event_id == event_id), None)


def _open_json(event: ReferralEvent, within: dt.timedelta, now: dt.datetime) -> dict[str, Any]:
    due = keah_deadline(event.occurred_at, within)
    # Named fields only, never the event as it came: its ``ref`` must not reach an open read.
    return {
        "event_id": event.event_id,
        "area": event.area,
        "received_at": event.occurred_at.isoformat(),
        "due_at": due.isoformat(),
        "overdue": now > due,
    }


async def get_keah_open(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    ctx = context(request)
    view = ctx.view
    now = view.now()
    waiting = [event for event in keah_clocks(view) if not view.keah_told(event.event_id)]
    return web.json_response(
        {
            "now": now.isoformat(),
            "within_seconds": int(ctx.keah_within.total_seconds()),
            "referrals": [_open_json(event, ctx.keah_within, now) for event in waiting],
        }
    )


async def post_keah_told(request: web.Request) -> web.Response:
    principal = require_principal(request, Permission.CONFIRM_KEAH)
    body = await parse_body(request, KeahToldBody, optional=True)
    event_id = request.match_info["event_id"]
    view = context(request).view
    if keah_referral(view, event_id) is None:
        raise ProblemError(
            404,
            "unknown-referral",
            f"no KEaH referral {event_id!r} without a start date within 24 hours has been received "
            f"in the last {view.state.history_window.days} days",
            title="Unknown referral",
        )
    now = view.now()
    command = checked(
        lambda: keah_told_command(
            KeahToldRequest(event_id=event_id, author=principal.name, note=body.note), now
        ),
        {"event_id": "event_id"},
    )
    return await send(request, command)


async def post_placement(request: web.Request) -> web.Response:
    principal = require_principal(request, Permission.RECORD_PLACEMENTS)
    body = await parse_body(request, PlacementBody)
    ctx = context(request)
    if f"area/{body.area}" not in ctx.known_scopes():
        raise ProblemError(
            422,
            "unknown-area",
            f"area: {body.area!r} is not an area of the catalogues in force; GET /status lists them",
            title="Unknown area",
            extra={"field": "area", "errors": [{"field": "area", "message": "is not a known area"}]},
        )
    now = ctx.view.now()
    if body.at is not None and body.at > now:
        raise ProblemError(
            422,
            "invalid-request",
            "at: a placement's start or end cannot be in the future",
            title="Invalid request",
            extra={"field": "at", "errors": [{"field": "at", "message": "is in the future"}]},
        )
    request_body = body.model_dump(exclude_none=True) | {"author": principal.name}
    command = checked(lambda: assessment_bed_command(request_body, now), {})
    return await send(request, command)
