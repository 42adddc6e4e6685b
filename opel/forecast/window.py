"""The bounded window of recent readings a projection is made from, kept in the area's book.

Stored as ``[epoch seconds, value]`` pairs: compact JSON in the indicator's reading part, which
is rewritten with every reading anyway, so the window adds no part and no write of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from opel.forecast.settings import WarningSettings

Point = list[float]  # [epoch seconds, value]


def add_point(window: list[Point], at: datetime, value: float, settings: WarningSettings) -> bool:
    """Add a reading to ``window`` (in place) if it opens a new bucket; True when it did.

    Only the first reading of a bucket enters, so the window, and every projection made from
    it, changes at most once per bucket whatever the feed's cadence.
    """
    seconds = at.timestamp()
    size = settings.bucket_minutes * 60
    if window and seconds // size <= window[-1][0] // size:
        return False
    window.append([seconds, value])
    oldest = seconds - settings.max_age_hours * 3600
    drop = 0
    while drop < len(window) and window[drop][0] < oldest:
        drop += 1
    drop = max(drop, len(window) - settings.window_points)
    del window[:drop]
    return True


def as_hours(window: Sequence[Point]) -> list[tuple[float, float]]:
    """The window as ``(hours before the latest point, value)``: the latest point is hour 0."""
    if not window:
        return []
    last = window[-1][0]
    return [((t - last) / 3600.0, v) for t, v in window]


def point_time(point: Point) -> datetime:
    return datetime.fromtimestamp(point[0], UTC)
