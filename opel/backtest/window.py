"""The escalation state machine's windowed form, for whole series at once (numpy).

:mod:`opel.escalation` moves a scope up at once and down only after the step-down dwell. Over a
series of observations (time ``t_i``, level ``l_i``, in order) that is the same as this: the
level in force at time ``τ`` is the highest level among the observation in force at ``τ - dwell``
(the last one at or before it) and every observation in ``(τ - dwell, τ]``. At one instant the
state machine first applies the expiries due then, then each observation at that instant in
order, so the transitions at ``τ`` are:

- an **expiry** (cause ``dwell``) from the level just before ``τ`` (window opening just after
  the observation that ended at ``τ - dwell``) to the level of the window ``[τ - dwell, τ)``;
- for each observation ``k`` at ``τ``, a move from the level before it to the highest level of
  the window up to and including it (up: cause ``observation``; with no dwell, down: ``dwell``).

Expiries can only fall at ``t_j + dwell`` for an observation ``j`` (the moment the observation
before it, or one replaced at the same instant, leaves the window), and the state machine only
emits those its stage has reached: at or before ``until`` (the last time the stage's clock
reached). tests/test_backtest_window.py proves the equality with
:func:`opel.escalation.observe` and :func:`~opel.escalation.advance` with hypothesis.

Levels are 1-4 here (0 is "no level" in ``from_level``), times are integers (microseconds).
With levels that few, the highest level of a range of observations ``[lo, hi]`` is found from
three arrays "next observation at or above level k": it is at least ``k`` when that next one
is at or before ``hi``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Moves:
    """Transitions of many series: which series, when, from and to (0: none), and the
    observation that made them (-1 for an expiry)."""

    series: Ints
    time: Ints
    from_level: Ints
    to_level: Ints
    row: Ints


def _range_max(nxt: list[Ints], lo: Ints, hi: Ints) -> Ints:
    """Highest level among observations ``lo..hi`` (inclusive, non-empty ranges)."""
    out = np.ones(lo.shape, dtype=np.int64)
    for k, ahead in zip((2, 3, 4), nxt, strict=True):
        out = np.where(ahead[lo] <= hi, k, out)
    return out


def transitions(series: Ints, time: Ints, level: Ints, dwell: int, until: Ints) -> Moves:
    """Every transition of every series. Rows are sorted by (series, time, order at an instant);
    ``until[i]`` is the last time the stage of row ``i``'s series reached."""
    n = len(series)
    empty = np.empty(0, dtype=np.int64)
    if n == 0:
        return Moves(empty, empty, empty, empty, empty)
    index = np.arange(n, dtype=np.int64)
    first = np.ones(n, dtype=bool)
    first[1:] = series[1:] != series[:-1]
    start = np.maximum.accumulate(np.where(first, index, 0))  # first row of each row's series
    # One sortable key for (series, time); times shifted so time - dwell stays inside its series.
    base = int(time.min()) - dwell - 1
    span = int(time.max()) - base + dwell + 2
    rank = np.cumsum(first) - 1
    if (int(rank[-1]) + 1) * span >= 2**62:
        raise OverflowError("too many series over too long a span for one key")
    key = rank * span + (time - base)
    nxt = []
    for k in (2, 3, 4):
        at_or_above = np.where(level >= k, index, n)
        nxt.append(np.minimum.accumulate(at_or_above[::-1])[::-1])

    # Observations: the window [τ - dwell, τ] up to the observation itself.
    a = np.searchsorted(key, key - dwell, side="right") - 1
    a = np.maximum(a, start)
    after = _range_max(nxt, np.minimum(a, index), index)
    before = np.zeros(n, dtype=np.int64)
    later = ~first
    prev = index[later] - 1
    before[later] = _range_max(nxt, np.minimum(a[later], prev), prev)
    moved = after != before
    obs = Moves(series[moved], time[moved], before[moved], after[moved], index[moved])
    if dwell == 0:
        return obs

    # Expiries: at t_j + dwell the observation before j leaves the window, and so do those at
    # t_j that another at the same instant replaced (held for no time, but held).
    group_first = np.ones(n, dtype=bool)
    group_first[1:] = (series[1:] != series[:-1]) | (time[1:] != time[:-1])
    j = index[group_first]
    tau = time[j] + dwell
    keep = tau <= until[j]
    j, tau = j[keep], tau[keep]
    upto = np.searchsorted(key, key[j] + dwell, side="left") - 1  # last observation before τ
    last_at_tj = np.searchsorted(key, key[j], side="right") - 1  # the observation(s) at t_j
    was = _range_max(nxt, np.where(first[j], j, j - 1), upto)
    now = _range_max(nxt, last_at_tj, upto)
    down = now < was
    exp = Moves(
        series[j[down]], tau[down], was[down], now[down], np.full(int(down.sum()), -1, dtype=np.int64)
    )
    return Moves(
        np.concatenate([obs.series, exp.series]),
        np.concatenate([obs.time, exp.time]),
        np.concatenate([obs.from_level, exp.from_level]),
        np.concatenate([obs.to_level, exp.to_level]),
        np.concatenate([obs.row, exp.row]),
    )
