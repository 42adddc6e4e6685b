"""``opel.escalations.v1``: a change of the level in force, as a CloudEvents 1.0 structured event.

One shared pydantic model rather than the ``cloudevents`` SDK: the SDK types ``data`` as
``Any``, so neither the worker nor the alerting service would get a typed, validated payload,
and no JSON Schema could be generated for partners; the envelope is six fixed attributes that
a model states exactly. The worker builds it, alerting and partners validate with it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from opel.contracts.base import Colour, Contract, LevelNumber, ScopeKindName
from opel.contracts.status import SitePoints, Value

Direction = Literal["initial", "escalation", "de-escalation"]
Cause = Literal["observation", "dwell", "override", "override-ended", "reset"]
EVENT_TYPES: dict[Direction, str] = {
    "initial": "uk.gov.kent.opel.initial",
    "escalation": "uk.gov.kent.opel.escalation",
    "de-escalation": "uk.gov.kent.opel.de-escalation",
}
EventType = Literal[
    "uk.gov.kent.opel.initial",
    "uk.gov.kent.opel.escalation",
    "uk.gov.kent.opel.de-escalation",
]


class PlanAction(Contract):
    id: str
    level: LevelNumber
    text: str
    plan_ref: str


class RoleActions(Contract):
    """What one role starts and stands down because of this change (plan section 8)."""

    role: str
    role_name: str
    start: tuple[PlanAction, ...] = ()
    stand_down: tuple[PlanAction, ...] = ()


class Evidence(Contract):
    """Why the level changed: the computed level and the facts of the scope's status at the time.

    Which facts are set depends on the kind of scope (an indicator's value and band, an area's
    driving indicators, the county's areas assessed, a site's or system's score)."""

    computed_level: LevelNumber | None = None
    explanation: str | None = None
    value: Value | None = None
    band: str | None = None
    driving: tuple[str, ...] = ()
    areas_assessed: int | None = None
    score: float | None = None
    score_max: float | None = None
    score_scale: float | None = None
    complete: bool | None = None
    missing: tuple[str, ...] = ()
    normalised_score: float | None = None
    normalised_level: LevelNumber | None = None
    aggregate_level: LevelNumber | None = None
    points: dict[str, SitePoints] = Field(default_factory=dict)
    late: bool | None = None
    observed_at: AwareDatetime | None = None
    catalogue: str | None = None
    catalogue_version: str | None = None


class EscalationData(Contract):
    scope: str
    kind: ScopeKindName
    area: str | None = None
    indicator: str | None = None
    site: str | None = None
    system: str | None = None
    county: str | None = None
    from_level: LevelNumber | None = None
    from_colour: Colour | None = None
    to_level: LevelNumber
    to_colour: Colour
    direction: Direction
    cause: Cause
    at: AwareDatetime
    exercise: bool = False
    evidence: Evidence = Evidence()
    actions: tuple[RoleActions, ...] = ()

    def actions_for(self, role: str) -> RoleActions | None:
        return next((entry for entry in self.actions if entry.role == role), None)


class EscalationEvent(Contract):
    """A CloudEvents 1.0 structured-mode escalation; key = subject (the scope key)."""

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, description="The transition's deterministic id (same after any replay).")
    source: str
    type: EventType
    subject: str
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    data: EscalationData
