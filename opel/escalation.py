"""The escalation state machine for one scope (plan section 8): up at once, down only after a dwell.

Everything here is pure: time is passed in, nothing reads a clock. Dwell expiries come out at
their own effective time, not at the time of the tick that noticed them, so the same readings
give the same transitions (and the same ids) however often or late the ticks arrive.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from opel.levels import Level

NAMESPACE = uuid.UUID("5d0c1f3e-8a47-4b6e-9f0a-0e5c7a1b2d93")

Held = tuple[datetime | None, datetime | None, datetime | None]
NO_RUNS: Held = (None, None, None)


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    step_down_dwell: timedelta

    def __post_init__(self) -> None:
        if self.step_down_dwell < timedelta(0):
            raise ValueError(f"step_down_dwell must be >= 0, got {self.step_down_dwell}")


@dataclass(frozen=True, slots=True)
class ScopeState:
    """Where one scope stands. Datetimes are stored in UTC.

    ``held_since[L-1]`` is the start of the current unbroken run of observations at or below
    ``L``; it is only kept for ``L < level``.
    """

    scope: str
    level: Level | None = None
    since: datetime | None = None
    last_observed_at: datetime | None = None
    held_since: Held = NO_RUNS


@dataclass(frozen=True, slots=True)
class Transition:
    id: str
    scope: str
    from_level: Level | None
    to_level: Level
    at: datetime
    direction: Literal["initial", "escalation", "de-escalation"]
    cause: Literal["observation", "dwell"]


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is UTC:  # the common case, and the hot path of the streaming service
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def transition_id(scope: str, from_level: Level | None, to_level: Level, at: datetime) -> str:
    """A uuid5 of the transition's content, so a replay or retry yields the same id."""
    instant = _utc(at, "at").isoformat()
    return str(uuid.uuid5(NAMESPACE, f"{scope}|{int(from_level or 0)}|{int(to_level)}|{instant}"))


def new_state(scope: str) -> ScopeState:
    return ScopeState(scope=scope)


def _move(
    state: ScopeState,
    to_level: Level,
    at: datetime,
    *,
    direction: Literal["initial", "escalation", "de-escalation"],
    cause: Literal["observation", "dwell"],
    held: Held,
) -> tuple[ScopeState, Transition]:
    transition = Transition(
        id=transition_id(state.scope, state.level, to_level, at),
        scope=state.scope,
        from_level=state.level,
        to_level=to_level,
        at=at,
        direction=direction,
        cause=cause,
    )
    return ScopeState(state.scope, to_level, at, state.last_observed_at, held), transition


def advance(
    state: ScopeState, now: datetime, policy: EscalationPolicy
) -> tuple[ScopeState, tuple[Transition, ...]]:
    """Apply every dwell expiry due by ``now``, oldest first, each at its own expiry time."""
    now = _utc(now, "now")
    transitions: list[Transition] = []
    while state.level is not None and state.level > Level.OPEL_1:
        # Runs are nested, so the run just below the current level is the oldest and expires first.
        start = state.held_since[state.level - 2]
        if start is None or start + policy.step_down_dwell > now:
            break
        # Levels whose run began at the same instant expire together; going to the lowest of them
        # still never skips a dwell, because each of them has been held for the full dwell.
        target = Level(min(lv for lv in range(1, state.level) if state.held_since[lv - 1] == start))
        held: Held = (
            state.held_since[0] if target > 1 else None,
            state.held_since[1] if target > 2 else None,
            None,
        )
        expiry = start + policy.step_down_dwell
        state, transition = _move(state, target, expiry, direction="de-escalation", cause="dwell", held=held)
        transitions.append(transition)
    return state, tuple(transitions)


def observe(
    state: ScopeState, level: Level, at: datetime, policy: EscalationPolicy
) -> tuple[ScopeState, tuple[Transition, ...]]:
    """Apply one reading taken at ``at``; a reading older than the state changes nothing."""
    level = Level(level)
    at = _utc(at, "at")
    # A reading older than the last one, or than the last transition (a tick may already have
    # stepped down past it), would rewrite history; the caller audits it instead.
    if (state.last_observed_at is not None and at < state.last_observed_at) or (
        state.since is not None and at < state.since
    ):
        return state, ()

    state, expired = advance(state, at, policy)
    # Built directly rather than with dataclasses.replace: this runs for every reading.
    state = ScopeState(state.scope, state.level, state.since, at, state.held_since)
    current = state.level
    if current is None:
        state, transition = _move(state, level, at, direction="initial", cause="observation", held=NO_RUNS)
        return state, (*expired, transition)
    if level > current:
        state, transition = _move(state, level, at, direction="escalation", cause="observation", held=NO_RUNS)
        return state, (*expired, transition)
    if level == current:
        if state.held_since is not NO_RUNS:
            state = ScopeState(state.scope, current, state.since, at, NO_RUNS)
        return state, expired

    held = _extend_runs(state.held_since, current, level, at)
    state, stepped = advance(ScopeState(state.scope, current, state.since, at, held), at, policy)
    return state, (*expired, *stepped)


def _extend_runs(held: Held, current: Level, level: Level, at: datetime) -> Held:
    """Runs at or above ``level`` carry on (or start now); runs below it are broken."""

    def run(lv: int) -> datetime | None:
        if lv >= current or level > lv:
            return None
        start = held[lv - 1]
        return at if start is None else start

    return (run(1), run(2), run(3))
