"""The daily record in the pure core: Kent's day boundaries, levels from the audit trail,
decisions with their authors, and action items with who did what and when."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from opel.contracts.action_item import ActionItem
from opel.contracts.audit import AuditRecord, Decision, audit_record
from opel.daily_record import LONDON, daily_record, day_bounds, level_change

DAY = dt.date(2025, 11, 12)


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LONDON).astimezone(dt.UTC)


def audit(
    decision: Decision, scope: str, when: dt.datetime, author: str | None = None, **outcome: Any
) -> AuditRecord:
    return audit_record(decision, scope, when, author=author, reason=f"{decision} reason", outcome=outcome)


def item(opened: dt.datetime, **extra: Any) -> ActionItem:
    values: dict[str, Any] = {
        "id": "80631e00-cd36-5af2-82fa-e2633995eab2",
        "scope": "area/dgs",
        "area": "dgs",
        "role": "senior_practitioner",
        "role_name": "Senior Practitioner",
        "action_id": "senior_practitioner.l2.shrewd_daily",
        "text": "Make sure SHREWD is updated every day before 10:30.",
        "plan_ref": "App. 3",
        "level": 2,
        "scope_level": 2,
        "escalation_id": "esc-1",
        "opened_at": opened,
        "due_at": opened + dt.timedelta(hours=2),
        "due_rule": "App. 3",
        "state": "open",
        "updated_at": opened,
    }
    return ActionItem.model_validate(values | extra)


@pytest.mark.parametrize(
    ("day", "hours"),
    [(dt.date(2025, 11, 12), 24), (dt.date(2026, 3, 29), 23), (dt.date(2025, 10, 26), 25)],
)
def test_a_day_runs_from_midnight_to_midnight_in_kent(day: dt.date, hours: int) -> None:
    start, end = day_bounds(day)
    assert start.astimezone(LONDON).time() == dt.time(0)
    assert end - start == dt.timedelta(hours=hours)


@pytest.mark.parametrize(
    ("record", "level", "cause", "author"),
    [
        (audit("transition", "area/dgs", at(8), to_level=3, hidden_by_override=False), 3, "data", None),
        (audit("transition", "area/dgs", at(8), to_level=3, hidden_by_override=True), None, None, None),
        (audit("override", "county/kent", at(11), "group", level=4), 4, "override", "group"),
        (audit("withdraw", "county/kent", at(12), "group", applied=True, level=2), 2, "withdraw", "group"),
        (audit("withdraw", "county/kent", at(12), "group", applied=False), None, None, None),
        (
            audit("override_expired", "county/kent", at(13), applied=True, level=3),
            3,
            "override_expired",
            None,
        ),
        (audit("assessed", "indicator/referrals/dgs", at(8)), None, None, None),
    ],
)
def test_which_audit_records_change_the_level_in_force(
    record: AuditRecord, level: int | None, cause: str | None, author: str | None
) -> None:
    change = level_change(record)
    if cause is None:
        assert change is None
    else:
        assert change is not None
        assert (change.level, change.cause, change.author) == (level, cause, author)


def test_levels_over_the_day_start_from_the_day_before_and_list_each_change() -> None:
    records = [
        audit(
            "transition",
            "area/dgs",
            at(15, day=DAY - dt.timedelta(days=1)),
            to_level=2,
            hidden_by_override=False,
        ),
        audit("transition", "area/dgs", at(8), to_level=3, hidden_by_override=False),
        audit("transition", "area/dgs", at(18), to_level=1, hidden_by_override=False),
        audit(
            "transition",
            "area/dgs",
            at(9, day=DAY + dt.timedelta(days=1)),
            to_level=4,
            hidden_by_override=False,
        ),
        audit("override", "county/kent", at(11), "group", level=3),
    ]
    since = {"area/swale": (2, at(6, day=DAY - dt.timedelta(days=3))), "area/west_kent": (3, at(20))}
    record = daily_record(DAY, records, [], since, at(23), records[0].at)
    rows = {row.scope: row for row in record.levels}
    assert [row.scope for row in record.levels] == ["county/kent", "area/dgs", "area/swale", "area/west_kent"]
    dgs = rows["area/dgs"]
    assert (dgs.start_level, dgs.highest_level, dgs.end_level) == (2, 3, 1)
    assert [(c.at, c.level) for c in dgs.changes] == [(at(8), 3), (at(18), 1)]
    assert (rows["county/kent"].start_level, rows["county/kent"].end_level) == (None, 3)
    # No record changes Swale: its level in force since three days ago held all day.
    assert (rows["area/swale"].start_level, rows["area/swale"].end_level) == (2, 2)
    # West Kent's level began after the day started and no record says so: not known.
    assert rows["area/west_kent"].start_level is None
    assert [(d.decision, d.author, d.level) for d in record.decisions] == [("override", "group", 3)]


def test_actions_of_the_day_with_who_did_what_and_when() -> None:
    still_open = item(at(8), id="00000000-0000-0000-0000-000000000001", reminded_at=at(10, 30))
    done = item(
        at(8),
        id="00000000-0000-0000-0000-000000000002",
        state="done",
        closed_at=at(9, 20),
        closed_by="sp-dgs",
        note="ok",
    )
    done_later = item(
        at(8),
        id="00000000-0000-0000-0000-000000000003",
        state="done",
        closed_at=at(9, day=DAY + dt.timedelta(days=1)),
        closed_by="sp-dgs",
    )
    long_over = item(
        at(8, day=DAY - dt.timedelta(days=2)),
        id="00000000-0000-0000-0000-000000000004",
        state="closed_by_stand_down",
        closed_at=at(18, day=DAY - dt.timedelta(days=2)),
        closed_by="stand-down",
    )
    tomorrow = item(at(8, day=DAY + dt.timedelta(days=1)), id="00000000-0000-0000-0000-000000000005")
    record = daily_record(DAY, [], [still_open, done, done_later, long_over, tomorrow], {}, at(23), None)
    actions = {a.item_id[-1]: a for a in record.actions}
    assert set(actions) == {"1", "2", "3"}
    assert [(e.event, e.by, e.at) for e in actions["1"].events] == [
        ("opened", "alerting", at(8)),
        ("reminded", "alerting", at(10, 30)),
    ]
    assert [(e.event, e.by, e.note) for e in actions["2"].events][-1] == ("done", "sp-dgs", "ok")
    assert (actions["2"].state_at_end, actions["3"].state_at_end) == ("done", "open")
    assert [e.event for e in actions["3"].events] == ["opened"]  # done the next day, not this one
