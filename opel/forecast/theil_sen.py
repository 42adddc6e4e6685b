"""Theil-Sen trend: the median of the slopes between every pair of recent readings.

Chosen because a duty manager can be told it in one sentence ("the typical rise per hour
between any two of the last readings") and because one odd reading cannot drag it, unlike a
least-squares line. Exact and small (a window holds at most a few dozen points), so neither
scipy nor statsmodels is needed in the worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median


@dataclass(frozen=True, slots=True)
class Trend:
    """A robust line through ``(hours, value)`` points: ``value = level + slope * hours``.

    ``level`` is the line's value at hour 0 (the caller puts the latest reading there);
    ``slopes`` are every pairwise slope, sorted, which the confidence is read from.
    """

    slope: float
    level: float
    slopes: tuple[float, ...]


def pairwise_slopes(points: Sequence[tuple[float, float]]) -> list[float]:
    """The slope between every two points taken at different times, sorted."""
    out = [
        (y2 - y1) / (t2 - t1) for i, (t1, y1) in enumerate(points) for t2, y2 in points[i + 1 :] if t2 != t1
    ]
    out.sort()
    return out


def theil_sen(points: Sequence[tuple[float, float]]) -> Trend | None:
    """The Theil-Sen line through ``points``; None when fewer than two distinct times."""
    slopes = pairwise_slopes(points)
    if not slopes:
        return None
    slope = median(slopes)
    level = median(y - slope * t for t, y in points)
    return Trend(slope, level, tuple(slopes))
