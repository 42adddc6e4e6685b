"""Action items over HTTP: list them, and let a plan role mark its own (done or not applicable).

A mark is a command on ``opel.commands.v1`` that alerting applies; 202 means queued, and the
item on ``opel.action-items.v1`` (so ``GET /action-items`` and the board) shows the effect.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from opel.contracts.action_item import ITEM_STATES, ActionItem, ActionItemUpdate, MarkState, Note
from streams.web.auth import Permission
from streams.web.context import context
from streams.web.guard import require, require_principal
from streams.web.inputs import parse_body
from streams.web.problems import ProblemError
from streams.web.writes import checked, send

_FILTERS: Final = ("scope", "role", "state")


class MarkBody(BaseModel):
    """``POST /action-items/{id}``: the new state, and a note (required for not_applicable)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: MarkState
    note: Note | None = None


def item_json(item: ActionItem) -> dict[str, object]:
    return item.model_dump(mode="json")


async def get_action_items(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    view = context(request).view
    wanted = {name: request.query[name] for name in _FILTERS if name in request.query}
    state = wanted.get("state")
    if state is not None and state not in ITEM_STATES:
        raise ProblemError(
            422,
            "invalid-request",
            f"state: must be one of {', '.join(ITEM_STATES)}",
            title="Invalid request",
            extra={"field": "state", "errors": [{"field": "state", "message": "is not a known state"}]},
        )
    items = [
        item for item in view.items() if all(getattr(item, name) == value for name, value in wanted.items())
    ]
    return web.json_response({"now": view.now().isoformat(), "items": [item_json(i) for i in items]})


async def post_action_item(request: web.Request) -> web.Response:
    principal = require_principal(request, Permission.MARK_ITEMS)
    body = await parse_body(request, MarkBody)
    view = context(request).view
    item_id = request.match_info["id"]
    item = view.item(item_id)
    if item is None:
        raise ProblemError(
            404,
            "unknown-action-item",
            f"no action item {item_id!r}; GET /action-items lists them",
            title="Unknown action item",
        )
    if item.role not in principal.roles:
        raise ProblemError(
            403,
            "forbidden",
            f"{principal.name} may not mark item {item.id}: it belongs to {item.role}",
        )
    if item.state != "open":
        raise ProblemError(409, "item-closed", f"item {item.id} is already {item.state}", title="Item closed")
    now = view.now()
    command = checked(
        lambda: ActionItemUpdate(
            type="action_item",
            item_id=item.id,
            state=body.state,
            role=item.role,
            author=principal.name,
            at=now,
            note=body.note,
        ),
        # The one whole-model rule is the note a not_applicable needs.
        {"": "note"},
    )
    return await send(request, command)
