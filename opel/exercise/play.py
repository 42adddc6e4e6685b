"""A scenario played through the pure core: the oracle (:mod:`opel.replay`) over its injects,
then the action items those level changes open (:mod:`opel.alerting.action_items`), as the
alerting service would open them.

Nothing here reads a clock or touches Kafka: the same scenario always plays the same way. This
is the offline half of issue 16, and what a live exercise publishes (``streams.exercise``, with
``ctx.exercise`` set, so every escalation is marked as exercise).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from opel.alerting import action_items, clock
from opel.alerting.routing import PLAN_ROLES
from opel.contracts.action_item import ActionItem
from opel.contracts.escalation import EscalationEvent
from opel.feeds import Override
from opel.models import AcuteSubmission, Reading
from opel.replay import Input, replay
from opel.stages.context import Context

from .scenario import Inject, Scenario, ScenarioError

NAMESPACE = uuid.UUID("0f6c1f0e-8d3b-4a57-9a51-7f1de4b0c2a1")


@dataclass(frozen=True, slots=True)
class Played:
    """What the core made of a scenario's injects (an inject the core refuses is a
    :class:`ScenarioError`, never dropped)."""

    inputs: tuple[tuple[Inject, Input], ...]
    escalations: tuple[EscalationEvent, ...]
    items: tuple[ActionItem, ...]
    final_levels: dict[str, int]


def to_input(scenario: Scenario, index: int, inject: Inject) -> Input:
    """The core's input for one inject, at its time from the scenario's start."""
    at: datetime = scenario.start + inject.at
    if inject.reading is not None:
        r = inject.reading
        return Reading(indicator=r.indicator, area=r.area, value=r.value, observed_at=at)
    if inject.submission is not None:
        return AcuteSubmission(
            site=inject.submission.site, observed_at=at, parameters=inject.submission.parameters
        )
    command = inject.override
    assert command is not None  # the scenario model checks one is given
    return Override(
        type="override",
        id=str(uuid.uuid5(NAMESPACE, f"{scenario.name}|{index}")),
        scope=command.scope,
        level=command.level,
        author=command.author,
        reason=command.reason,
        at=at,
        expires_at=at + command.lasts,
    )


def play(scenario: Scenario, ctx: Context) -> Played:
    inputs = tuple(
        (inject, to_input(scenario, index, inject)) for index, inject in enumerate(scenario.injects)
    )
    out = replay([value for _, value in inputs], ctx)
    escalations = tuple(sorted(out.escalations, key=lambda e: (e.time, e.subject, e.id)))
    items: dict[str, ActionItem] = {}
    for event in escalations:
        changes = action_items.on_escalation(
            event.data, event.id, items, PLAN_ROLES, clock.LONDON, exercise=ctx.exercise
        )
        for change in changes:
            items[change.item.id] = change.item
    for refused in out.refused:
        index = next(i for i, (_, value) in enumerate(inputs) if value is refused.input)
        raise ScenarioError(scenario.name, f"injects[{index}].{refused.field}", refused.reason)
    final = {event.subject: event.data.to_level for event in escalations}
    return Played(
        inputs=inputs,
        escalations=escalations,
        items=tuple(sorted(items.values(), key=lambda i: (i.opened_at, i.scope, i.role, i.action_id))),
        final_levels=dict(sorted(final.items())),
    )


def until(scenario: Scenario, played: Played, end: datetime) -> tuple[Scenario, Played]:
    """The scenario and what the core made of it, cut at ``end``: an exercise stopped early is
    scored on what had happened by then, not on injects it never reached."""
    if end >= scenario.start + scenario.duration:
        return scenario, played
    escalations = tuple(e for e in played.escalations if e.time <= end)
    final = {event.subject: event.data.to_level for event in escalations}
    cut = Played(
        inputs=tuple((inject, value) for inject, value in played.inputs if scenario.start + inject.at <= end),
        escalations=escalations,
        items=tuple(i for i in played.items if i.opened_at <= end),
        final_levels=dict(sorted(final.items())),
    )
    return scenario.model_copy(update={"duration": max(end - scenario.start, timedelta(0))}), cut
