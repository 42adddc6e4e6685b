"""A live exercise over HTTP (docs/exercises.md): start, watch, stop, the report, and the
participants' acks and marks, which go to the exercise's own commands topic.

Acks and marks of exercise alerts and items have their own routes under ``/exercise/`` rather
than the live ones routing by id: the live alerting never reads ``opel.exercise.commands.v1``,
and a mark is stamped with scenario time, which only the exercise knows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Final

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from opel.alerting.events import AckRequest, ack_command
from opel.contracts.action_item import ActionItemUpdate
from opel.contracts.exercise_state import MAX_SPEED, MIN_SPEED
from opel.errors import CatalogueError
from opel.exercise.report_html import render
from opel.exercise.scenario import ScenarioError
from streams.web.action_items import MarkBody, item_json
from streams.web.auth import Permission
from streams.web.context import context
from streams.web.guard import require, require_principal
from streams.web.inputs import AckBody, parse_body
from streams.web.problems import ProblemError
from streams.web.writes import checked

if TYPE_CHECKING:
    from streams.exercise.desk import ExerciseDesk

MAX_SCENARIO_CHARS: Final = 12_000


class ExerciseBody(BaseModel):
    """``POST /exercise``: the scenario file's text, and how much faster than real time it runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario: Annotated[str, Field(min_length=1, max_length=MAX_SCENARIO_CHARS)]
    speed: Annotated[float, Field(ge=MIN_SPEED, le=MAX_SPEED)] = 1.0


def _desk(request: web.Request) -> ExerciseDesk:
    desk = context(request).exercise
    if desk is None:
        raise ProblemError(
            503,
            "exercises-off",
            "exercises need alerting: this worker has no routing file (OPEL_ROUTING_FILE)",
            title="Exercises not available",
        )
    return desk


def _not_running(detail: str) -> ProblemError:
    return ProblemError(409, "no-exercise", detail, title="No exercise running")


async def get_exercise(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    return web.json_response(_desk(request).state().model_dump(mode="json"))


async def post_exercise(request: web.Request) -> web.Response:
    from streams.exercise.desk import ExerciseRunningError  # noqa: PLC0415  (the desk loads the core)

    require_principal(request, Permission.EXERCISE)
    body = await parse_body(request, ExerciseBody)
    desk = _desk(request)
    try:
        state = await desk.start(body.scenario, body.speed)
    except ExerciseRunningError as exc:
        raise ProblemError(
            409, "exercise-running", f"{exc}; stop it first", title="Exercise running"
        ) from None
    except ScenarioError as exc:
        # Text that is not YAML names a line and column, not a key: the field is the whole text.
        if not exc.path or exc.path.startswith("line "):
            problem = f"{exc.path}: {exc.problem}" if exc.path else exc.problem
            raise _invalid("scenario", problem) from None
        raise _invalid(f"scenario.{exc.path}", exc.problem) from None
    except CatalogueError as exc:
        raise _invalid("scenario.catalogue", str(exc)) from None
    return web.json_response(state.model_dump(mode="json"), status=202)


def _invalid(field: str, problem: str) -> ProblemError:
    return ProblemError(
        422,
        "invalid-scenario",
        f"{field}: {problem}",
        title="Invalid scenario",
        extra={"field": field, "errors": [{"field": field, "message": problem}]},
    )


async def post_exercise_stop(request: web.Request) -> web.Response:
    from streams.exercise.desk import NoExerciseError  # noqa: PLC0415

    require_principal(request, Permission.EXERCISE)
    try:
        state = await _desk(request).stop()
    except NoExerciseError as exc:
        raise _not_running(str(exc)) from None
    return web.json_response(state.model_dump(mode="json"))


async def get_exercise_report_html(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    report = _desk(request).state().report
    if report is None:
        raise ProblemError(404, "no-report", "no exercise has ended yet: no report", title="No report")
    return web.Response(text=render(report), content_type="text/html", charset="utf-8")


async def get_exercise_items(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    desk = _desk(request)
    now = desk.state().scenario_now
    return web.json_response(
        {"now": None if now is None else now.isoformat(), "items": [item_json(i) for i in desk.items()]}
    )


async def post_exercise_item(request: web.Request) -> web.Response:
    from streams.exercise.desk import NoExerciseError  # noqa: PLC0415

    principal = require_principal(request, Permission.MARK_ITEMS)
    body = await parse_body(request, MarkBody)
    desk = _desk(request)
    item_id = request.match_info["id"]
    item = desk.item(item_id)
    if item is None:
        raise ProblemError(
            404,
            "unknown-action-item",
            f"no exercise action item {item_id!r}; GET /exercise/action-items lists them",
            title="Unknown action item",
        )
    if item.role not in principal.roles:
        raise ProblemError(
            403, "forbidden", f"{principal.name} may not mark item {item.id}: it belongs to {item.role}"
        )
    if item.state != "open":
        raise ProblemError(409, "item-closed", f"item {item.id} is already {item.state}", title="Item closed")
    try:
        now = desk.now()
    except NoExerciseError as exc:
        raise _not_running(f"{exc}: marks count only while it runs") from None
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
        {"": "note"},
    )
    return await _send(request, desk, command.model_dump(mode="json", exclude_none=True), item.id)


async def post_exercise_ack(request: web.Request) -> web.Response:
    from streams.exercise.desk import NoExerciseError  # noqa: PLC0415

    principal = require_principal(request, Permission.ACK)
    body = await parse_body(request, AckBody, optional=True)
    desk = _desk(request)
    alert_id = request.match_info["id"]
    alert = desk.alert(alert_id)
    if alert is None:
        raise ProblemError(
            404, "unknown-alert", f"no exercise alert {alert_id!r} is open", title="Unknown alert"
        )
    try:
        now = desk.now()
    except NoExerciseError as exc:
        raise _not_running(f"{exc}: acks count only while it runs") from None
    command = checked(
        lambda: ack_command(AckRequest(alert_id=alert.alert_id, author=principal.name, note=body.note), now),
        {"alert_id": "id"},
    )
    return await _send(request, desk, command.model_dump(mode="json", exclude_none=True), alert.alert_id)


async def _send(request: web.Request, desk: ExerciseDesk, value: dict[str, object], key: str) -> web.Response:
    try:
        await desk.send(value, key)
    except Exception as exc:
        raise ProblemError(
            503,
            "command-not-queued",
            f"the {value.get('type')} command could not be put on the exercise commands topic: "
            f"{type(exc).__name__}",
            title="Command not queued",
        ) from None
    return web.json_response(value, status=202)
