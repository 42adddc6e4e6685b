"""The plan's clock with an injected time: 10:00, 10:30, 14:00-15:30, 4-hour DoS review, KEaH 2 hours.

DST Sundays: 2025-03-30 and 2026-03-29 (clocks go forward at 01:00 UTC), 2025-10-26 and
2026-10-25 (back at 01:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from opel.alerting.clock import (
    LONDON,
    WALL_CLOCK_JOBS,
    daily_instants,
    dos_review_due,
    due_runs,
    is_stale,
    keah_deadline,
    keah_met,
    last_daily,
    local_instant,
    next_daily,
    next_dos_review,
    run_key,
    update_windows,
    window_missed,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2025, 11, 12, 9, 59), utc(2025, 11, 12, 10, 0)),  # winter: 10:00 GMT
        (utc(2025, 11, 12, 10, 0), utc(2025, 11, 13, 10, 0)),  # strictly after now
        (utc(2025, 7, 1, 8, 0), utc(2025, 7, 1, 9, 0)),  # summer: 10:00 BST is 09:00 UTC
        (utc(2026, 3, 28, 10, 30), utc(2026, 3, 29, 9, 0)),  # Saturday GMT -> Sunday BST
        (utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 9, 0)),  # before the change that night
        (utc(2026, 10, 24, 9, 30), utc(2026, 10, 25, 10, 0)),  # BST Saturday -> GMT Sunday
        (utc(2026, 10, 25, 0, 59), utc(2026, 10, 25, 10, 0)),
        (utc(2025, 3, 29, 11, 0), utc(2025, 3, 30, 9, 0)),
        (utc(2025, 10, 25, 9, 30), utc(2025, 10, 26, 10, 0)),
    ],
)
def test_next_daily_assessment(now: datetime, expected: datetime) -> None:
    result = next_daily(now)
    assert result == expected
    assert result.astimezone(LONDON).time() == time(10, 0)


@pytest.mark.parametrize(
    ("sunday", "gap_hours"),
    [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2025, 3, 30), 23), (date(2025, 10, 26), 25)],
)
def test_daily_runs_across_dst_sundays_once_each(sunday: date, gap_hours: int) -> None:
    start = local_instant(sunday - timedelta(days=1), time(9, 0))
    instants = daily_instants(start, local_instant(sunday + timedelta(days=1), time(9, 0)))
    assert [i.astimezone(LONDON).time() for i in instants] == [time(10, 0), time(10, 0)]
    assert instants[1] - instants[0] == timedelta(hours=gap_hours)


def test_last_daily_and_skipped_or_repeated_local_times() -> None:
    assert last_daily(utc(2026, 3, 29, 8, 59)) == utc(2026, 3, 28, 10, 0)
    assert last_daily(utc(2026, 3, 29, 9, 0)) == utc(2026, 3, 29, 9, 0)
    # 01:30 does not exist on 2026-03-29: the wall clock shows 02:30 BST an hour later.
    skipped = local_instant(date(2026, 3, 29), time(1, 30))
    assert skipped == utc(2026, 3, 29, 1, 30)
    assert skipped.astimezone(LONDON).time() == time(2, 30)
    # 01:30 happens twice on 2026-10-25: the first (BST) one is meant.
    assert local_instant(date(2026, 10, 25), time(1, 30)) == utc(2026, 10, 25, 0, 30)


@pytest.mark.parametrize(
    ("level", "day", "expected"),
    [
        (None, date(2025, 11, 12), []),
        (1, date(2025, 11, 12), []),
        (2, date(2025, 11, 12), [("morning", utc(2025, 11, 12, 0, 0), utc(2025, 11, 12, 10, 30))]),
        (
            3,
            date(2025, 11, 12),
            [
                ("morning", utc(2025, 11, 12, 0, 0), utc(2025, 11, 12, 10, 30)),
                ("afternoon", utc(2025, 11, 12, 14, 0), utc(2025, 11, 12, 15, 30)),
            ],
        ),
        (
            4,
            date(2026, 3, 29),  # BST from 01:00 UTC: midnight was still GMT
            [
                ("morning", utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 9, 30)),
                ("afternoon", utc(2026, 3, 29, 13, 0), utc(2026, 3, 29, 14, 30)),
            ],
        ),
        (
            3,
            date(2026, 10, 25),  # GMT from 01:00 UTC: midnight was still BST
            [
                ("morning", utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 10, 30)),
                ("afternoon", utc(2026, 10, 25, 14, 0), utc(2026, 10, 25, 15, 30)),
            ],
        ),
        (2, date(2025, 3, 30), [("morning", utc(2025, 3, 30, 0, 0), utc(2025, 3, 30, 9, 30))]),
        (2, date(2025, 10, 26), [("morning", utc(2025, 10, 25, 23, 0), utc(2025, 10, 26, 10, 30))]),
    ],
)
def test_update_windows_by_level(
    level: int | None, day: date, expected: list[tuple[str, datetime, datetime]]
) -> None:
    assert [(w.name, w.opens, w.closes) for w in update_windows(level, day)] == expected


@pytest.mark.parametrize(
    ("update", "window", "missed"),
    [
        (utc(2025, 11, 12, 10, 29), "morning", False),
        (utc(2025, 11, 12, 10, 30), "morning", True),  # 10:30 itself is not "by 10:30"
        (utc(2025, 11, 11, 23, 59), "morning", True),  # yesterday's update does not count
        (utc(2025, 11, 12, 13, 59), "afternoon", True),
        (utc(2025, 11, 12, 14, 0), "afternoon", False),
        (utc(2025, 11, 12, 15, 29), "afternoon", False),
        (utc(2025, 11, 12, 15, 30), "afternoon", True),
        (None, "morning", True),
    ],
)
def test_window_missed(update: datetime | None, window: str, missed: bool) -> None:
    windows = {w.name: w for w in update_windows(3, date(2025, 11, 12))}
    assert window_missed([update] if update else [], windows[window]) is missed


def test_afternoon_window_in_summer_is_local_time() -> None:
    windows = {w.name: w for w in update_windows(3, date(2025, 7, 1))}
    assert not window_missed([utc(2025, 7, 1, 13, 0)], windows["afternoon"])  # 14:00 BST
    assert window_missed([utc(2025, 7, 1, 14, 30)], windows["afternoon"])  # 15:30 BST


@pytest.mark.parametrize(
    ("age", "stale"),
    [(timedelta(hours=25, minutes=59), False), (timedelta(hours=26), True), (None, True)],
)
def test_stale_rule(age: timedelta | None, stale: bool) -> None:
    now = utc(2025, 11, 12, 12, 0)
    assert is_stale(now - age if age else None, now, timedelta(hours=26)) is stale


@pytest.mark.parametrize(
    ("since", "now", "expected_n", "expected_at"),
    [
        (utc(2025, 11, 12, 9, 0), utc(2025, 11, 12, 12, 59), 0, None),
        (utc(2025, 11, 12, 9, 0), utc(2025, 11, 12, 13, 0), 1, utc(2025, 11, 12, 13, 0)),
        (utc(2025, 11, 12, 9, 0), utc(2025, 11, 12, 21, 30), 3, utc(2025, 11, 12, 21, 0)),
        # 00:30 GMT on the March Sunday + 4 real hours = 05:30 BST (04:30 UTC).
        (utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 4, 30), 1, utc(2026, 3, 29, 4, 30)),
        # 00:30 BST on the October Sunday (23:30 UTC) + 4 real hours = 02:30 GMT.
        (utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 3, 30), 1, utc(2026, 10, 25, 3, 30)),
        (utc(2025, 3, 30, 0, 0), utc(2025, 3, 30, 8, 0), 2, utc(2025, 3, 30, 8, 0)),
        (utc(2025, 10, 25, 23, 0), utc(2025, 10, 26, 3, 0), 1, utc(2025, 10, 26, 3, 0)),
    ],
)
def test_dos_review_every_four_hours(
    since: datetime, now: datetime, expected_n: int, expected_at: datetime | None
) -> None:
    assert dos_review_due(since, now) == (expected_n, expected_at)
    assert next_dos_review(since, now) == since + (expected_n + 1) * timedelta(hours=4)


def test_dos_review_local_times_across_the_spring_change() -> None:
    since = local_instant(date(2026, 3, 29), time(0, 30))
    _, first = dos_review_due(since, since + timedelta(hours=4))
    assert first is not None
    assert first.astimezone(LONDON).time() == time(5, 30)


@pytest.mark.parametrize(
    ("received", "told", "met"),
    [
        (utc(2025, 11, 12, 9, 0), utc(2025, 11, 12, 9, 1), True),
        (utc(2025, 11, 12, 9, 0), utc(2025, 11, 12, 11, 0), True),
        (utc(2025, 11, 12, 9, 0), utc(2025, 11, 12, 11, 0, second=1), False),
        (utc(2025, 11, 12, 9, 0), None, False),
        (utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 2, 30), True),  # 2 real hours across the change
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2, 31), False),
    ],
)
def test_keah_two_hour_rule(received: datetime, told: datetime | None, met: bool) -> None:
    assert keah_deadline(received) == received + timedelta(hours=2)
    assert keah_met(received, told) is met


def test_due_runs_no_missed_or_doubled_run() -> None:
    jobs = (("daily", time(10, 0)), *WALL_CLOCK_JOBS)
    now = utc(2026, 3, 29, 15, 0)  # 16:00 BST, all three of the day's instants have passed
    due = due_runs(now, jobs, set())
    assert due == [
        ("daily", utc(2026, 3, 29, 9, 0)),
        ("deadline-morning", utc(2026, 3, 29, 9, 30)),
        ("deadline-afternoon", utc(2026, 3, 29, 14, 30)),
    ]
    done = {run_key(job, instant) for job, instant in due}
    assert due_runs(now, jobs, done) == []
    assert due_runs(now + timedelta(hours=18, minutes=15), jobs, done) == [("daily", utc(2026, 3, 30, 9, 0))]
    assert due_runs(now, jobs, set(), not_before=utc(2026, 3, 29, 10, 0)) == [
        ("deadline-afternoon", utc(2026, 3, 29, 14, 30))
    ]


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_daily(datetime(2025, 11, 12, 9, 0))
