"""The plan's clock as pure functions (plan v1.8 sections 3.1, 6.1, 7.3, 7.6 and Appendix 3).

Wall-clock duties (the 10:00 assessment, the 10:30 and 14:00-15:30 update windows) are fixed
in Europe/London local time, so they move in UTC when the clocks change on the last Sunday of
March and of October. Elapsed-time duties (the NHS 111 DoS review after 4 hours, the KEaH
2-hour rule) count real hours, so a review due 4 hours after 00:30 on the March change day
falls at 05:30 local, not 04:30.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
DAILY_ASSESSMENT = time(10, 0)
MORNING_DEADLINE = time(10, 30)
AFTERNOON_WINDOW = (time(14, 0), time(15, 30))


def _aware(value: datetime, name: str) -> datetime:
    """``value`` in UTC, so elapsed-time arithmetic counts real hours."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def local_instant(day: date, at: time, tz: ZoneInfo = LONDON) -> datetime:
    """``at`` on ``day`` in ``tz``, returned in UTC.

    A time skipped by the spring change moves forward an hour; a repeated autumn time means
    its first occurrence (zoneinfo's ``fold=0``). UTC because Python adds and subtracts
    datetimes sharing a zoneinfo by wall clock, which is wrong across a change.
    """
    # fold=0 reads a skipped time with the offset before the change, so the round trip through
    # UTC lands on the wall-clock time an hour later; a repeated time gets its first occurrence.
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def daily_instants(
    after: datetime, until: datetime, at: time = DAILY_ASSESSMENT, tz: ZoneInfo = LONDON
) -> list[datetime]:
    """Every ``at`` local time in the half-open interval (after, until]."""
    _aware(after, "after")
    _aware(until, "until")
    out: list[datetime] = []
    day = after.astimezone(tz).date()
    while True:
        instant = local_instant(day, at, tz)
        if instant > until:
            return out
        if instant > after:
            out.append(instant)
        day += timedelta(days=1)


def next_daily(now: datetime, at: time = DAILY_ASSESSMENT, tz: ZoneInfo = LONDON) -> datetime:
    """The first ``at`` local time strictly after ``now`` (the next daily assessment by default)."""
    _aware(now, "now")
    day = now.astimezone(tz).date()
    while True:
        instant = local_instant(day, at, tz)
        if instant > now:
            return instant
        day += timedelta(days=1)


def last_daily(now: datetime, at: time = DAILY_ASSESSMENT, tz: ZoneInfo = LONDON) -> datetime:
    """The latest ``at`` local time at or before ``now``."""
    _aware(now, "now")
    day = now.astimezone(tz).date()
    while True:
        instant = local_instant(day, at, tz)
        if instant <= now:
            return instant
        day -= timedelta(days=1)


@dataclass(frozen=True, slots=True)
class UpdateWindow:
    """Indicators must have been updated between ``opens`` and ``closes`` (plan App. 3)."""

    name: str
    opens: datetime
    closes: datetime


def update_windows(level: int | None, day: date, tz: ZoneInfo = LONDON) -> tuple[UpdateWindow, ...]:
    """SHREWD update deadlines for a day at a level.

    OPEL 2: daily before 10:30. OPEL 3 (and 4, which continues level 3): by 10:30 and again
    between 14:00 and 15:30. "Before 10:30" is read as an update made that day, from midnight.
    """
    if level is None or level < 2:
        return ()
    morning = UpdateWindow(
        "morning", local_instant(day, time(0, 0), tz), local_instant(day, MORNING_DEADLINE, tz)
    )
    if level == 2:
        return (morning,)
    opens, closes = AFTERNOON_WINDOW
    afternoon = UpdateWindow("afternoon", local_instant(day, opens, tz), local_instant(day, closes, tz))
    return (morning, afternoon)


def window_missed(updates: Iterator[datetime] | list[datetime], window: UpdateWindow) -> bool:
    """True when none of the update times falls inside the window [opens, closes)."""
    return not any(window.opens <= _aware(u, "update") < window.closes for u in updates)


def is_stale(last_update: datetime | None, now: datetime, max_age: timedelta) -> bool:
    """An indicator is stale at any level once it has gone ``max_age`` without an update."""
    _aware(now, "now")
    return last_update is None or _aware(now, "now") - _aware(last_update, "last_update") >= max_age


def dos_review_due(
    level_since: datetime, now: datetime, every: timedelta = timedelta(hours=4)
) -> tuple[int, datetime | None]:
    """Which NHS 111 DoS review is due for a scope held at the review level since ``level_since``.

    Returns ``(n, instant)``: review ``n`` (1, 2, ...) fell due at ``level_since + n * every``,
    the latest one at or before ``now``; ``(0, None)`` before the first. Missed reviews after a
    restart collapse into the latest, which asks for the same thing.
    """
    level_since = _aware(level_since, "level_since")
    now = _aware(now, "now")
    if every <= timedelta(0):
        raise ValueError(f"every must be positive, got {every}")
    n = int((now - level_since) / every)
    if n < 1:
        return 0, None
    return n, level_since + n * every


def next_dos_review(level_since: datetime, now: datetime, every: timedelta = timedelta(hours=4)) -> datetime:
    n, _ = dos_review_due(level_since, now, every)
    return _aware(level_since, "level_since") + (n + 1) * every


def keah_deadline(received_at: datetime, within: timedelta = timedelta(hours=2)) -> datetime:
    """When the referrer must have been told that no start date is possible in 24 hours (plan 7.6)."""
    return _aware(received_at, "received_at") + within


def keah_met(received_at: datetime, told_at: datetime | None, within: timedelta = timedelta(hours=2)) -> bool:
    """Whether the 2-hour rule was met: the alert went out by the deadline."""
    return told_at is not None and _aware(told_at, "told_at") <= keah_deadline(received_at, within)


WALL_CLOCK_JOBS: tuple[tuple[str, time], ...] = (
    ("deadline-morning", MORNING_DEADLINE),
    ("deadline-afternoon", AFTERNOON_WINDOW[1]),
)


def run_key(job: str, instant: datetime) -> str:
    return f"{job}/{instant.astimezone(UTC).isoformat()}"


def due_runs(
    now: datetime,
    jobs: tuple[tuple[str, time], ...],
    done: set[str] | frozenset[str] | dict[str, object],
    tz: ZoneInfo = LONDON,
    not_before: datetime | None = None,
) -> list[tuple[str, datetime]]:
    """Wall-clock jobs whose latest instant has not run yet.

    Only the latest instant of each job counts: after a long outage one catch-up run covers
    the missed ones (the daily summary and the update check both describe "now"). Instants
    before ``not_before`` (e.g. the first ever start) are not caught up.
    """
    out: list[tuple[str, datetime]] = []
    for job, at in jobs:
        instant = last_daily(now, at, tz)
        if not_before is not None and instant < not_before:
            continue
        if run_key(job, instant) not in done:
            out.append((job, instant))
    return out
