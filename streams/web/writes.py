"""Routes that change something: each one puts a command on the commands topic and answers 202.

The worker, not the API, applies commands, so 202 means "queued": the status record that
follows shows the effect.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Final, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from opel.alerting.events import AckRequest, AssessmentBedPlacement, KeahReferrerTold, ack_command
from opel.contracts.action_item import ActionItemUpdate
from opel.feeds import Acknowledge, Override, Text, Withdraw
from streams.web.auth import Permission
from streams.web.context import context
from streams.web.guard import require_principal
from streams.web.inputs import AckBody, OverrideBody, parse_body
from streams.web.problems import ProblemError, validation_problem

log = logging.getLogger(__name__)

DEFAULT_WITHDRAW_REASON: Final = "withdrawn before expiry through the API"
_TEXT: Final = TypeAdapter(Text)
C = TypeVar("C", bound=BaseModel)


def checked(build: Callable[[], C], renames: dict[str, str]) -> C:
    """The command ``build`` makes; its validation errors are the caller's 422."""
    try:
        return build()
    except ValidationError as exc:
        raise validation_problem(exc, default_field=renames.get("", "body"), renames=renames) from None


async def send(
    request: web.Request,
    command: Override | Withdraw | Acknowledge | ActionItemUpdate | KeahReferrerTold | AssessmentBedPlacement,
) -> web.Response:
    # The record and the answer are the command's own JSON: what the worker and alerting read.
    value = command.model_dump(mode="json", exclude_none=True)
    try:
        await context(request).send_command(value)
    except Exception as exc:
        log.exception("could not queue %s command", command.type)
        raise ProblemError(
            503,
            "command-not-queued",
            f"the {command.type} command could not be put on the commands topic: {type(exc).__name__}",
            title="Command not queued",
        ) from None
    return web.json_response(value, status=202)


def _check_scope(request: web.Request, scope: str) -> None:
    """422 naming ``scope`` unless the catalogues in force define it: the worker would otherwise
    open a book for a scope nobody assesses, and the 202 would promise an effect never seen."""
    if scope not in context(request).known_scopes():
        raise ProblemError(
            422,
            "unknown-scope",
            f"scope: {scope!r} is not an area, indicator, site, system or county of the catalogues "
            "in force; GET /status lists the scopes",
            title="Unknown scope",
            extra={"field": "scope", "errors": [{"field": "scope", "message": "is not a known scope"}]},
        )


async def post_override(request: web.Request) -> web.Response:
    principal = require_principal(request, Permission.OVERRIDE)
    body = await parse_body(request, OverrideBody)
    _check_scope(request, body.scope)
    now = context(request).view.now()
    command = checked(
        lambda: Override(
            type="override",
            id=f"ovr-{uuid.uuid4().hex}",
            scope=body.scope,
            level=body.level,
            author=principal.name,
            reason=body.reason,
            at=now,
            expires_at=body.expires_at,
            declaration=body.declaration,
        ),
        # The only whole-model rule is expiry after now, so a nameless error is about expires_at.
        {"": "expires_at"},
    )
    return await send(request, command)


async def delete_override(request: web.Request) -> web.Response:
    principal = require_principal(request, Permission.OVERRIDE)
    override_id = request.match_info["id"]
    reason_text = request.query.get("reason")
    reason = DEFAULT_WITHDRAW_REASON
    if reason_text is not None:
        try:
            reason = _TEXT.validate_python(reason_text)
        except ValidationError as exc:
            raise validation_problem(exc, default_field="reason") from None
    ctx = context(request)
    active = ctx.view.find_override(override_id)
    if active is None:
        raise ProblemError(
            404,
            "unknown-override",
            f"no active override with id {override_id!r}; GET /status lists the overrides in force",
            title="Unknown override",
        )
    now = ctx.view.now()
    command = checked(
        lambda: Withdraw(
            type="withdraw",
            id=active.id,
            scope=active.scope,
            author=principal.name,
            reason=reason,
            at=now,
        ),
        {},
    )
    return await send(request, command)


async def post_ack(request: web.Request) -> web.Response:
    principal = require_principal(request, Permission.ACK)
    body = await parse_body(request, AckBody, optional=True)
    alert_id = request.match_info["id"]
    view = context(request).view
    # What alerting published on opel.alerts.v1 is what people were told, so it holds every id
    # someone can ack (and its first 8 characters, as a phone shows them).
    if not view.knows_alert(alert_id):
        raise ProblemError(
            404,
            "unknown-alert",
            f"no alert {alert_id!r} has been sent in the last {view.state.history_window.days} days",
            title="Unknown alert",
        )
    now = view.now()
    # opel.alerting.events builds every ack: the API and alerting read and write one record.
    command = checked(
        lambda: ack_command(AckRequest(alert_id=alert_id, author=principal.name, note=body.note), now),
        {"alert_id": "id"},
    )
    return await send(request, command)
