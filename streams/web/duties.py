"""Routes for the plan's clock duties that people close: the KEaH organiser's "referrer told"
(plan 7.6) and assessment-bed placements (plan 6.3).

Both put the command :mod:`opel.alerting.events` builds on ``opel.commands.v1``, the same record
alerting reads from any other door, and answer 202 with it. The time recorded as "referrer told"
is when the organiser confirms here, never when opel's own message left.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from opel.alerting.duties import starts_keah_clock
from opel.alerting.events import KeahToldRequest, assessment_bed_command, keah_told_command
from opel.feeds import ReferralEvent
from streams.status_view import StatusView
from streams.web.auth import Permission
from streams.web.context import context
from streams.web.guard import require_principal
from streams.web.inputs import KeahToldBody, PlacementBody, parse_body
from streams.web.problems import ProblemError
from streams.web.writes import checked, send

__all__ = ["keah_referral", "post_keah_told", "post_placement"]


def keah_referral(view: StatusView, event_id: str) -> ReferralEvent | None:
    """The referral event ``event_id`` if the worker counted it (its audit record, kept for the
    view's history window) and it starts a 2-hour clock: what alerting keeps a clock for."""
    for scope in sorted(view.scopes()):
        if not scope.startswith("area/"):
            continue
        for record in view.history(scope):
            seen = record.input
            if record.decision != "referral_counted" or seen is None or seen.get("event_id") != event_id:
                continue
            try:
                event = ReferralEvent.model_validate(seen)
            except ValidationError:
                continue
            if starts_keah_clock(event):
                return event
    return None


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
