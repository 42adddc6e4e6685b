"""Input contracts beyond readings: referral lifecycle events and escalation-group commands.

Like :mod:`opel.models` these are the public shapes producers write. Referral events carry
counts and an opaque reference, never a person: the reference must be a system id such as
``KEAH-20251112-0042`` (letters, digits, ``-`` and ``_``), so a name or an NHS number with
spaces cannot be mistaken for one. Commands name their author (a role or account id) and a
reason, because the plan has every manual decision recorded.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from opel.contracts.action_item import ActionItemUpdate
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


_NHS_NUMBER = re.compile(r"(?<!\d)(\d{3})[-_]?(\d{3})[-_]?(\d{4})(?!\d)")
_YMD = re.compile(r"(?<!\d)(\d{4})[-_]?(\d{2})[-_]?(\d{2})(?!\d)")
_DMY = re.compile(r"(?<!\d)(\d{2})[-_]?(\d{2})[-_]?(\d{4})(?!\d)")
_NAME = re.compile(r"[A-Za-z]{2,}")
DOB_BEFORE = timedelta(days=366)
"""A date in a reference this long before the event reads as a date of birth, not a referral date."""


def is_nhs_number(digits: str) -> bool:
    """Ten digits whose last is the modulus-11 check digit of the first nine (NHS Digital)."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def personal_data_in(ref: str, occurred_at: datetime) -> str | None:
    """Why a reference looks like it names a person (None if it does not)."""
    for match in _NHS_NUMBER.finditer(ref):
        if is_nhs_number("".join(match.groups())):
            return "looks like an NHS number"
    if _NAME.search(ref):
        dates = [m.group(1, 2, 3) for m in _YMD.finditer(ref)] + [
            m.group(3, 2, 1) for m in _DMY.finditer(ref)
        ]
        for year, month, day in dates:
            try:
                found = date(int(year), int(month), int(day))
            except ValueError:
                continue
            if found < occurred_at.date() - DOB_BEFORE:
                return "looks like a name with a date of birth"
    return None


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
        if self.ref is not None and (why := personal_data_in(self.ref, self.occurred_at)):
            # The value itself is not repeated: it may be exactly what must not be kept.
            raise ValueError(f"ref {why}; referral references must not identify a person")
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


class ResetScope(BaseModel):
    """An operator repair: rebuild an area's (or one indicator's) state from the readings it
    holds, dropping any stamped after ``at`` (a reading that slipped in with a clock far ahead)
    or, for an indicator scope, that indicator's reading altogether. Audited like any decision."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["reset_scope"]
    scope: ScopeKey
    author: Author
    reason: Text
    at: Timestamp


AnyCommand = Override | Withdraw | Acknowledge | ReloadCatalogues | ResetScope | ActionItemUpdate
Command = Annotated[AnyCommand, Field(discriminator="type")]
