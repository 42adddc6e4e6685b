"""Action items in the pure core: opened by a level, marked by their role, stood down by a lower
level, reminded once past the plan's deadline, and audited at every change."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from opel.actions_load import default_action_plan
from opel.alerting.action_items import (
    PLAN_DEADLINES,
    ItemChange,
    apply_update,
    deadline,
    on_escalation,
    reminder_notice,
    reminders_due,
)
from opel.alerting.routing import PLAN_ROLES
from opel.contracts.action_item import ActionItem, ActionItemUpdate
from opel.contracts.escalation import EscalationData, PlanAction, RoleActions
from opel.levels import Level

T0 = datetime(2025, 11, 12, 9, 0, tzinfo=UTC)  # 09:00 in London (GMT)
PLAN = default_action_plan()
SHREWD_DAILY = "senior_practitioner.l2.shrewd_daily"
SHREWD_TWICE = "senior_practitioner.l3.shrewd_twice_daily"


def change(scope: str, before: int | None, after: int, at: datetime, **extra: object) -> EscalationData:
    """An area or county change carrying each role's actions from the shipped plan, as the worker sends it."""
    kind, _, name = scope.partition("/")
    actions = tuple(
        RoleActions(
            role=c.role.id,
            role_name=c.role.name,
            start=tuple(
                PlanAction(id=a.id, level=int(a.level), text=a.text, plan_ref=a.plan_ref) for a in c.start
            ),
            stand_down=tuple(
                PlanAction(id=a.id, level=int(a.level), text=a.text, plan_ref=a.plan_ref)
                for a in c.stand_down
            ),
        )
        for c in PLAN.changes(None if before is None else Level(before), Level(after))
        if c.changed
    )
    direction = "initial" if before is None else ("escalation" if after > before else "de-escalation")
    return EscalationData.model_validate(
        {
            "scope": scope,
            "kind": kind,
            kind: name,
            "from_level": before,
            "to_level": after,
            "to_colour": Level(after).colour,
            "direction": direction,
            "cause": "observation",
            "at": at,
            "actions": actions,
            **extra,
        }
    )


def apply(items: dict[str, ActionItem], changes: list[ItemChange]) -> dict[str, ActionItem]:
    return {**items, **{c.item.id: c.item for c in changes}}


def opened(
    scope: str = "area/dgs", to: int = 2, at: datetime = T0, items: Mapping[str, ActionItem] | None = None
) -> dict[str, ActionItem]:
    return apply(
        dict(items or {}),
        on_escalation(change(scope, None, to, at), f"esc-{scope}-{to}", items or {}, PLAN_ROLES),
    )


def the(items: Mapping[str, ActionItem], action_id: str, state: str = "open") -> ActionItem:
    found = [i for i in items.values() if i.action_id == action_id and i.state == state]
    assert len(found) == 1, (action_id, state, found)
    return found[0]


def mark(item: ActionItem, state: str, role: str | None = None, note: str | None = None) -> ActionItemUpdate:
    return ActionItemUpdate(
        type="action_item",
        item_id=item.id,
        state=state,
        role=role or item.role,
        author="sp-dgs",
        at=T0 + timedelta(minutes=20),
        note=note,
    )


# --- opening -------------------------------------------------------------------------------------


def test_a_level_opens_one_item_per_action_in_force_for_each_role() -> None:
    items = opened(to=3)
    expected = {(role, a.id) for role in PLAN.roles for a in PLAN.in_force(role, Level.OPEL_3)}
    assert {(i.role, i.action_id) for i in items.values()} == expected
    assert all(i.state == "open" and i.scope == "area/dgs" and i.area == "dgs" for i in items.values())
    assert all(i.opened_at == T0 and i.scope_level == 3 for i in items.values())


@pytest.mark.parametrize(
    ("scope", "extra", "opens"),
    [
        ("area/dgs", {}, True),
        ("county/kent", {}, True),
        ("site/maidstone", {}, False),  # a hospital's actions are for KCC to weigh, not in force
        ("system/kent_medway", {}, False),
        ("area/dgs", {"exercise": True}, False),
    ],
)
def test_which_changes_open_items(scope: str, extra: dict[str, object], opens: bool) -> None:
    data = change(scope, None, 3, T0, **extra)
    assert bool(on_escalation(data, "esc-1", {}, PLAN_ROLES)) is opens


def test_the_same_escalation_read_again_opens_nothing_new() -> None:
    data = change("area/dgs", None, 2, T0)
    first = on_escalation(data, "esc-1", {}, PLAN_ROLES)
    assert on_escalation(data, "esc-1", apply({}, first), PLAN_ROLES) == []


def test_a_rise_keeps_open_items_and_opens_only_the_new_level() -> None:
    items = opened(to=2)
    rise = on_escalation(change("area/dgs", 2, 3, T0 + timedelta(hours=1)), "esc-rise", items, PLAN_ROLES)
    assert {c.item.level for c in rise} == {3}
    assert all(c.item.state == "open" for c in rise)
    after = apply(items, rise)
    assert the(after, SHREWD_DAILY).opened_at == T0  # carried on, not reopened


def test_roles_outside_the_plan_get_no_items() -> None:
    data = change("area/dgs", None, 3, T0)
    assert on_escalation(data, "esc-1", {}, ["stp_team_manager"])
    assert {c.item.role for c in on_escalation(data, "esc-1", {}, ["stp_team_manager"])} == {
        "stp_team_manager"
    }
    assert on_escalation(data, "esc-1", {}, []) == []


# --- marking -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "role", "note", "result", "why"),
    [
        ("done", None, None, "done", "marked done by sp-dgs (senior_practitioner)"),
        ("done", None, "updated at 09:15", "done", "marked done by sp-dgs (senior_practitioner)"),
        ("not_applicable", None, "no SHREWD access today", "not_applicable", "marked not_applicable"),
        ("done", "stp_team_manager", None, "open", "belongs to senior_practitioner, not stp_team_manager"),
    ],
)
def test_a_role_marks_its_own_item(
    state: str, role: str | None, note: str | None, result: str, why: str
) -> None:
    items = opened()
    item = the(items, SHREWD_DAILY)
    marked, reason = apply_update(mark(item, state, role, note), items)
    assert why in reason
    after = apply(items, [marked] if marked else [])
    assert after[item.id].state == result
    if marked is not None:
        assert (marked.item.closed_by, marked.item.closed_at, marked.item.note) == (
            "sp-dgs",
            T0 + timedelta(minutes=20),
            note,
        )


def test_a_closed_or_unknown_item_cannot_be_marked() -> None:
    items = opened()
    item = the(items, SHREWD_DAILY)
    done, _ = apply_update(mark(item, "done"), items)
    assert done is not None
    after = apply(items, [done])
    again, reason = apply_update(mark(item, "not_applicable", note="changed my mind"), after)
    assert (again, reason) == (None, f"item {item.id} is already done")
    unknown = mark(item, "done").model_copy(update={"item_id": "00000000-0000-0000-0000-000000000000"})
    assert apply_update(unknown, items)[0] is None


def test_not_applicable_needs_a_note() -> None:
    item = the(opened(), SHREWD_DAILY)
    with pytest.raises(ValidationError, match="note: is required"):
        mark(item, "not_applicable")


# --- stand-down ----------------------------------------------------------------------------------


def test_stand_down_closes_the_open_items_of_the_levels_left_and_nothing_else() -> None:
    items = apply(
        opened(to=2), on_escalation(change("area/dgs", 2, 3, T0), "esc-3", opened(to=2), PLAN_ROLES)
    )
    level2 = the(items, SHREWD_DAILY)
    done, _ = apply_update(mark(level2, "done"), items)
    assert done is not None
    items = apply(items, [done])
    fall = on_escalation(change("area/dgs", 3, 1, T0 + timedelta(hours=5)), "esc-1", items, PLAN_ROLES)
    assert all(c.item.state == "closed_by_stand_down" for c in fall)
    assert all(c.item.closed_by == "stand-down" and c.item.closed_at == T0 + timedelta(hours=5) for c in fall)
    after = apply(items, fall)
    assert [i for i in after.values() if i.state == "open"] == []
    assert after[level2.id].state == "done"  # what was done stays done


def test_stand_down_of_one_area_leaves_another_open() -> None:
    items = opened("area/dgs", 2)
    items = opened("area/swale", 2, items=items)
    fall = on_escalation(change("area/dgs", 2, 1, T0 + timedelta(hours=1)), "esc-dgs-1", items, PLAN_ROLES)
    assert {c.item.scope for c in fall} == {"area/dgs"}
    assert all(i.state == "open" for i in apply(items, fall).values() if i.scope == "area/swale")


# --- deadlines and reminders ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action_id", "opened_at", "due"),
    [
        # App. 3: SHREWD updated daily before 10:30 (London; GMT in November, BST in July).
        (SHREWD_DAILY, "2025-11-12T09:00:00Z", "2025-11-12T10:30:00Z"),
        (SHREWD_DAILY, "2025-11-12T10:30:00Z", "2025-11-13T10:30:00Z"),
        (SHREWD_DAILY, "2025-07-01T08:00:00Z", "2025-07-01T09:30:00Z"),
        # OPEL 3: by 10:30 and again between 14:00 and 15:30: whichever comes next.
        (SHREWD_TWICE, "2025-11-12T09:00:00Z", "2025-11-12T10:30:00Z"),
        (SHREWD_TWICE, "2025-11-12T11:00:00Z", "2025-11-12T15:30:00Z"),
        (SHREWD_TWICE, "2025-11-12T16:00:00Z", "2025-11-13T10:30:00Z"),
        # Untimed: the first 10:00 daily assessment at least 4 hours away.
        ("stp_team_manager.l3.prioritise_discharge", "2025-11-12T05:00:00Z", "2025-11-12T10:00:00Z"),
        ("stp_team_manager.l3.prioritise_discharge", "2025-11-12T06:00:00Z", "2025-11-12T10:00:00Z"),
        ("stp_team_manager.l3.prioritise_discharge", "2025-11-12T06:01:00Z", "2025-11-13T10:00:00Z"),
        ("stp_team_manager.l3.prioritise_discharge", "2025-11-12T09:50:00Z", "2025-11-13T10:00:00Z"),
    ],
)
def test_deadline(action_id: str, opened_at: str, due: str) -> None:
    assert deadline(action_id, datetime.fromisoformat(opened_at))[0] == datetime.fromisoformat(due)


def test_every_timed_action_is_in_the_shipped_plan() -> None:
    assert set(PLAN_DEADLINES) <= {a.id for a in PLAN.actions}


def test_an_open_item_past_its_deadline_is_reminded_once() -> None:
    items = opened(to=2)
    item = the(items, SHREWD_DAILY)
    assert item.due_at == datetime(2025, 11, 12, 10, 30, tzinfo=UTC)
    assert [c.item.id for c in reminders_due(items.values(), item.due_at - timedelta(seconds=1))] == []
    first = reminders_due(items.values(), item.due_at)
    assert item.id in {c.item.id for c in first}
    after = apply(items, first)
    assert after[item.id].reminded_at == item.due_at
    assert after[item.id].state == "open"
    assert item.id not in {c.item.id for c in reminders_due(after.values(), item.due_at + timedelta(days=1))}


def test_a_marked_item_is_not_reminded() -> None:
    items = opened(to=2)
    item = the(items, SHREWD_DAILY)
    done, _ = apply_update(mark(item, "done"), items)
    assert done is not None
    after = apply(items, [done])
    assert item.id not in {c.item.id for c in reminders_due(after.values(), item.due_at + timedelta(hours=1))}


def test_the_reminder_goes_to_the_owner_and_says_what_is_open() -> None:
    item = the(opened(to=2), SHREWD_DAILY)
    notice = reminder_notice(item)
    assert (notice.role, notice.area, notice.job) == ("senior_practitioner", "dgs", "action-item")
    assert notice.rendered.subject == "Action overdue: Dartford, Gravesham and Swanley"
    assert item.text in notice.rendered.text
    assert item.id in notice.rendered.text
    assert reminder_notice(item).id == notice.id  # the same reminder twice is one delivery


# --- the audit trail -----------------------------------------------------------------------------


def test_every_change_has_its_audit_record() -> None:
    data = change("area/dgs", None, 2, T0)
    opening = on_escalation(data, "esc-2", {}, PLAN_ROLES)
    items = apply({}, opening)
    item = the(items, SHREWD_DAILY)
    marked, _ = apply_update(mark(item, "not_applicable", note="SHREWD down; phoned the hub"), items)
    assert marked is not None
    reminded = reminders_due(items.values(), T0 + timedelta(days=1))
    fall = on_escalation(
        change("area/dgs", 2, 1, T0 + timedelta(days=1)), "esc-1", apply(items, [marked]), PLAN_ROLES
    )
    changes = [*opening, marked, *reminded, *fall]
    rules = {c.audit.rule for c in changes}
    assert rules == {"opened", "not_applicable", "reminded", "closed_by_stand_down"}
    for c in changes:
        audit = c.audit
        assert (audit.decision, audit.scope) == ("action_item", "area/dgs")
        assert audit.outcome == {
            "item_id": c.item.id,
            "state": c.item.state,
            "role": c.item.role,
            "action_id": c.item.action_id,
        }
        assert audit.input is not None
        assert audit.input["item_id"] == c.item.id
    assert (marked.audit.author, marked.audit.reason, marked.audit.at) == (
        "sp-dgs",
        "SHREWD down; phoned the hub",
        T0 + timedelta(minutes=20),
    )
    assert len({c.audit.id for c in changes}) == len(changes)
    # Content-hashed: the same change decided again has the same id, so a replay is a repeat.
    assert [c.audit.id for c in on_escalation(data, "esc-2", {}, PLAN_ROLES)] == [c.audit.id for c in opening]


def test_every_plan_role_is_an_api_role() -> None:
    """The API's role names are a Literal for typing, so the plan roles are written there a
    second time; a role added to one list and not the other could never mark its own items."""
    from typing import get_args  # noqa: PLC0415

    from streams.web.auth import RoleName  # noqa: PLC0415

    assert set(PLAN_ROLES) <= set(get_args(RoleName))
