"""The 10:00 submission nudge (plan 3.1): reminders to indicator owners, and the daily summary's list.

The deadline is London wall-clock time: a Tuesday in January (GMT) runs it at 10:00Z, a Tuesday
in July (BST) at 09:00Z. The clock is passed in; nothing here reads the real time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from opel.alerting.calendar import PlanCalendar
from opel.alerting.clock import due_runs, local_instant, run_key
from opel.alerting.duties import daily_summary, duty_deliveries, job_notices
from opel.alerting.routing import ClockConfig, RoutingError, build_routing
from opel.alerting.submissions import (
    MissingSubmission,
    is_submission_day,
    missing_submissions,
    reminders,
    submit_link,
)
from opel.contracts.status import STATUS, AnyStatus
from opel.levels import Level
from streams.alerting.scheduler import wall_clock_jobs

WINTER = date(2026, 1, 13)  # a Tuesday, GMT
SUMMER = date(2026, 7, 14)  # a Tuesday, BST
SATURDAY = date(2026, 7, 18)
BANK_HOLIDAY = date(2026, 8, 31)  # the summer bank holiday, a Monday
CLOCK = ClockConfig(
    areas=("dgs", "swale"),
    indicator_owners={"referrals": "senior_practitioner", "keah_capacity": "keah_locality_organisers"},
    board_url="https://opel.kent.example/",
)
CALENDAR = PlanCalendar()
UTC_DEADLINE = {WINTER: datetime(2026, 1, 13, 10, tzinfo=UTC), SUMMER: datetime(2026, 7, 14, 9, tzinfo=UTC)}


def indicator(name: str, area: str, observed_at: datetime | None) -> AnyStatus:
    level = 2
    value: dict[str, Any] = {
        "scope": f"indicator/{name}/{area}",
        "kind": "indicator",
        "indicator": name,
        "area": area,
        "level": level,
        "colour": Level(level).colour,
        "computed_level": level,
        "computed_colour": Level(level).colour,
        "state_level": level,
        "observed_at": observed_at,
        "updated_at": observed_at or datetime(2025, 1, 1, tzinfo=UTC),
        "value": 3,
    }
    return STATUS.validate_python(value)


def board(*items: AnyStatus) -> dict[str, AnyStatus]:
    return {s.scope: s for s in items}


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return local_instant(day, time(hour, minute))


def deadline(day: date) -> datetime:
    return local(day, 10)


@pytest.mark.parametrize("day", [WINTER, SUMMER], ids=["GMT", "BST"])
def test_the_scheduled_instant_is_10_local_in_both_dst_periods(day: date) -> None:
    # Just before 10:00 London nothing is due; at 10:00 London (10:00Z / 09:00Z) the job is.
    jobs = tuple(job for job in wall_clock_jobs(CLOCK) if job[0] == "submissions")
    assert jobs == (("submissions", time(10, 0)),)
    at = UTC_DEADLINE[day]
    ran_yesterday = {run_key("submissions", at - timedelta(days=1))}
    assert due_runs(at - timedelta(minutes=1), jobs, ran_yesterday, CLOCK.zone) == []
    assert due_runs(at, jobs, ran_yesterday, CLOCK.zone) == [("submissions", at)]


@pytest.mark.parametrize("day", [WINTER, SUMMER], ids=["GMT", "BST"])
def test_a_missing_submission_is_reminded_to_its_owner_at_the_deadline(day: date) -> None:
    current = board(
        indicator("referrals", "dgs", local(day, 0, 0) - timedelta(minutes=1)),  # 23:59 yesterday
        indicator("keah_capacity", "dgs", local(day, 0, 0)),  # 00:00 today: in
        indicator("stp_staffing_pct", "dgs", local(day, 9, 45)),  # in, before 10:00
    )
    instant = UTC_DEADLINE[day]
    notices = job_notices("submissions", instant, current, (0, 0, 0), CLOCK, calendar=CALENDAR)
    assert [(n.job, n.role, n.area) for n in notices] == [("submissions", "senior_practitioner", "dgs")]
    notice = notices[0]
    assert notice.rendered.subject == "Readings due by 10:00: Dartford, Gravesham and Swanley"
    text = notice.rendered.text
    assert "https://opel.kent.example/submit" in text
    assert "- Referrals pending assessment outcome (last reading 23:59" in text
    assert "KEaH" not in text
    assert "staffing" not in text
    assert "https://opel.kent.example/submit" in notice.rendered.short  # the SMS carries the link
    assert notice.reason.startswith(f"no reading since {local(day, 0).isoformat()}")


def test_a_reading_today_in_utc_but_yesterday_in_london_is_missing() -> None:
    # 23:30Z on 13 July is 00:30 BST on the 14th: today. 23:30Z on 12 July is yesterday.
    current = board(
        indicator("referrals", "dgs", datetime(2026, 7, 13, 23, 30, tzinfo=UTC)),
        indicator("referrals", "swale", datetime(2026, 7, 12, 23, 30, tzinfo=UTC)),
    )
    missing = missing_submissions(current, UTC_DEADLINE[SUMMER], CLOCK)
    assert [(m.area, m.indicator) for m in missing] == [("swale", "referrals")]


def test_no_reminder_when_every_indicator_has_a_reading_today() -> None:
    current = board(
        indicator("referrals", "dgs", local(WINTER, 8)),
        indicator("keah_capacity", "swale", local(WINTER, 9, 59)),
    )
    assert reminders(current, deadline(WINTER), CLOCK, CALENDAR) == []
    assert job_notices("submissions", deadline(WINTER), current, (0, 0, 0), CLOCK) == []


def test_one_reminder_per_owner_and_area_naming_each_missing_indicator() -> None:
    yesterday = local(WINTER, 9) - timedelta(days=1)
    current = board(
        indicator("referrals", "dgs", yesterday),
        indicator("health_caseload", "dgs", None),  # never read: no owner listed, deadline_role
        indicator("stp_staffing_pct", "dgs", yesterday),
        indicator("referrals", "swale", yesterday),
        indicator("referrals", "west_kent", yesterday),  # not one of this config's areas
    )
    notices = reminders(current, deadline(WINTER), CLOCK, CALENDAR)
    assert sorted((n.role, n.area) for n in notices) == [
        ("senior_practitioner", "dgs"),
        ("senior_practitioner", "swale"),
        ("stp_team_manager", "dgs"),
    ]
    tm = next(n for n in notices if n.role == "stp_team_manager")
    assert "- KCC health caseload (last reading never)" in tm.rendered.text
    assert "- Short-term Pathway Team staffing (last reading 09:00 Mon 12 Jan)" in tm.rendered.text
    assert len({n.id for n in notices}) == 3
    # Same instant, same ids: a second run of the job sends nothing twice.
    assert [n.id for n in reminders(current, deadline(WINTER), CLOCK, CALENDAR)] == [n.id for n in notices]


@pytest.mark.parametrize("day", [SATURDAY, BANK_HOLIDAY], ids=["saturday", "bank-holiday"])
def test_seven_days_a_week_by_default_and_workdays_when_configured(day: date) -> None:
    current = board(indicator("referrals", "dgs", local(day, 9) - timedelta(days=1)))
    # Plan 3.1: the first assessment is due by 10:00, 7 days per week.
    assert is_submission_day(deadline(day), CLOCK, CALENDAR)
    assert [n.area for n in reminders(current, deadline(day), CLOCK, CALENDAR)] == ["dgs"]
    workdays = CLOCK.model_copy(update={"submission_days": "workdays"})
    assert not is_submission_day(deadline(day), workdays, CALENDAR)
    assert reminders(current, deadline(day), workdays, CALENDAR) == []
    assert job_notices("submissions", deadline(day), current, (0, 0, 0), workdays, calendar=CALENDAR) == []
    weekday = board(indicator("referrals", "dgs", local(SUMMER, 9) - timedelta(days=1)))
    assert len(reminders(weekday, deadline(SUMMER), workdays, CALENDAR)) == 1


def test_the_daily_summary_lists_the_missing_submissions_with_their_owners() -> None:
    yesterday = local(SUMMER, 9) - timedelta(days=1)
    current = board(
        indicator("referrals", "dgs", yesterday),
        indicator("keah_capacity", "swale", yesterday),
        indicator("stp_staffing_pct", "swale", local(SUMMER, 8)),
    )
    [summary] = job_notices("daily", UTC_DEADLINE[SUMMER], current, (0, 0, 0), CLOCK)
    assert summary.role == "duty"
    text = summary.rendered.text.splitlines()
    start = text.index("Submissions missing (no reading today, plan 3.1): 2.")
    assert text[start + 1 : start + 3] == [
        "- Dartford, Gravesham and Swanley: Referrals pending assessment outcome "
        "(owner: Senior Practitioner / Social Care Discharge Co-ordinator).",
        "- Swale: KEaH daily capacity (owner: KEaH Locality Organiser).",
    ]
    everything_in = board(indicator("referrals", "dgs", local(SUMMER, 8)))
    [all_in] = job_notices("daily", UTC_DEADLINE[SUMMER], everything_in, (0, 0, 0), CLOCK)
    assert "Submissions: every indicator has a reading today." in all_in.rendered.text
    # A caller that does not pass the list gets the summary as before, without the section.
    assert "Submissions" not in daily_summary(current, UTC_DEADLINE[SUMMER], (0, 0, 0)).rendered.text


def test_reminders_are_routed_to_the_owners_contacts_for_the_area() -> None:
    routing = build_routing(
        {
            "channels": {"log": {"type": "log"}},
            "roles": {
                "duty": {"contacts": [{"id": "duty", "name": "Duty", "channel": "log"}]},
                "senior_practitioner": {
                    "contacts": [
                        {"id": "sp-dgs", "name": "SP DGS", "channel": "log", "areas": ["dgs"]},
                        {"id": "sp-swale", "name": "SP Swale", "channel": "log", "areas": ["swale"]},
                    ]
                },
            },
            "clock": {
                "areas": list(CLOCK.areas),
                "indicator_owners": CLOCK.indicator_owners,
                "board_url": CLOCK.board_url,
            },
        },
        "<test>",
        env={},
    )
    current = board(indicator("referrals", "dgs", local(SUMMER, 9) - timedelta(days=1)))
    notices = reminders(current, deadline(SUMMER), routing.clock, routing.plan_calendar)
    made = duty_deliveries(notices, routing, set(), deadline(SUMMER))
    assert [(d.delivery.contact, d.delivery.route) for d in made] == [("sp-dgs", "clock:submissions")]


def test_the_link_follows_the_board_url_setting() -> None:
    assert submit_link(ClockConfig()) == "http://127.0.0.1:8080/submit"
    assert (
        submit_link(ClockConfig(board_url="https://kent.example/opel")) == "https://kent.example/opel/submit"
    )


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("board_url", "opel.kent.example", "board_url"),
        ("submission_days", "weekends", "submission_days"),
        ("submission_deadline", "25:00", "submission_deadline"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(field: str, value: str, problem: str) -> None:
    with pytest.raises(RoutingError) as caught:
        build_routing(
            {"roles": {"duty": {"contacts": []}}, "clock": {field: value}},
            "<test>",
            env={},
        )
    assert f"clock.{problem}" in str(caught.value)


def test_missing_submission_records_the_last_reading() -> None:
    last = local(WINTER, 9) - timedelta(days=2)
    current = board(indicator("referrals", "dgs", last))
    assert missing_submissions(current, deadline(WINTER), CLOCK) == [
        MissingSubmission(area="dgs", indicator="referrals", role="senior_practitioner", last=last)
    ]
