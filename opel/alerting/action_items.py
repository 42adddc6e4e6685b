"""Action items as a pure state machine: the plan's actions for a role at a scope's level, from
the moment a level starts them until the role marks them or the level stands them down.

::

    escalation start ──> open ──(role: done | not_applicable, with a note)──> closed
                          │  └──(escalation stand_down)──> closed_by_stand_down
                          └──(now >= due_at, once)──> reminded (still open)

Only area and county changes open items: the worker attaches each role's actions to those
(plan section 8); a hospital site's or the system's actions are for KCC to weigh (section 8,
Appendix 4), not in force. Live alerting opens none for exercise changes, and the exercise's
own alerting (``exercise=True``) opens them only for exercise changes. Every change comes with its
``opel.audit.v1`` record, so the shell writes both or neither.

Deadlines: an action the plan times has that time (:data:`PLAN_DEADLINES`, Appendix 3's SHREWD
updates); any other is due at the first 10:00 daily assessment (plan 3.1) at least
:data:`DEFAULT_LEAD` after it opened, so that its reminder reaches the role at the start of a
working morning rather than in the night, and never within minutes of the item opening.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from opel.alerting import clock
from opel.alerting.message import Vocabulary, level_words, render_duty, when
from opel.alerting.notices import DutyNotice
from opel.alerting.records import duty_id
from opel.contracts.action_item import ActionItem, ActionItemUpdate
from opel.contracts.audit import AuditRecord, audit_record
from opel.contracts.escalation import EscalationData, PlanAction, RoleActions

NAMESPACE = uuid.UUID("5d0c7a3e-2b4f-4e61-9a8d-3f1e6c2b7a90")
ITEM_KINDS: frozenset[str] = frozenset({"area", "county"})
"""Scope kinds whose level changes put actions in force."""
AUTHOR = "alerting"
STAND_DOWN = "stand-down"
DEFAULT_LEAD = timedelta(hours=4)


@dataclass(frozen=True, slots=True)
class PlanDeadline:
    """Local clock times an action must be done by (the next one after it opens), and the plan's words."""

    times: tuple[time, ...]
    rule: str


PLAN_DEADLINES: Mapping[str, PlanDeadline] = {
    "senior_practitioner.l2.shrewd_daily": PlanDeadline(
        (clock.MORNING_DEADLINE,), "App. 3: SHREWD updated daily before 10:30"
    ),
    "senior_practitioner.l3.shrewd_twice_daily": PlanDeadline(
        (clock.MORNING_DEADLINE, clock.AFTERNOON_WINDOW[1]),
        "App. 3: SHREWD updated by 10:30 and again between 14:00 and 15:30",
    ),
}
"""The actions the plan gives a clock time, by action id (``tests/test_action_items.py`` checks
every id against the shipped action plan)."""


@dataclass(frozen=True, slots=True)
class ItemChange:
    """An item as it is after one change, the audit record of that change, and why."""

    item: ActionItem
    audit: AuditRecord
    reason: str


def item_id(escalation_id: str, scope: str, role: str, action_id: str) -> str:
    """Deterministic, so the same escalation read again after a crash opens nothing new."""
    return str(uuid.uuid5(NAMESPACE, f"item|{escalation_id}|{scope}|{role}|{action_id}"))


def deadline(action_id: str, opened_at: datetime, tz: ZoneInfo = clock.LONDON) -> tuple[datetime, str]:
    """When an item opened at ``opened_at`` is due, and the rule that says so."""
    timed = PLAN_DEADLINES.get(action_id)
    if timed is not None:
        return min(clock.next_daily(opened_at, at, tz) for at in timed.times), timed.rule
    due = clock.next_daily(opened_at + DEFAULT_LEAD - timedelta(microseconds=1), clock.DAILY_ASSESSMENT, tz)
    return due, "default: the first 10:00 daily assessment (plan 3.1) at least 4 hours after opening"


def _audit(  # noqa: PLR0917  (every part of the record is needed)
    item: ActionItem, transition: str, at: datetime, author: str, reason: str, input: dict[str, object]
) -> AuditRecord:
    return audit_record(
        "action_item",
        item.scope,
        at,
        input={"item_id": item.id, **input},
        rule=transition,
        author=author,
        reason=reason,
        outcome={"item_id": item.id, "state": item.state, "role": item.role, "action_id": item.action_id},
    )


def _open_item(
    data: EscalationData, escalation_id: str, entry: RoleActions, action: PlanAction, tz: ZoneInfo
) -> ItemChange:
    due, rule = deadline(action.id, data.at, tz)
    item = ActionItem(
        id=item_id(escalation_id, data.scope, entry.role, action.id),
        scope=data.scope,
        area=data.area,
        role=entry.role,
        role_name=entry.role_name,
        action_id=action.id,
        text=action.text,
        plan_ref=action.plan_ref,
        level=action.level,
        scope_level=data.to_level,
        escalation_id=escalation_id,
        opened_at=data.at,
        due_at=due,
        due_rule=rule,
        state="open",
        updated_at=data.at,
    )
    reason = f"opened for {entry.role} at {data.scope} OPEL {data.to_level}, due {due.isoformat()}"
    return ItemChange(
        item, _audit(item, "opened", data.at, AUTHOR, reason, {"escalation_id": escalation_id}), reason
    )


def on_escalation(
    data: EscalationData,
    escalation_id: str,
    items: Mapping[str, ActionItem],
    roles: Iterable[str],
    tz: ZoneInfo = clock.LONDON,
    *,
    exercise: bool = False,
) -> list[ItemChange]:
    """The items a level change opens and stands down, for the ``roles`` that can own one.

    ``exercise`` says whose items these are: a live exercise's own alerting passes True, so
    that live and exercise items never open for each other's level changes.

    ``data.actions`` must already name real roles (Appendix 3's summary actions folded into
    them, :func:`opel.alerting.plan_routes.with_plan_actions`). An action already open for the
    role at the scope (carried on from a lower level) is not opened twice.
    """
    if data.kind not in ITEM_KINDS or data.exercise != exercise:
        return []
    owners = frozenset(roles)
    # Open items of this scope by (role, action): one pass over the items, however many there are.
    open_now = {
        (i.role, i.action_id): i for i in items.values() if i.state == "open" and i.scope == data.scope
    }
    changes: list[ItemChange] = []
    for entry in data.actions:
        if entry.role not in owners:
            continue
        for action in entry.stand_down:
            found = open_now.pop((entry.role, action.id), None)
            if found is None:
                continue
            closed = found.model_copy(
                update={
                    "state": "closed_by_stand_down",
                    "closed_at": data.at,
                    "closed_by": STAND_DOWN,
                    "updated_at": data.at,
                }
            )
            reason = f"stood down: {data.scope} OPEL {data.to_level}"
            changes.append(
                ItemChange(
                    closed,
                    _audit(
                        closed,
                        "closed_by_stand_down",
                        data.at,
                        AUTHOR,
                        reason,
                        {"escalation_id": escalation_id},
                    ),
                    reason,
                )
            )
        for action in entry.start:
            ident = item_id(escalation_id, data.scope, entry.role, action.id)
            if ident in items or (entry.role, action.id) in open_now:
                continue  # a replay, or still open from before
            change = _open_item(data, escalation_id, entry, action, tz)
            changes.append(change)
            open_now[(entry.role, action.id)] = change.item
    return changes


def apply_update(command: ActionItemUpdate, items: Mapping[str, ActionItem]) -> tuple[ItemChange | None, str]:
    """A role marks its own open item; anything else changes nothing and says why."""
    item = items.get(command.item_id)
    if item is None:
        return None, f"no action item {command.item_id}"
    if item.role != command.role:
        return None, f"item {item.id} belongs to {item.role}, not {command.role}"
    if item.state != "open":
        return None, f"item {item.id} is already {item.state}"
    marked = item.model_copy(
        update={
            "state": command.state,
            "closed_at": command.at,
            "closed_by": command.author,
            "note": command.note,
            "updated_at": command.at,
        }
    )
    reason = f"marked {command.state} by {command.author} ({command.role})"
    input = command.model_dump(mode="json", exclude_none=True)
    return ItemChange(
        marked,
        _audit(marked, command.state, command.at, command.author, command.note or reason, input),
        reason,
    ), reason


def reminders_due(items: Iterable[ActionItem], now: datetime) -> list[ItemChange]:
    """Open items past their deadline that have not been reminded: each is reminded once."""
    changes: list[ItemChange] = []
    for item in sorted(items, key=lambda i: (i.due_at, i.id)):
        if item.state != "open" or item.reminded_at is not None or item.due_at > now:
            continue
        reminded = item.model_copy(update={"reminded_at": now, "updated_at": now})
        reason = f"past its deadline {item.due_at.isoformat()} ({item.due_rule})"
        changes.append(
            ItemChange(
                reminded,
                _audit(reminded, "reminded", now, AUTHOR, reason, {"due_at": item.due_at.isoformat()}),
                reason,
            )
        )
    return changes


def reminder_notice(item: ActionItem, vocab: Vocabulary | None = None) -> DutyNotice:
    """The message that reminds the owner of an open item past its deadline."""
    words = vocab or Vocabulary()
    place = words.areas.get(item.area, item.area) if item.area else "Kent County Council"
    body = [
        f"Still open: {item.text} (plan {item.plan_ref})",
        f"Started for {words.roles.get(item.role, item.role)} when {place} reached "
        f"{level_words(item.scope_level)} at {when(item.opened_at)}; "
        f"due {when(item.due_at)} ({item.due_rule}).",
        "Mark it done, or not applicable with the reason, on the board or the API "
        f"(POST /action-items/{item.id}).",
    ]
    rendered = render_duty(f"Action overdue: {place}", body)
    return DutyNotice(
        duty_id("action-item", item.id, item.due_at),
        "action-item",
        item.role,
        item.area,
        rendered,
        f"action item {item.id} open past {item.due_at.isoformat()}",
        level=item.scope_level,
    )
