"""Clock duties over statuses: daily summary, missed updates, stale indicators, DoS reviews, KEaH."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from opel.alerting.duties import (
    Status,
    daily_summary,
    dos_reviews,
    keah_figures,
    missed_updates,
    stale_indicators,
)
from opel.alerting.records import KeahRecord
from opel.alerting.routing import ClockConfig

DAY = date(2025, 11, 12)
CLOCK = ClockConfig(
    indicator_owners={"assessment_bed_availability": "inhouse_registered_managers"}, areas=("dgs",)
)


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def status(scope: str, level: int | None, **extra: Any) -> Status:
    kind, _, rest = scope.partition("/")
    parts: dict[str, Any] = {}
    if kind == "indicator":
        indicator, _, area = rest.partition("/")
        parts = {"indicator": indicator, "area": area}
    elif kind == "area":
        parts = {"area": rest}
    return Status(scope=scope, kind=kind, level=level, **parts, **extra)


def statuses(area_level: int, beds_update: datetime, referrals_update: datetime) -> dict[str, Status]:
    items = [
        status("area/dgs", area_level, since=at(8)),
        status("indicator/assessment_bed_availability/dgs", 2, observed_at=beds_update, value=3),
        status("indicator/referrals/dgs", area_level, observed_at=referrals_update, value=48),
        status("county/kent", 2),
    ]
    return {s.scope: s for s in items}


@pytest.mark.parametrize(
    ("level", "window", "expected"),
    [
        (1, "morning", []),
        (2, "morning", [("inhouse_registered_managers", "assessment_bed_availability")]),
        (2, "afternoon", []),  # OPEL 2 has no afternoon window
        (
            3,
            "afternoon",
            [
                ("inhouse_registered_managers", "assessment_bed_availability"),
                ("stp_team_manager", "referrals"),
            ],
        ),
    ],
)
def test_missed_updates(level: int, window: str, expected: list[tuple[str, str]]) -> None:
    current = statuses(level, beds_update=at(7), referrals_update=at(9))
    current["indicator/assessment_bed_availability/dgs"] = status(
        "indicator/assessment_bed_availability/dgs",
        2,
        observed_at=at(10, 45),  # after 10:30: missed the morning
    )
    notices = missed_updates(current, DAY, window, CLOCK)
    assert sorted((n.role, n.rendered.subject.split(": ")[1].split(",")[0]) for n in notices) == sorted(
        (
            role,
            {
                "assessment_bed_availability": "Assessment bed availability",
                "referrals": "Referrals pending assessment outcome",
            }[ind],
        )
        for role, ind in expected
    )
    assert len({n.id for n in notices}) == len(notices)


def test_missed_update_ids_are_per_window() -> None:
    yesterday = at(22, day=DAY - timedelta(days=1))
    current = statuses(3, beds_update=yesterday, referrals_update=yesterday)
    morning = {n.id for n in missed_updates(current, DAY, "morning", CLOCK)}
    afternoon = {n.id for n in missed_updates(current, DAY, "afternoon", CLOCK)}
    assert morning
    assert afternoon
    assert not morning & afternoon
    assert morning == {n.id for n in missed_updates(current, DAY, "morning", CLOCK)}  # a re-run adds nothing


def test_stale_indicators_any_level() -> None:
    current = statuses(1, beds_update=at(12) - timedelta(hours=26), referrals_update=at(11))
    notices = stale_indicators(current, at(12), CLOCK)
    assert [n.role for n in notices] == ["inhouse_registered_managers"]
    assert "has not been updated since" in notices[0].rendered.text


@pytest.mark.parametrize(
    ("now_hour", "count", "title"), [(11, 0, None), (12, 1, "NHS 111 DoS review 1"), (20, 1, "review 3")]
)
def test_dos_review_every_four_hours(now_hour: int, count: int, title: str | None) -> None:
    current = {
        "area/dgs": status("area/dgs", 3, since=at(8)),
        "county/kent": status("county/kent", 2, since=at(8)),
    }
    notices = dos_reviews(current, at(now_hour), CLOCK)
    assert len(notices) == count
    if title:
        assert title in notices[0].rendered.subject
        assert notices[0].role == "pascc_ops_manager"
        assert "01233 363020" in notices[0].rendered.text


def test_daily_summary() -> None:
    notice = daily_summary(statuses(3, at(9), at(9)), at(10), (4, 1, 2))
    assert notice.role == "duty"
    assert notice.rendered.subject == "OPEL daily assessment Wed 12 Nov"
    assert "Kent County Council: OPEL 2 amber." in notice.rendered.text
    assert "- Dartford, Gravesham and Swanley: OPEL 3 red since 08:00 Wed 12 Nov." in notice.rendered.text
    assert "KEaH 2-hour rule (plan 7.6): 4 met, 1 missed, 2 still open." in notice.rendered.text


def test_keah_figures() -> None:
    def record(received: datetime, told: datetime | None) -> KeahRecord:
        return KeahRecord(
            event_id=str(received),
            area="dgs",
            ref=None,
            received_at=received,
            due_at=received + timedelta(hours=2),
            notice_id="n",
            told_at=told,
        )

    records = [
        record(at(8), at(8, 1)),
        record(at(8), at(10, 1)),
        record(at(8), None),
        record(at(11), None),
    ]
    assert keah_figures(records, at(11, 30)) == (1, 2, 1)
