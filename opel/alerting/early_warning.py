"""Early warnings to the indicator's owner (issue 16, point 2).

A route whose ``match.kinds`` names ``warning`` selects which opened warnings are told (by area,
indicator, ``level_at_least`` on the projected level, exercise or live); the warning goes to the
indicator's owner (``clock.indicator_owners``, else ``clock.deadline_role``) when the route lists
that role. So the routing file says who may hear of warnings, and the owners list, already used
by the 10:00 nudge, says whose indicator it is. Only an opened warning is told: one that came
true is followed by the escalation's own alert, and a closed one by silence.

A warning is a notice, not an alert: nothing to acknowledge, no repeat, no escalation policy.
It changes no level.
"""

from __future__ import annotations

from opel.alerting.message import Vocabulary, render_duty, when
from opel.alerting.notices import DutyNotice
from opel.alerting.records import duty_id
from opel.alerting.routing import Match, RoutingConfig
from opel.contracts.warning import WarningData, WarningEvent
from opel.levels import Level

JOB = "warning"


def _matches(match: Match, data: WarningData) -> bool:
    return (
        match.kinds is not None
        and "warning" in match.kinds
        and (match.areas is None or data.area in match.areas)
        and (match.indicators is None or data.indicator in match.indicators)
        and data.projected_level >= match.level_at_least
        and match.exercise == data.exercise
    )


def owner_of(indicator: str, routing: RoutingConfig) -> str:
    clock = routing.clock
    return clock.indicator_owners.get(indicator, clock.deadline_role)


def warning_notices(
    event: WarningEvent, routing: RoutingConfig, vocab: Vocabulary | None = None
) -> list[DutyNotice]:
    """The notice of an opened warning to its indicator's owner, if a warning route lists the owner."""
    data = event.data
    if data.status != "open":
        return []
    owner = owner_of(data.indicator, routing)
    routes = [r for r in routing.routes if _matches(r.match, data) and owner in r.roles]
    if not routes:
        return []
    words = vocab or Vocabulary()
    place = words.areas.get(data.area, data.area)
    name = words.indicators.get(data.indicator, data.indicator)
    projected = Level(data.projected_level)
    now = Level(data.current_level)
    title = f"Early warning: {name}, {place}, heading for {projected.label} {projected.colour}"
    body = [
        f"{name} in {place} is projected to reach {projected.label} {projected.colour} "
        f"at about {when(data.expected_at)} (now {now.label} {now.colour}); "
        f"confidence {round(data.confidence * 100)} % within {data.horizon_hours} h.",
        f"Latest reading {data.readings[-1].value:g} at {when(data.readings[-1].observed_at)}; "
        f"{len(data.readings)} readings used."
        if data.readings
        else "No readings listed.",
        data.method_text,
        "This is a warning only: the level has not changed.",
    ]
    return [
        DutyNotice(
            duty_id(JOB, f"{owner}/{data.scope}", data.opened_at),
            JOB,
            owner,
            data.area,
            render_duty(title, body, exercise=data.exercise),
            f"warning {data.warning_id} via route {routes[0].name}: {data.reason}",
            level=data.projected_level,
        )
    ]
