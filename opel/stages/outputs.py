"""The values a stage publishes, built from a book: statuses and escalation CloudEvents."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from opel.contracts.escalation import EVENT_TYPES, Cause, Direction, EscalationEvent
from opel.contracts.status import (
    AnyStatus,
    AreaStatus,
    CountyStatus,
    Held,
    IndicatorStatus,
    SiteStatus,
    SystemStatus,
)
from opel.escalation import EscalationPolicy, ScopeState
from opel.levels import Level
from opel.scopes import Scope, ScopeKind
from opel.stages.book import Book, active_override, in_force, iso, record
from opel.stages.context import Context, Emit

ACTION_KINDS = ("area", "county", "site", "system")  # appendix 4: a system enacts its level's actions
STATUS_MODELS: dict[ScopeKind, type[AnyStatus]] = {
    "indicator": IndicatorStatus,
    "area": AreaStatus,
    "county": CountyStatus,
    "site": SiteStatus,
    "system": SystemStatus,
}


def colour(level: int | None) -> str | None:
    return None if level is None else Level(level).colour


def parts(scope: Scope) -> dict[str, str]:
    """The scope's named parts as its status and escalation events carry them."""
    if scope.kind == "indicator":
        return {"area": scope.name, "indicator": scope.indicator or ""}
    return {scope.kind: scope.name}


def held(state: ScopeState, computed: int | None, policy: EscalationPolicy) -> Held | None:
    """The step-down wait holding the state's level above the computed one, if there is one."""
    level = state.level
    if level is None or computed is None or computed >= level:
        return None
    start = state.held_since[level - 2]
    if start is None:
        return None
    # The same rule as opel.escalation.advance: runs that began together expire together.
    target = min(lv for lv in range(1, level) if state.held_since[lv - 1] == start)
    return Held(
        level=int(level),
        computed_level=computed,
        lower_since=start,
        next_level=target,
        until=start + policy.step_down_dwell,
    )


def status_value(book: Book, scope: Scope, updated_at: datetime, ctx: Context) -> AnyStatus:
    """The scope's value on opel.status.v1, validated against its contract."""
    rec = record(book, scope)
    state = rec.state
    override = active_override(book, scope.key)
    level = in_force(state.level, override)
    computed = rec.computed
    value: dict[str, Any] = {
        **rec.facts,
        "scope": scope.key,
        "kind": scope.kind,
        **parts(scope),
        "level": level,
        "colour": colour(level),
        "computed_level": computed,
        "computed_colour": colour(computed),
        "state_level": None if state.level is None else int(state.level),
        "held": held(state, computed, ctx.policy),
        "override": override,
        "since": override["at"] if override is not None else _since(book, scope.key, state),
        "updated_at": updated_at,
    }
    return STATUS_MODELS[scope.kind].model_validate(value)


def _since(book: Book, key: str, state: ScopeState) -> str | None:
    since = iso(state.since)
    resumed: str | None = book.get("resumed", {}).get(key)
    if resumed is None or since is None:
        return since
    return resumed if datetime.fromisoformat(resumed) > datetime.fromisoformat(since) else since


def direction_of(from_level: int | None, to_level: int) -> Direction:
    if from_level is None:
        return "initial"
    return "escalation" if to_level > from_level else "de-escalation"


def escalation_event(
    ctx: Context,
    scope: Scope,
    *,
    event_id: str,
    from_level: int | None,
    to_level: int,
    at: datetime,
    direction: Direction,
    cause: Cause,
    evidence: Mapping[str, Any],
) -> EscalationEvent:
    """A CloudEvents 1.0 structured-mode event for a change of the level in force."""
    return EscalationEvent.model_validate(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": ctx.source,
            "type": EVENT_TYPES[direction],
            "subject": scope.key,
            "time": at,
            "datacontenttype": "application/json",
            "data": {
                "scope": scope.key,
                "kind": scope.kind,
                **parts(scope),
                "from_level": from_level,
                "from_colour": colour(from_level),
                "to_level": to_level,
                "to_colour": colour(to_level),
                "direction": direction,
                "cause": cause,
                "at": at,
                "exercise": ctx.exercise,
                "evidence": dict(evidence),
                "actions": _actions(ctx, scope, from_level, to_level),
            },
        }
    )


def _actions(ctx: Context, scope: Scope, from_level: int | None, to_level: int) -> list[dict[str, Any]]:
    if ctx.actions is None or scope.kind not in ACTION_KINDS:
        return []
    before = None if from_level is None else Level(from_level)
    return [
        {
            "role": change.role.id,
            "role_name": change.role.name,
            "start": [_action(a) for a in change.start],
            "stand_down": [_action(a) for a in change.stand_down],
        }
        for change in ctx.actions.changes(before, Level(to_level))
        if change.changed
    ]


def _action(action: Any) -> dict[str, Any]:
    return {"id": action.id, "level": int(action.level), "text": action.text, "plan_ref": action.plan_ref}


def finish(book: Book, emit: Emit, ctx: Context) -> dict[str, AnyStatus]:
    """The status value of every scope the batch touched, built once each."""
    return {key: status_value(book, scope, at, ctx) for key, (scope, at) in emit.touched.items()}
