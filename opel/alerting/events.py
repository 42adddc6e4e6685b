"""Commands alerting handles on ``opel.commands.v1``, and the functions the HTTP API calls to
build them, so both doors produce exactly the same record:

* ``ack``: an acknowledgement (:func:`ack_command`);
* ``keah_referrer_told``: the KEaH organiser confirms the referrer was told that no start date
  can be found within 24 hours (plan 7.6); this, not opel's own message, stops the 2-hour clock
  (:func:`keah_told_command`);
* ``assessment_bed``: an assessment-bed placement started or ended, for the 3-week and
  eighth-week duties of plan 6.3 (:func:`assessment_bed_command`).

The escalation CloudEvents alerting reads are declared once, in
:mod:`opel.contracts.escalation`, shared with the worker that writes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from opel.feeds import Acknowledge, Author, Ref, Text
from opel.models import Identifier, Timestamp


class AckRequest(BaseModel):
    """The body the HTTP API accepts: who acknowledges which alert, with an optional note."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alert_id: str = Field(min_length=1, max_length=200)
    author: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=500)


def ack_command(request: AckRequest | dict[str, Any], at: datetime) -> Acknowledge:
    """The ``opel.commands.v1`` command for an acknowledgement received at ``at``.

    An :class:`opel.feeds.Acknowledge`, so an ack the API writes is always one the alerting
    service accepts; write ``.model_dump_json(exclude_none=True)``, keyed by ``alert_id``.
    """
    body = request if isinstance(request, AckRequest) else AckRequest.model_validate(request)
    return Acknowledge(type="ack", alert_id=body.alert_id, author=body.author, at=at, note=body.note)


class KeahReferrerTold(BaseModel):
    """The KEaH organiser's confirmation that the referrer of ``event_id`` has been told."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["keah_referrer_told"]
    event_id: Ref = Field(
        description="The referral event (opel.referral-events.v1) the 2-hour rule runs for."
    )
    author: Author
    at: Timestamp = Field(description="When the organiser confirmed; the time recorded as 'referrer told'.")
    note: Text | None = None


class KeahToldRequest(BaseModel):
    """The body the HTTP API accepts for a KEaH confirmation (the author is the caller)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(min_length=1, max_length=64)
    author: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=500)


def keah_told_command(request: KeahToldRequest | dict[str, Any], at: datetime) -> KeahReferrerTold:
    """The ``opel.commands.v1`` command for a confirmation received at ``at`` (key: the event id)."""
    body = request if isinstance(request, KeahToldRequest) else KeahToldRequest.model_validate(request)
    return KeahReferrerTold(
        type="keah_referrer_told", event_id=body.event_id, author=body.author, at=at, note=body.note
    )


class AssessmentBedPlacement(BaseModel):
    """An assessment-bed placement starting or ending (plan 6.3: 3-week and eighth-week steps)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["assessment_bed"]
    placement_id: Ref
    area: Identifier
    change: Literal["started", "ended"]
    at: Timestamp = Field(description="When the placement started or ended.")
    author: Author
    ref: Ref | None = Field(default=None, description="Opaque placement reference (no personal data).")


def assessment_bed_command(request: dict[str, Any], at: datetime) -> AssessmentBedPlacement:
    """The command for a placement change; ``at`` is used when the request gives no time."""
    return AssessmentBedPlacement.model_validate({"type": "assessment_bed", "at": at, **request})


AlertingCommand = Acknowledge | KeahReferrerTold | AssessmentBedPlacement
COMMAND_TYPES: tuple[str, ...] = ("ack", "keah_referrer_told", "assessment_bed")
