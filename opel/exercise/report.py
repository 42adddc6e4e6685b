"""The after-action report: a played scenario and its recorded responses, each expected action
measured against the plan's deadline (issue 16, point 6).

An expected action is in force from the first time its scope reaches the action's level. It is
due by ``within`` of that moment when the scenario gives one (the plan's hours, e.g. a KEaH
referrer told within 2 h), else by the deadline alerting gives the item
(:func:`opel.alerting.action_items.deadline`: SHREWD by 10:30, otherwise the next 10:00
assessment at least 4 hours on). The first ``done`` or ``referrer_told`` response for the same
role, action and scope within the exercise marks it done: on time at or before the deadline,
late after it, never done without one. An action whose level the scope never reached is
``not_triggered``, so a scenario that fails to escalate shows as such rather than as lateness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from opel.actions import ActionPlan
from opel.alerting.action_items import deadline
from opel.contracts.exercise_report import OUTCOMES, ExerciseReport, ExpectedResult, Outcome, TimelineEntry

from .play import Played
from .scenario import Expected, Response, Scenario, format_offset


def classify(due_at: datetime | None, done_at: datetime | None) -> tuple[Outcome, int | None]:
    """The outcome, and whole minutes late (rounded up) when late."""
    if due_at is None:
        return "not_triggered", None
    if done_at is None:
        return "never_done", None
    if done_at <= due_at:
        return "on_time", None
    return "late", math.ceil((done_at - due_at).total_seconds() / 60)


def in_words(delta: timedelta) -> str:
    hours, minutes = divmod(int(delta.total_seconds() // 60), 60)
    return " ".join(
        part for part in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "") if part
    )


def _reached(played: Played, scope: str, level: int) -> datetime | None:
    for event in played.escalations:
        if event.subject == scope and event.data.to_level >= level:
            return event.data.at
    return None


def _measure(
    scenario: Scenario, expected: Expected, plan: ActionPlan, played: Played, responses: Sequence[Response]
) -> ExpectedResult:
    action = next(a for a in plan.actions if a.id == expected.action)
    level = expected.level or int(action.level)
    triggered = _reached(played, expected.scope, level)
    due_at: datetime | None = None
    rule: str | None = None
    if triggered is not None:
        if expected.within is not None:
            due_at, rule = triggered + expected.within, f"scenario: within {in_words(expected.within)}"
        else:
            due_at, rule = deadline(expected.action, triggered)
    end = scenario.start + scenario.duration
    done_at = next(
        (
            scenario.start + r.at
            for r in responses
            if r.kind != "acknowledged"
            and (r.role, r.action, r.scope) == (expected.role, expected.action, expected.scope)
            and scenario.start + r.at <= end
            and (triggered is None or scenario.start + r.at >= triggered)
        ),
        None,
    )
    outcome, late_by = classify(due_at, done_at)
    return ExpectedResult(
        role=expected.role,
        action_id=expected.action,
        text=action.text,
        scope=expected.scope,
        level=level,
        triggered_at=triggered,
        due_at=due_at,
        due_rule=rule,
        done_at=done_at,
        outcome=outcome,
        late_by_minutes=late_by,
    )


def _inject_text(played: Played, index: int) -> tuple[str | None, str]:
    inject = played.inputs[index][0]
    if inject.reading is not None:
        r = inject.reading
        return f"area/{r.area}", f"reading {r.indicator} = {r.value:g}"
    if inject.submission is not None:
        reported = inject.submission.parameters.reported()
        return f"site/{inject.submission.site}", f"acute submission ({len(reported)} parameters)"
    o = inject.override
    assert o is not None
    return o.scope, f"override to OPEL {o.level} for {format_offset(o.lasts)}: {o.reason}"


def timeline(scenario: Scenario, played: Played, responses: Sequence[Response]) -> list[TimelineEntry]:
    entries: list[tuple[datetime, int, TimelineEntry]] = []

    def add(at: datetime, order: int, **fields: object) -> None:
        entry = TimelineEntry.model_validate(
            {"at": at, "offset": format_offset(at - scenario.start), **fields}
        )
        entries.append((at, order, entry))

    for index, (inject, _) in enumerate(played.inputs):
        scope, text = _inject_text(played, index)
        add(scenario.start + inject.at, 0, kind="inject", scope=scope, text=text)
    for event in played.escalations:
        if event.data.kind == "indicator":
            continue  # the area's change says it; an indicator's own is detail for the board
        before = "no level" if event.data.from_level is None else f"OPEL {event.data.from_level}"
        add(
            event.data.at,
            1,
            kind="escalation",
            scope=event.subject,
            text=f"{before} -> OPEL {event.data.to_level} ({event.data.cause})",
        )
    for item in played.items:
        add(
            item.opened_at,
            2,
            kind="action_item",
            scope=item.scope,
            role=item.role,
            text=f"opened {item.action_id}, due {item.due_at.isoformat()}",
        )
    for response in responses:
        what = response.action or "alert"
        note = f": {response.note}" if response.note else ""
        add(
            scenario.start + response.at,
            3,
            kind="response",
            scope=response.scope,
            role=response.role,
            text=f"{response.kind.replace('_', ' ')} {what}{note}",
        )
    entries.sort(key=lambda e: (e[0], e[1], e[2].scope or "", e[2].role or "", e[2].text))
    return [entry for _, _, entry in entries]


def build_report(
    scenario: Scenario,
    played: Played,
    plan: ActionPlan,
    responses: Sequence[Response] | None = None,
) -> ExerciseReport:
    """The report; ``responses`` default to the scenario's own section."""
    recorded = tuple(scenario.responses if responses is None else responses)
    results = tuple(_measure(scenario, e, plan, played, recorded) for e in scenario.expected)
    counts: dict[Outcome, int] = dict.fromkeys(OUTCOMES, 0)
    for result in results:
        counts[result.outcome] += 1
    return ExerciseReport(
        scenario=scenario.name,
        description=scenario.description,
        started_at=scenario.start,
        ended_at=scenario.start + scenario.duration,
        catalogue=scenario.catalogue,
        action_plan=plan.id,
        final_levels={s: level for s, level in played.final_levels.items() if not s.startswith("indicator/")},
        timeline=tuple(timeline(scenario, played, recorded)),
        expected=results,
        counts=counts,
    )
