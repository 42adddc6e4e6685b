"""The plan's calendar (Europe/London), the NHS 111 DoS protocol timeline, assessment-bed steps.

Clock changes: 2025-03-30 (forward at 01:00 UTC) and 2025-10-26 (back at 01:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from test_alerting_fixtures import escalation

from opel.alerting.calendar import PlanCalendar
from opel.alerting.duties import (
    assessment_bed_duties,
    dos_activation,
    dos_reviews,
    dos_transition,
    placement_change,
)
from opel.alerting.events import AssessmentBedPlacement, assessment_bed_command
from opel.alerting.records import DosRecord
from opel.alerting.routing import ClockConfig
from opel.contracts.escalation import EscalationData, EscalationEvent

CAL = PlanCalendar()
CLOCK = ClockConfig()


def utc(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=UTC)


# --- office hours, weekends, bank holidays ---------------------------------------------------------


def test_a_saturday_is_out_of_hours_all_day() -> None:
    saturday = utc(2025, 11, 15, 11)
    assert not CAL.is_office_hours(saturday)
    assert CAL.applies("out_of_hours", saturday)
    assert CAL.describe(saturday) == "out of hours (Saturday)"


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2025, 8, 25), "Late Summer Bank Holiday"),
        (date(2025, 12, 25), "Christmas Day"),
        (date(2026, 4, 3), "Good Friday"),
        (date(2026, 12, 28), "Boxing Day (observed)"),
    ],
)
def test_bank_holidays_come_from_the_package(day: date, name: str) -> None:
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    assert CAL.bank_holiday(day) == name
    assert not CAL.is_office_hours(noon)
    assert CAL.applies("bank_holiday", noon)
    assert CAL.describe(noon) == f"out of hours (bank holiday: {name})"


def test_an_ordinary_monday_is_no_bank_holiday() -> None:
    assert CAL.bank_holiday(date(2025, 9, 1)) is None
    assert not CAL.applies("bank_holiday", utc(2025, 9, 1, 12))


@pytest.mark.parametrize(
    ("instant", "office"),
    [
        (utc(2025, 11, 12, 8, 59), False),  # GMT: 08:59
        (utc(2025, 11, 12, 9, 0), True),  # 09:00 opens
        (utc(2025, 11, 12, 16, 59), True),
        (utc(2025, 11, 12, 17, 0), False),  # 17:00 closes
        (utc(2025, 7, 9, 7, 59), False),  # BST: 08:59 local
        (utc(2025, 7, 9, 8, 0), True),  # BST: 09:00 local
        (utc(2025, 7, 9, 15, 59), True),
        (utc(2025, 7, 9, 16, 0), False),  # BST: 17:00 local
    ],
)
def test_office_hours_edges_in_london_time(instant: datetime, office: bool) -> None:
    assert CAL.is_office_hours(instant) is office
    assert CAL.applies("office_hours", instant) is office
    assert CAL.applies("out_of_hours", instant) is not office
    assert CAL.applies("always", instant)


def test_spring_change_monday_opens_at_0800_utc() -> None:
    # Fri 28 Mar 2025 is GMT, Mon 31 Mar 2025 is BST: 09:00 local moves from 09:00 to 08:00 UTC.
    assert CAL.is_office_hours(utc(2025, 3, 28, 9, 0))
    assert not CAL.is_office_hours(utc(2025, 3, 28, 8, 30))
    assert CAL.is_office_hours(utc(2025, 3, 31, 8, 0))
    assert not CAL.is_office_hours(utc(2025, 3, 31, 7, 59))
    assert not CAL.is_office_hours(utc(2025, 3, 30, 9, 0))  # the change day is a Sunday


def test_autumn_change_monday_opens_at_0900_utc() -> None:
    # Fri 24 Oct 2025 is BST, Mon 27 Oct 2025 is GMT.
    assert CAL.is_office_hours(utc(2025, 10, 24, 8, 0))
    assert not CAL.is_office_hours(utc(2025, 10, 24, 16, 0))
    assert not CAL.is_office_hours(utc(2025, 10, 27, 8, 0))
    assert CAL.is_office_hours(utc(2025, 10, 27, 9, 0))
    assert CAL.is_office_hours(utc(2025, 10, 27, 16, 59))


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.is_office_hours(datetime(2025, 11, 12, 10, 0))


# --- NHS 111 DoS protocol (plan 6.1) -------------------------------------------------------------


def change(before: int | None, after: int, at: datetime, scope: str = "area/dgs") -> EscalationData:
    return EscalationEvent.model_validate(escalation(scope, before, after, at)).data


def run(changes: list[EscalationData], config: ClockConfig = CLOCK) -> DosRecord | None:
    record: DosRecord | None = None
    for data in changes:
        record = dos_transition(data, config, record) or record
    return record


def test_nhs_111_timeline_review_runs_from_activation_not_from_the_rise() -> None:
    """Area at OPEL 3 from 09:00, OPEL 4 from 12:00: the first review is due at 13:00, not 16:00."""
    nine, noon = utc(2025, 11, 12, 9), utc(2025, 11, 12, 12)
    activated = dos_transition(change(2, 3, nine), CLOCK, None)
    assert activated is not None
    assert activated.activated_at == nine
    assert dos_transition(change(3, 4, noon), CLOCK, activated) is None  # the rise changes nothing
    record = run([change(2, 3, nine), change(3, 4, noon)])
    assert record == activated
    assert dos_reviews([record], utc(2025, 11, 12, 12, 59), CLOCK) == []
    due = dos_reviews([record], utc(2025, 11, 12, 13, 0), CLOCK)
    assert [n.rendered.subject for n in due] == ["NHS 111 DoS review 1: Dartford, Gravesham and Swanley"]
    assert "review 1 was due at 13:00 Wed 12 Nov" in due[0].rendered.text
    # Every 4 hours from activation: review 2 at 17:00 (a clock restarted at 12:00 would say 16:00).
    assert dos_reviews([record], utc(2025, 11, 12, 16, 0), CLOCK)[0].rendered.subject.startswith(
        "NHS 111 DoS review 1"
    )
    assert dos_reviews([record], utc(2025, 11, 12, 17, 0), CLOCK)[0].rendered.subject.startswith(
        "NHS 111 DoS review 2"
    )


def test_activation_prompts_steps_a_and_b_at_once() -> None:
    record = run([change(2, 3, utc(2025, 11, 12, 9))])
    assert record is not None
    notice = dos_activation(record, CLOCK, CAL)
    assert notice.role == "pascc_ops_manager"
    assert notice.level == 3
    assert "(a) call NHS 111 on 01233 363020" in notice.rendered.text
    assert "(b) inform the ICB commissioning lead (in hours)" in notice.rendered.text
    assert "(c) review the escalation status at 13:00 Wed 12 Nov" in notice.rendered.text
    night = run([change(2, 3, utc(2025, 11, 15, 22))])
    assert night is not None
    assert (
        "(b) inform the NHS Director on Call (out of hours (Saturday))"
        in dos_activation(night, CLOCK, CAL).rendered.text
    )


def test_the_protocol_stops_below_the_activating_level_and_restarts_on_a_new_rise() -> None:
    record = run([change(2, 3, utc(2025, 11, 12, 9)), change(3, 2, utc(2025, 11, 12, 11))])
    assert record is not None
    assert record.ended_at == utc(2025, 11, 12, 11)
    assert dos_reviews([record], utc(2025, 11, 12, 14), CLOCK) == []
    again = dos_transition(change(2, 3, utc(2025, 11, 12, 15)), CLOCK, record)
    assert again is not None
    assert (again.activated_at, again.ended_at) == (utc(2025, 11, 12, 15), None)


def test_the_activating_level_is_a_setting() -> None:
    at_four = ClockConfig(dos_activation_level=4)
    assert dos_transition(change(2, 3, utc(2025, 11, 12, 9)), at_four, None) is None
    record = dos_transition(change(3, 4, utc(2025, 11, 12, 12)), at_four, None)
    assert record is not None
    assert record.activated_at == utc(2025, 11, 12, 12)
    assert ClockConfig().dos_activation_level == 3


def test_exercise_indicators_and_sites_do_not_activate_the_protocol() -> None:
    for scope in ("indicator/referrals/dgs", "site/mtw_maidstone"):
        assert dos_transition(change(2, 4, utc(2025, 11, 12, 9), scope), CLOCK, None) is None
    exercise = EscalationEvent.model_validate(
        escalation("area/dgs", 2, 4, utc(2025, 11, 12, 9), exercise=True)
    )
    assert dos_transition(exercise.data, CLOCK, None) is None


def test_the_review_counts_real_hours_across_the_spring_change() -> None:
    record = run([change(2, 3, utc(2025, 3, 30, 0, 30))])  # 00:30 GMT
    assert record is not None
    due = dos_reviews([record], utc(2025, 3, 30, 4, 30), CLOCK)
    assert "review 1 was due at 05:30 Sun 30 Mar" in due[0].rendered.text  # 04:30 UTC is 05:30 BST


# --- assessment beds (plan 6.3) ------------------------------------------------------------------


def placement(kind: str, at: datetime) -> AssessmentBedPlacement:
    return assessment_bed_command(
        {"placement_id": "pl-1", "area": "swale", "change": kind, "author": "scdc", "ref": "AB-0042"}, at
    )


def test_assessment_bed_three_week_and_eighth_week_steps() -> None:
    start = utc(2025, 11, 3, 10)
    record = placement_change(placement("started", start), None)
    assert record is not None
    assert assessment_bed_duties([record], start + timedelta(days=20), CLOCK) == []
    three = assessment_bed_duties([record], start + timedelta(weeks=3), CLOCK)
    assert [(n.job, n.role, n.area) for n in three] == [("bed-3w", "stp_team_manager", "swale")]
    eight = assessment_bed_duties([record], start + timedelta(weeks=7), CLOCK)
    assert [(n.job, n.role) for n in eight] == [
        ("bed-3w", "stp_team_manager"),
        ("bed-8w", "arranging_support_team"),
    ]
    assert "week 8 of the 12-week disregard" in eight[1].rendered.text
    # Ids depend on the placement and its start only: the notification log sends each once.
    assert three[0].id == eight[0].id
    ended = placement_change(placement("ended", start + timedelta(days=10)), record)
    assert ended is not None
    assert assessment_bed_duties([ended], start + timedelta(weeks=8), CLOCK) == []
    assert placement_change(placement("ended", start + timedelta(days=11)), ended) is None
    assert placement_change(placement("started", start), record) is None
