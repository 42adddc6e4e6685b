"""The per-scope escalation state machine: up at once, down after a dwell, independent of ticks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opel.escalation import (
    EscalationPolicy,
    ScopeState,
    Transition,
    advance,
    new_state,
    observe,
    transition_id,
)
from opel.levels import Level

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
SCOPE = "area/dgs"
DAY = timedelta(hours=24)
MICRO = timedelta(microseconds=1)


@dataclass(frozen=True)
class Step:
    kind: Literal["obs", "tick"]
    at: datetime
    level: Level | None = None


def obs(level: int, hours: float) -> Step:
    return Step("obs", T0 + timedelta(hours=hours), Level(level))


def tick(hours: float) -> Step:
    return Step("tick", T0 + timedelta(hours=hours))


def run(
    steps: Sequence[Step], dwell: timedelta = DAY, scope: str = SCOPE
) -> tuple[ScopeState, list[Transition]]:
    policy = EscalationPolicy(step_down_dwell=dwell)
    state = new_state(scope)
    out: list[Transition] = []
    for step in steps:
        if step.kind == "obs":
            assert step.level is not None
            state, transitions = observe(state, step.level, step.at, policy)
        else:
            state, transitions = advance(state, step.at, policy)
        out.extend(transitions)
    return state, out


def summary(transitions: Sequence[Transition]) -> list[tuple[int, int, float, str]]:
    """(from, to, hours after T0, cause) with 0 for "nothing observed yet"."""
    return [
        (int(t.from_level or 0), int(t.to_level), (t.at - T0) / timedelta(hours=1), t.cause)
        for t in transitions
    ]


OBS, DWELL = "observation", "dwell"


@pytest.mark.parametrize(
    ("steps", "dwell", "expected", "final"),
    [
        pytest.param([obs(3, 0)], DAY, [(0, 3, 0, OBS)], 3, id="initial"),
        pytest.param([obs(1, 0), obs(4, 1)], DAY, [(0, 1, 0, OBS), (1, 4, 1, OBS)], 4, id="1-to-4-directly"),
        pytest.param([obs(2, 0), obs(3, 1)], DAY, [(0, 2, 0, OBS), (2, 3, 1, OBS)], 3, id="2-to-3"),
        pytest.param(
            [obs(4, 0), obs(3, 1), obs(4, 10), obs(3, 12), tick(30)],
            DAY,
            [(0, 4, 0, OBS)],
            4,
            id="equal-level-breaks-the-run",
        ),
        pytest.param(
            [obs(4, 0), obs(3, 1), obs(4, 10), obs(3, 12), tick(36)],
            DAY,
            [(0, 4, 0, OBS), (4, 3, 36, DWELL)],
            3,
            id="run-restarted-after-equal-level",
        ),
        pytest.param(
            [obs(4, 0), obs(2, 1), obs(3, 10), obs(2, 11), tick(40)],
            DAY,
            [(0, 4, 0, OBS), (4, 3, 25, DWELL), (3, 2, 35, DWELL)],
            2,
            id="higher-blip-restarts-the-lower-wait-only",
        ),
        pytest.param(
            [obs(2, 0), obs(1, 1), obs(2, 5), obs(1, 6), tick(29)],
            DAY,
            [(0, 2, 0, OBS)],
            2,
            id="blip-to-current-level-restarts-the-wait",
        ),
        pytest.param(
            [obs(4, 0), obs(3, 1), obs(2, 2), tick(31)],
            DAY,
            [(0, 4, 0, OBS), (4, 3, 25, DWELL), (3, 2, 26, DWELL)],
            2,
            id="multi-level-step-down-in-time-order",
        ),
        pytest.param(
            [obs(4, 0), obs(1, 1), obs(1, 2), tick(30)],
            DAY,
            [(0, 4, 0, OBS), (4, 1, 25, DWELL)],
            1,
            id="runs-started-together-step-down-together",
        ),
        pytest.param(
            [obs(4, 0), obs(2, 1), obs(3, 2), obs(1, 3)],
            timedelta(0),
            [(0, 4, 0, OBS), (4, 2, 1, DWELL), (2, 3, 2, OBS), (3, 1, 3, DWELL)],
            1,
            id="dwell-0-steps-down-at-the-first-lower-reading",
        ),
        pytest.param(
            [obs(4, 0), obs(3, 5), obs(1, 4), tick(40)],
            DAY,
            [(0, 4, 0, OBS), (4, 3, 29, DWELL)],
            3,
            id="late-observation-ignored",
        ),
        pytest.param(
            [obs(4, 0), obs(3, 1), tick(30), obs(4, 20)],
            DAY,
            [(0, 4, 0, OBS), (4, 3, 25, DWELL)],
            3,
            id="observation-older-than-a-ticked-step-down-ignored",
        ),
        pytest.param(
            [obs(4, 0), obs(3, 1), obs(4, 1), tick(30)],
            DAY,
            [(0, 4, 0, OBS)],
            4,
            id="equal-at-is-processed",
        ),
        pytest.param(
            [obs(4, 0), obs(3, 1), obs(4, 25)],
            DAY,
            [(0, 4, 0, OBS), (4, 3, 25, DWELL), (3, 4, 25, OBS)],
            4,
            id="expiry-at-the-reading-instant-comes-out-first",
        ),
        pytest.param(
            [obs(4, 0), obs(3, 1), obs(2, 2), obs(1, 30)],
            DAY,
            [(0, 4, 0, OBS), (4, 3, 25, DWELL), (3, 2, 26, DWELL)],
            2,
            id="observation-flushes-due-expiries-before-itself",
        ),
    ],
)
def test_scenarios(
    steps: list[Step], dwell: timedelta, expected: list[tuple[int, int, float, str]], final: int
) -> None:
    state, transitions = run(steps, dwell)
    assert summary(transitions) == expected
    assert state.level == final
    assert state.since == transitions[-1].at


def test_initial_state_fields() -> None:
    state, transitions = run([obs(3, 0)])
    assert state == ScopeState(SCOPE, Level.OPEL_3, T0, T0, (None, None, None))
    (only,) = transitions
    assert (only.from_level, only.to_level, only.at) == (None, Level.OPEL_3, T0)
    assert (only.direction, only.cause) == ("initial", "observation")
    assert only.id == transition_id(SCOPE, None, Level.OPEL_3, T0)


H1, H2, H3 = (T0 + timedelta(hours=h) for h in (1, 2, 3))


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param([obs(4, 0), obs(3, 1)], (None, None, H1), id="lower-starts-runs-from-it-up"),
        pytest.param([obs(4, 0), obs(3, 1), obs(2, 2)], (None, H2, H1), id="lower-again-keeps-runs"),
        pytest.param([obs(4, 0), obs(2, 1), obs(3, 2)], (None, None, H1), id="higher-breaks-lower-runs"),
        pytest.param([obs(4, 0), obs(3, 1), obs(4, 2)], (None, None, None), id="equal-level-breaks-all"),
        pytest.param([obs(4, 0), obs(1, 1), obs(1, 3)], (H1, H1, H1), id="all-start-together"),
        pytest.param([obs(3, 0), obs(1, 1), obs(4, 2)], (None, None, None), id="escalation-clears"),
        pytest.param([obs(2, 0), obs(1, 1), obs(1, 2)], (H1, None, None), id="only-below-current"),
        pytest.param([obs(4, 0), obs(3, 1), obs(2, 2), tick(25)], (None, H2, None), id="kept-below-new"),
    ],
)
def test_held_since_bookkeeping(steps: list[Step], expected: tuple[datetime | None, ...]) -> None:
    state, _ = run(steps)
    assert state.held_since == expected


@pytest.mark.parametrize("dwell", [MICRO, timedelta(minutes=1), DAY, timedelta(days=3)])
@pytest.mark.parametrize("via", ["advance", "observe"])
def test_step_down_after_exactly_the_dwell(dwell: timedelta, via: str) -> None:
    policy = EscalationPolicy(step_down_dwell=dwell)
    state, _ = observe(new_state(SCOPE), Level.OPEL_4, T0 - timedelta(hours=1), policy)
    state, _ = observe(state, Level.OPEL_3, T0, policy)

    def at(moment: datetime) -> tuple[ScopeState, tuple[Transition, ...]]:
        if via == "advance":
            return advance(state, moment, policy)
        return observe(state, Level.OPEL_3, moment, policy)

    early_state, early = at(T0 + dwell - MICRO)
    assert early == ()
    assert early_state.level == Level.OPEL_4
    due_state, (step,) = at(T0 + dwell)
    assert (step.from_level, step.to_level, step.at) == (Level.OPEL_4, Level.OPEL_3, T0 + dwell)
    assert (step.direction, step.cause) == ("de-escalation", "dwell")
    assert (due_state.level, due_state.since) == (Level.OPEL_3, T0 + dwell)


NAIVE = datetime(2025, 1, 6, 9, 0)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(
            lambda: observe(new_state(SCOPE), Level.OPEL_2, NAIVE, EscalationPolicy(DAY)), id="observe"
        ),
        pytest.param(lambda: advance(new_state(SCOPE), NAIVE, EscalationPolicy(DAY)), id="advance"),
        pytest.param(lambda: transition_id(SCOPE, None, Level.OPEL_2, NAIVE), id="transition_id"),
        pytest.param(
            lambda: observe(run([obs(2, 5)])[0], Level.OPEL_2, NAIVE, EscalationPolicy(DAY)),
            id="observe-that-would-be-late",
        ),
    ],
)
def test_naive_datetime_rejected(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call()


def test_negative_dwell_rejected() -> None:
    with pytest.raises(ValueError, match="step_down_dwell"):
        EscalationPolicy(step_down_dwell=-MICRO)


def test_late_observation_returns_the_same_state() -> None:
    policy = EscalationPolicy(DAY)
    state, _ = run([obs(4, 0), obs(3, 5)])
    assert observe(state, Level.OPEL_1, T0 + timedelta(hours=4), policy) == (state, ())


@pytest.mark.parametrize(
    "tz",
    [timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)), UTC],
    ids=["+05:30", "-08:00", "utc"],
)
def test_ids_equal_across_timezones_and_replays(tz: timezone) -> None:
    steps = [obs(4, 0), obs(3, 1), obs(2, 2), tick(31), obs(4, 40), obs(1, 41), tick(70)]
    _, reference = run(steps)
    _, shifted = run([Step(s.kind, s.at.astimezone(tz), s.level) for s in steps])
    _, replayed = run(steps)
    assert [t.id for t in shifted] == [t.id for t in reference] == [t.id for t in replayed]
    assert shifted == reference == replayed
    assert len({t.id for t in reference}) == len(reference)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param(
            (SCOPE, None, 3, T0), (SCOPE, None, 3, T0.astimezone(timezone(timedelta(hours=2)))), True
        ),
        pytest.param((SCOPE, None, 3, T0), (SCOPE, None, 3, T0 + MICRO), False),
        pytest.param((SCOPE, 4, 3, T0), (SCOPE, None, 3, T0), False),
        pytest.param((SCOPE, 4, 3, T0), (SCOPE, 4, 2, T0), False),
        pytest.param((SCOPE, 4, 3, T0), ("county/kent", 4, 3, T0), False),
    ],
)
def test_transition_id(
    a: tuple[str, int | None, int, datetime], b: tuple[str, int | None, int, datetime], same: bool
) -> None:
    def tid(args: tuple[str, int | None, int, datetime]) -> str:
        scope, before, after, at = args
        return transition_id(scope, None if before is None else Level(before), Level(after), at)

    assert (tid(a) == tid(b)) is same


@pytest.mark.parametrize(
    ("steps", "now"),
    [
        pytest.param([], 0, id="nothing-observed"),
        pytest.param([obs(1, 0)], 100, id="at-the-bottom"),
        pytest.param([obs(4, 0), obs(3, 1), obs(2, 2)], 25.5, id="mid-step-down"),
        pytest.param([obs(4, 0), obs(3, 1), obs(2, 2)], 26, id="two-expiries"),
        pytest.param([obs(4, 0), obs(1, 1)], 10, id="nothing-due"),
    ],
)
def test_advance_is_idempotent(steps: list[Step], now: float) -> None:
    policy = EscalationPolicy(DAY)
    state, _ = run(steps)
    moment = T0 + timedelta(hours=now)
    once, _ = advance(state, moment, policy)
    assert advance(once, moment, policy) == (once, ())
    # An earlier tick after a later one finds nothing due either.
    assert advance(once, moment - timedelta(hours=1), policy) == (once, ())


def test_ticking_every_minute_matches_one_late_tick() -> None:
    steps = [obs(4, 0), obs(3, 1), obs(2, 2)]
    minutely = [tick(m / 60) for m in range(2 * 60, 31 * 60 + 1)]
    assert run(steps + minutely) == run([*steps, tick(31)])


# --- properties ------------------------------------------------------------------------------

Reading = tuple[Level, datetime]

readings_st = st.lists(
    st.tuples(st.sampled_from(list(Level)), st.integers(min_value=0, max_value=120)),
    min_size=1,
    max_size=25,
)
dwell_st = st.sampled_from([0, 1, 30, 60, 90, 180]).map(lambda m: timedelta(minutes=m))


def to_readings(raw: list[tuple[Level, int]]) -> list[Reading]:
    out: list[Reading] = []
    at = T0
    for level, gap in raw:
        at += timedelta(minutes=gap)
        out.append((level, at))
    return out


@dataclass(frozen=True)
class Tagged:
    transition: Transition
    seen: int  # readings applied before this transition took effect
    reading: int | None  # the observe() call that produced it, None for a tick


def drive(
    readings: list[Reading], ticks: list[list[datetime]], end: datetime, dwell: timedelta
) -> tuple[ScopeState, list[Tagged]]:
    """Feed readings with ``ticks[i]`` before reading i and ``ticks[-1]`` after the last, then tick at end."""
    policy = EscalationPolicy(dwell)
    state = new_state(SCOPE)
    out: list[Tagged] = []
    for i, (level, at) in enumerate(readings):
        for moment in ticks[i]:
            state, produced = advance(state, moment, policy)
            out.extend(Tagged(t, i, None) for t in produced)
        state, produced = observe(state, level, at, policy)
        assert state.last_observed_at == at, "harness only feeds in-order readings"
        for t in produced:
            # With a positive dwell a reading cannot trigger its own step-down, so a dwell
            # transition from observe() is one that fell due before the reading.
            own = t.cause == "observation" or dwell == timedelta(0)
            out.append(Tagged(t, i + 1 if own else i, i))
    for moment in [*ticks[-1], end]:
        state, produced = advance(state, moment, policy)
        out.extend(Tagged(t, len(readings), None) for t in produced)
    return state, out


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Reading], list[list[datetime]], datetime, timedelta]:
    readings = to_readings(draw(readings_st))
    dwell = draw(dwell_st)
    end = readings[-1][1] + dwell * 4 + timedelta(minutes=draw(st.integers(0, 60)))
    bounds = [T0 - timedelta(hours=1)] + [at for _, at in readings] + [end]
    ticks: list[list[datetime]] = []
    for lo, hi in pairwise(bounds):
        span = int((hi - lo).total_seconds())
        seconds = draw(st.lists(st.integers(0, span), max_size=4))
        # Ticks never run ahead of the next reading; within a gap their order does not matter.
        ticks.append([lo + timedelta(seconds=s) for s in seconds])
    return readings, ticks, end, dwell


@settings(deadline=None, max_examples=300)
@given(scenarios())
def test_property_tick_placement_does_not_matter(
    scenario: tuple[list[Reading], list[list[datetime]], datetime, timedelta],
) -> None:
    readings, ticks, end, dwell = scenario
    with_ticks, tagged = drive(readings, ticks, end, dwell)
    without, plain = drive(readings, [[] for _ in ticks], end, dwell)
    assert with_ticks == without
    assert [t.transition for t in tagged] == [t.transition for t in plain]


@settings(deadline=None, max_examples=300)
@given(scenarios())
def test_property_never_skips_a_dwell(
    scenario: tuple[list[Reading], list[list[datetime]], datetime, timedelta],
) -> None:
    readings, ticks, end, dwell = scenario
    _, tagged = drive(readings, ticks, end, dwell)
    for item in tagged:
        tr = item.transition
        if tr.direction != "de-escalation":
            continue
        assert tr.cause == "dwell"
        assert tr.from_level is not None
        assert tr.to_level < tr.from_level
        # The held run for L: the readings since the last one above L.
        seen = readings[: item.seen]
        above = [i for i, (level, _) in enumerate(seen) if level > tr.to_level]
        run_ = seen[above[-1] + 1 :] if above else seen
        assert run_, "a step-down needs a held run"
        assert run_[0][1] == tr.at - dwell, "the run for L started exactly one dwell earlier"
        assert all(level <= tr.to_level for level, _ in run_)
        # ... and the step goes no lower than the highest reading in the run.
        assert max(level for level, _ in run_) == tr.to_level
        assert all(at <= tr.at for _, at in run_)


@settings(deadline=None, max_examples=300)
@given(scenarios())
def test_property_escalations_only_on_readings(
    scenario: tuple[list[Reading], list[list[datetime]], datetime, timedelta],
) -> None:
    readings, ticks, end, dwell = scenario
    _, tagged = drive(readings, ticks, end, dwell)
    assert tagged[0].transition.direction == "initial"
    assert (tagged[0].transition.to_level, tagged[0].transition.at) == readings[0]
    for item in tagged:
        tr = item.transition
        if tr.direction in ("initial", "escalation"):
            assert tr.cause == "observation"
            assert item.reading is not None
            assert (tr.to_level, tr.at) == readings[item.reading]


@settings(deadline=None, max_examples=300)
@given(scenarios())
def test_property_levels_valid_and_every_transition_changes_level(
    scenario: tuple[list[Reading], list[list[datetime]], datetime, timedelta],
) -> None:
    readings, ticks, end, dwell = scenario
    state, tagged = drive(readings, ticks, end, dwell)
    transitions = [t.transition for t in tagged]
    previous: Level | None = None
    for tr in transitions:
        assert tr.from_level == previous
        assert 1 <= tr.to_level <= 4
        assert tr.to_level != tr.from_level
        expected = (
            "initial"
            if tr.from_level is None
            else "escalation"
            if tr.to_level > tr.from_level
            else "de-escalation"
        )
        assert tr.direction == expected
        assert tr.id == transition_id(tr.scope, tr.from_level, tr.to_level, tr.at)
        previous = tr.to_level
    assert [t.at for t in transitions] == sorted(t.at for t in transitions)
    assert (state.level, state.since) == (transitions[-1].to_level, transitions[-1].at)
    if all(a < b for (_, a), (_, b) in pairwise(readings)):
        assert len({t.id for t in transitions}) == len(transitions)
