"""Input contracts beyond readings: referral lifecycle events and escalation-group commands.

Like :mod:`opel.models` these are the public shapes producers write. Referral events carry
counts and an opaque reference, never a person: the reference must be a system id such as
``KEAH-20251112-0042`` (letters, digits, ``-`` and ``_``), so a name or an NHS number with
spaces cannot be mistaken for one. Commands name their author (a role or account id) and a
reason, because the plan has every manual decision recorded.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from opel.models import Identifier, Timestamp

Ref = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
ScopeKey = Annotated[
    str,
    StringConstraints(pattern=r"^(indicator/[a-z][a-z0-9_]*/|area/|county/|site/|system/)[a-z][a-z0-9_-]*$"),
]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
Author = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
Caseload = Literal["health", "social"]
Service = Literal["stp", "keah"]
Count = Annotated[int, Field(ge=0, strict=True)]


class ReferralEvent(BaseModel):
    """One step in a referral's life in an area, or an absolute count snapshot.

    ``received``: a referral arrived and is pending assessment outcome (counts towards the
    area's ``referrals``). ``accepted``: assessment done, the case joins the ``caseload``
    (health or social) of the area's Short-term Pathway team. ``closed``: a case leaves the
    caseload (or, with no caseload, a pending referral is withdrawn). ``snapshot`` sets the
    three counts outright, e.g. from Mosaic at the start of a day, and later events move them.
    ``count`` lets one event stand for several referrals.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: Ref = Field(description="Producer's unique id for this event; replays are ignored by it.")
    area: Identifier
    kind: Literal["received", "accepted", "closed", "snapshot"]
    occurred_at: Timestamp
    service: Service = Field(
        default="stp", description="Receiving service: stp, or keah (Kent Enablement at Home)."
    )
    count: Annotated[int, Field(ge=1, le=10_000, strict=True)] = 1
    caseload: Caseload | None = Field(
        default=None, description="For accepted and closed: which caseload the case joins or leaves."
    )
    ref: Ref | None = Field(default=None, description="Opaque referral reference (no personal data).")
    start_date_within_24h: bool | None = Field(
        default=None,
        description="KEaH received only: false when no start date can be found within 24 hours (plan 7.6).",
    )
    pending: Count | None = None
    health_caseload: Count | None = None
    social_caseload: Count | None = None

    @model_validator(mode="after")
    def _shape(self) -> ReferralEvent:
        counts = (self.pending, self.health_caseload, self.social_caseload)
        if self.kind == "snapshot":
            if any(value is None for value in counts):
                raise ValueError("a snapshot needs pending, health_caseload and social_caseload")
        elif any(value is not None for value in counts):
            raise ValueError(f"pending and caseload counts are only for snapshots, not {self.kind}")
        if self.kind == "accepted" and self.caseload is None:
            raise ValueError("an accepted event needs caseload: health or social")
        return self


class Override(BaseModel):
    """The escalation group sets a scope's level by hand until ``expires_at`` (or withdrawal)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["override"]
    id: Ref
    scope: ScopeKey
    level: Annotated[int, Field(ge=1, le=4, strict=True)]
    author: Author
    reason: Text
    at: Timestamp
    expires_at: Timestamp
    declaration: bool = Field(
        default=False, description="True for the daily declared status rather than an exceptional override."
    )

    @model_validator(mode="after")
    def _expiry(self) -> Override:
        if self.expires_at <= self.at:
            raise ValueError("expires_at must be after at")
        return self


class Withdraw(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["withdraw"]
    id: Ref
    scope: ScopeKey
    author: Author
    reason: Text
    at: Timestamp


class Acknowledge(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["ack"]
    alert_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    author: Author
    at: Timestamp
    note: Text | None = None


class ReloadCatalogues(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["reload_catalogues"]
    author: Author
    at: Timestamp


Command = Annotated[Override | Withdraw | Acknowledge | ReloadCatalogues, Field(discriminator="type")]
