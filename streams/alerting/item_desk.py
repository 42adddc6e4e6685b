"""Alerting's shell for action items: escalations and marks in, item and audit records out.

The decisions are :mod:`opel.alerting.action_items`'; this module only moves their results.
Each change is published (``opel.action-items.v1``, then its ``opel.audit.v1`` record) before it
is written to the notification log: after a crash between the two the input is read again,
the core gives the same item (deterministic ids, same times) and the same audit id, so a
reader sees a repeat, never a gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from opel.alerting import action_items
from opel.alerting.message import EXERCISE_BANNER, SMS_LIMIT
from opel.alerting.notices import DutyNotice
from opel.alerting.outputs import Keyed
from opel.alerting.plan_routes import with_plan_actions
from opel.alerting.routing import PLAN_ROLES
from opel.contracts.action_item import ActionItem, ActionItemUpdate
from opel.contracts.escalation import EscalationEvent
from opel.validation_errors import field_problems, first_problem

if TYPE_CHECKING:
    from streams.alerting.service import AlertingService

# These functions are the service's own steps, kept apart from its loop; they use its writers.


async def on_escalation(service: AlertingService, event: EscalationEvent) -> None:
    """Open and stand down the items a level change brings (area and county changes)."""
    data = with_plan_actions(event.data, service.routing, service.action_plan)
    changes = action_items.on_escalation(
        data,
        event.id,
        service.state.items,
        PLAN_ROLES,
        service.routing.clock.zone,
        exercise=service.exercise_only,
    )
    await _save(service, changes)


async def on_command(service: AlertingService, raw: dict[str, Any]) -> None:
    """A role's mark; a refused or unknown one is logged and changes nothing."""
    try:
        command = ActionItemUpdate.model_validate(raw)
    except ValidationError as exc:
        path, problem = first_problem(field_problems(exc, model=ActionItemUpdate))
        service.count_refused("ack")
        service._decide(f"action item mark refused: {path or '(message)'}: {problem}")
        return
    change, reason = action_items.apply_update(command, service.state.items)
    service._decide(f"action item {command.item_id}: {reason}")
    if change is not None:
        await _save(service, [change])


async def remind(service: AlertingService, now: datetime) -> None:
    """Remind each open item past its deadline, once, through the owner's contacts (an exercise's
    through the exercise routes' roles, marked EXERCISE: its owners' contacts are live ones)."""
    changes = action_items.reminders_due(service.state.items.values(), now)
    if not changes:
        return
    notices = [n for c in changes for n in _reminders(service, c.item)]
    await service._queue_duty(notices, now)
    await _save(service, changes)


def _reminders(service: AlertingService, item: ActionItem) -> list[DutyNotice]:
    notice = action_items.reminder_notice(item, service._vocab)
    if not service.exercise_only:
        return [notice]
    rendered = replace(
        notice.rendered,
        subject=f"EXERCISE {notice.rendered.subject}",
        text=f"{EXERCISE_BANNER}\n{notice.rendered.text}",
        short=f"EXERCISE {notice.rendered.short}"[:SMS_LIMIT],
    )
    roles = dict.fromkeys(r for route in service.routing.routes if route.match.exercise for r in route.roles)
    return [replace(notice, role=role, rendered=rendered) for role in roles]


async def _save(service: AlertingService, changes: Sequence[action_items.ItemChange]) -> None:
    topics = service._topics
    for change in changes:
        item = change.item
        await service._publish(topics.action_items, Keyed(item.id, item))
        await service._publish(topics.audit, Keyed(item.scope, change.audit))
        await service._write([("item", item.id, item)])
        service.state.items[item.id] = item
        service._decide(f"action item {item.id} ({item.role}, {item.action_id}): {change.reason}")
