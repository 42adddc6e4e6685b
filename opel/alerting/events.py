"""What alerting reads: escalation CloudEvents (docs/topics.md) and acknowledgements.

Also the one function the HTTP API calls to turn an acknowledgement POST into the command it
writes to ``opel.commands.v1``, so both doors produce exactly the same record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from opel.feeds import Acknowledge

ESCALATION_TYPES = (
    "uk.gov.kent.opel.escalation",
    "uk.gov.kent.opel.de-escalation",
    "uk.gov.kent.opel.initial",
)
LevelNumber = Annotated[int, Field(ge=1, le=4)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanAction(_In):
    id: str
    level: LevelNumber
    text: str
    plan_ref: str


class RoleActions(_In):
    role: str
    role_name: str
    start: tuple[PlanAction, ...] = ()
    stand_down: tuple[PlanAction, ...] = ()


class Evidence(BaseModel):
    """Why the level changed. Descriptive only, and its fields vary with the scope kind (an
    area's carries ``driving``, the county's ``areas_assessed``), so unknown fields are kept
    rather than refused: refusing the escalation over one would silence the alert."""

    model_config = ConfigDict(extra="allow", frozen=True)

    explanation: str | None = None
    computed_level: LevelNumber | None = None
    value: Any = None
    driving: tuple[str, ...] = ()
    observed_at: AwareDatetime | None = None
    catalogue: str | None = None
    catalogue_version: str | None = None


class EscalationData(_In):
    scope: str
    kind: Literal["indicator", "area", "county", "site", "system"]
    area: str | None = None
    indicator: str | None = None
    site: str | None = None
    system: str | None = None
    county: str | None = None
    from_level: LevelNumber | None = None
    from_colour: str | None = None
    to_level: LevelNumber
    to_colour: str
    direction: Literal["initial", "escalation", "de-escalation"]
    cause: Literal["observation", "dwell", "override", "override-ended"]
    at: AwareDatetime
    exercise: bool = False
    evidence: Evidence = Evidence()
    actions: tuple[RoleActions, ...] = ()

    def actions_for(self, role: str) -> RoleActions | None:
        return next((entry for entry in self.actions if entry.role == role), None)


class EscalationEvent(_In):
    """A CloudEvents 1.0 structured-mode escalation, as the worker writes it."""

    specversion: Literal["1.0"]
    id: str = Field(min_length=1)
    source: str
    type: Literal[
        "uk.gov.kent.opel.escalation",
        "uk.gov.kent.opel.de-escalation",
        "uk.gov.kent.opel.initial",
    ]
    subject: str
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    data: EscalationData


class AckRequest(_In):
    """The body the HTTP API accepts: who acknowledges which alert, with an optional note."""

    alert_id: str = Field(min_length=1, max_length=200)
    author: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=500)


def ack_command(request: AckRequest | dict[str, Any], at: datetime) -> dict[str, Any]:
    """The ``opel.commands.v1`` value for an acknowledgement received at ``at``.

    Validated against :class:`opel.feeds.Acknowledge`, so an ack the API writes is always one
    the alerting service accepts. The caller keys the record by ``alert_id``.
    """
    body = request if isinstance(request, AckRequest) else AckRequest.model_validate(request)
    command = Acknowledge(type="ack", alert_id=body.alert_id, author=body.author, at=at, note=body.note)
    return command.model_dump(mode="json", exclude_none=True)
