"""An exercise scenario and its recorded responses, read from YAML and checked before anything runs.

A scenario says when the exercise starts, what is injected and when (readings as ``opel assess``
takes them, acute submissions, overrides), and which actions the plan expects of which role at
which scope. Responses are what participants did and when (an alert acknowledged, an action
marked done, a KEaH referrer told); a tabletop exercise records them in a ``responses:`` section
or a separate file so the exercise can be scored. Times inside both are offsets from the start,
``+HH:MM`` or an ISO 8601 duration (``PT2H30M``), so one scenario can be run on any day.

Every problem is a :class:`ScenarioError` naming the file, the key (``injects[2].reading.value``)
and what is wrong with it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from opel.actions import ActionPlan
from opel.errors import CatalogueError
from opel.feeds import ScopeKey
from opel.models import AcuteParameters
from opel.yaml_files import read_yaml_file

_CLOCK = re.compile(r"^\+(\d{1,3}):([0-5]\d)$")
_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


class ScenarioError(CatalogueError):
    """A scenario or responses file that cannot be used: file, key and problem."""


def parse_offset(value: Any) -> timedelta:
    """``+HH:MM`` or an ISO 8601 duration of days, hours and minutes, as a non-negative timedelta."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an offset: write +HH:MM or an ISO duration such as PT2H")
    text = value.strip()
    if match := _CLOCK.match(text):
        return timedelta(hours=int(match[1]), minutes=int(match[2]))
    match = _ISO.match(text)
    if match and text not in {"P", "PT"} and not text.endswith("T"):
        days, hours, minutes = (int(part or 0) for part in match.groups())
        return timedelta(days=days, hours=hours, minutes=minutes)
    raise ValueError(f"{value!r} is not an offset: write +HH:MM or an ISO duration such as PT2H")


def format_offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"+{minutes // 60:02d}:{minutes % 60:02d}"


Offset = Annotated[timedelta, BeforeValidator(parse_offset)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Id = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReadingInject(_Model):
    indicator: Id
    area: Id
    value: float


class SubmissionInject(_Model):
    site: Id
    parameters: AcuteParameters


class OverrideInject(_Model):
    scope: ScopeKey
    level: Annotated[int, Field(ge=1, le=4, strict=True)]
    lasts: Offset = Field(description="How long the override stands.")
    author: Name = "exercise control"
    reason: Name


class Inject(_Model):
    """One thing put into the exercise at ``at``: exactly one of a reading, a submission, an override."""

    at: Offset
    reading: ReadingInject | None = None
    submission: SubmissionInject | None = None
    override: OverrideInject | None = None

    @model_validator(mode="after")
    def _one(self) -> Inject:
        given = [name for name in ("reading", "submission", "override") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of reading, submission, override (got {given or 'none'})")
        return self


class Expected(_Model):
    """An action the plan expects of ``role`` once ``scope`` reaches the action's level.

    Due by the plan's own deadline for the action (SHREWD by 10:30, otherwise the next 10:00
    assessment at least 4 hours on), or ``within`` of the level being reached when the plan
    times it in hours (a KEaH referrer told within 2 h).
    """

    role: Id
    action: Annotated[str, Field(min_length=1, max_length=120)]
    scope: ScopeKey
    level: Annotated[int, Field(ge=2, le=4, strict=True)] | None = None
    within: Offset | None = None


class Response(_Model):
    """What a participant recorded, and when."""

    at: Offset
    kind: Literal["acknowledged", "done", "referrer_told"]
    role: Id
    scope: ScopeKey
    action: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    note: Annotated[str, Field(max_length=500)] | None = None

    @model_validator(mode="after")
    def _action(self) -> Response:
        if self.kind != "acknowledged" and self.action is None:
            raise ValueError(f"a {self.kind} response names the action it records (action: ...)")
        return self


class Responses(_Model):
    responses: tuple[Response, ...] = ()


class Scenario(_Model):
    name: Name
    description: Annotated[str, Field(min_length=1, max_length=4000)]
    start: AwareDatetime
    duration: Offset = Field(description="How long the exercise runs; responses after it do not count.")
    catalogue: str = "kcc-asch-2025-26"
    acute: str = "nhs-acute-2023-24"
    injects: Annotated[tuple[Inject, ...], Field(min_length=1)]
    expected: tuple[Expected, ...] = ()
    responses: tuple[Response, ...] = ()

    @model_validator(mode="after")
    def _inside(self) -> Scenario:
        for index, inject in enumerate(self.injects):
            if inject.at > self.duration:
                raise ValueError(
                    f"injects[{index}].at {format_offset(inject.at)} is after the exercise ends "
                    f"({format_offset(self.duration)})"
                )
        return self


def _error(source: str, exc: ValidationError) -> ScenarioError:
    first = exc.errors()[0]
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".")
    problem = first["msg"].removeprefix("Value error, ")
    value = first.get("input")
    if first["type"] != "missing" and not isinstance(value, dict | list):
        problem = f"{problem} (got {value!r})"
    return ScenarioError(source, path, problem)


def parse_scenario(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise _error(source, exc) from None


def load_scenario(path: str | Path) -> Scenario:
    return parse_scenario(read_yaml_file(path, error=ScenarioError), str(path))


def load_responses(path: str | Path) -> tuple[Response, ...]:
    try:
        return Responses.model_validate(read_yaml_file(path, error=ScenarioError)).responses
    except ValidationError as exc:
        raise _error(str(path), exc) from None


def check_against_plan(scenario: Scenario, plan: ActionPlan | None, source: str = "<scenario>") -> None:
    """Every expected action is the plan's, for the role named: a typo would score as never done."""
    if not scenario.expected:
        return
    if plan is None:
        raise ScenarioError(source, "expected", f"catalogue {scenario.catalogue} has no action plan")
    actions = {action.id: action for action in plan.actions}
    for index, expected in enumerate(scenario.expected):
        action = actions.get(expected.action)
        if action is None:
            raise ScenarioError(
                source, f"expected[{index}].action", f"{expected.action!r} is not in action plan {plan.id}"
            )
        if action.role != expected.role:
            raise ScenarioError(
                source,
                f"expected[{index}].role",
                f"{expected.action!r} is {action.role}'s action, not {expected.role!r}'s",
            )
