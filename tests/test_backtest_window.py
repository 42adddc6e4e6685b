"""The windowed form of dwell (opel.backtest.window) equals the streaming state machine.

Hypothesis draws series of observations (with ties at one instant), a dwell (zero, or one that
lines up with observation times, or not) and the time the stage's clock reaches, and checks
that :func:`opel.backtest.window.transitions` gives exactly the transitions, times and causes
that :func:`opel.escalation.observe` and :func:`opel.escalation.advance` give.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from opel.backtest.window import transitions
from opel.escalation import EscalationPolicy, Transition, advance, new_state, observe
from opel.levels import Level

EPOCH = datetime(2025, 12, 1, tzinfo=UTC)
Observation = tuple[int, int]  # (time step, level)


def at(step: int) -> datetime:
    return EPOCH + timedelta(minutes=step)


def reference(observations: list[Observation], dwell: int, until: int) -> list[tuple[int, int, int]]:
    policy = EscalationPolicy(timedelta(minutes=dwell))
    state = new_state("indicator/x/dgs")
    out: list[Transition] = []
    for step, level in observations:
        state, moved = observe(state, Level(level), at(step), policy)
        out += moved
    state, moved = advance(state, at(until), policy)
    out += moved
    return [
        (int((t.at - EPOCH) / timedelta(minutes=1)), int(t.from_level or 0), int(t.to_level)) for t in out
    ]


def windowed(
    series_list: list[list[Observation]], dwell: int, untils: list[int]
) -> list[list[tuple[int, int, int]]]:
    rows = [(s, step, level) for s, obs in enumerate(series_list) for step, level in obs]
    series = np.array([r[0] for r in rows], dtype=np.int64)
    time = np.array([r[1] for r in rows], dtype=np.int64)
    level = np.array([r[2] for r in rows], dtype=np.int64)
    until = np.array([untils[r[0]] for r in rows], dtype=np.int64)
    moves = transitions(series, time, level, dwell, until)
    out: list[list[tuple[int, int, int, int]]] = [[] for _ in series_list]
    for s, t, f, to, row in zip(
        moves.series, moves.time, moves.from_level, moves.to_level, moves.row, strict=True
    ):
        # At one instant the state machine applies the expiry first, then each observation in order.
        out[int(s)].append((int(t), int(row), int(f), int(to)))
    return [[(t, f, to) for t, _, f, to in sorted(o, key=lambda x: (x[0], x[1]))] for o in out]


def observations() -> st.SearchStrategy[list[Observation]]:
    gaps = st.lists(
        st.tuples(st.sampled_from([0, 1, 2, 3, 5, 10, 30, 60, 61, 90]), st.integers(1, 4)),
        min_size=1,
        max_size=40,
    )

    def times(pairs: list[tuple[int, int]]) -> list[Observation]:
        step, out = 0, []
        for gap, level in pairs:
            step += gap
            out.append((step, level))
        return out

    return gaps.map(times)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(observations(), min_size=1, max_size=4),
    st.sampled_from([0, 1, 30, 60, 45, 120]),
    st.lists(st.sampled_from([0, 1, 30, 60, 200, 10_000]), min_size=4, max_size=4),
)
def test_the_window_gives_the_state_machines_transitions(
    series_list: list[list[Observation]], dwell: int, extra: list[int]
) -> None:
    untils = [obs[-1][0] + extra[n] for n, obs in enumerate(series_list)]
    got = windowed(series_list, dwell, untils)
    for obs, until, mine in zip(series_list, untils, got, strict=True):
        assert mine == reference(obs, dwell, until), (obs, dwell, until)


def test_an_expiry_and_an_escalation_at_one_instant() -> None:
    # 3 at 0, 1 at 10: the 3 expires at 70 just as a new 3 arrives, giving two transitions.
    obs = [(0, 3), (10, 1), (70, 3)]
    assert windowed([obs], 60, [70]) == [reference(obs, 60, 70)]
    assert reference(obs, 60, 70) == [(0, 0, 3), (70, 3, 1), (70, 1, 3)]
