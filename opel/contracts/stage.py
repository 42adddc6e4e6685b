"""Messages between the stages: ingest to the area, county and system stages, area to county.

One message per aggregate key and batch on the internal topics (key = area, county or system
id). Its items are a union tagged on ``kind`` with named fields; timestamps are datetimes from
the edge to the store. Writers build them, stages validate them back with :data:`STAGE_MESSAGE`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, TypeAdapter

from opel.contracts.base import Contract, LevelNumber
from opel.contracts.status import Value
from opel.feeds import Override, ReferralEvent, ResetScope, Withdraw
from opel.models import AcuteSubmission


class ReadingItem(Contract):
    """An indicator reading that ingest has checked against the catalogue in force."""

    kind: Literal["reading"] = "reading"
    indicator: str
    area: str
    value: Value
    observed_at: AwareDatetime
    source: str | None = Field(default=None, description="The input topic it came from (for metrics).")
    submitted_by: str | None = Field(
        default=None, description="The API principal that submitted it (POST /readings): its audit's author."
    )


class ReferralItem(Contract):
    kind: Literal["referral"] = "referral"
    event: ReferralEvent
    source: str | None = None


class AcuteItem(Contract):
    """An acute site submission for one of the systems the site belongs to."""

    kind: Literal["acute"] = "acute"
    submission: AcuteSubmission
    seen: AwareDatetime = Field(description="Wall time ingest saw it: the system merge's idle clock.")
    source: str | None = None


class OverrideItem(Contract):
    kind: Literal["override"] = "override"
    command: Override


class WithdrawItem(Contract):
    kind: Literal["withdraw"] = "withdraw"
    command: Withdraw


class ResetItem(Contract):
    kind: Literal["reset"] = "reset"
    command: ResetScope


class TickItem(Contract):
    """Wall-clock time reached: overrides expire, silent members stop holding a merge back."""

    kind: Literal["tick"] = "tick"
    now: AwareDatetime


class AreaChange(Contract):
    """A change of an area's computed level at data time ``at``; ``seq`` counts the area's changes,
    so the county ignores one it already took when a batch is replayed after a crash."""

    at: AwareDatetime
    level: LevelNumber | None
    seq: int


class AreaReport(Contract):
    """From the area stage to the county: the area's changes and how far its data time has got."""

    kind: Literal["area_report"] = "area_report"
    area: str
    changes: tuple[AreaChange, ...]
    watermark: AwareDatetime = Field(description="The area's data time: no later change will be earlier.")
    seen: AwareDatetime
    idle: bool = Field(
        default=False, description="The area has nothing in flight: the county need not wait for it."
    )
    reset: bool = Field(
        default=False, description="An operator rebuilt the area: its watermark may have gone back."
    )


AnyStageItem = (
    ReadingItem | ReferralItem | AcuteItem | OverrideItem | WithdrawItem | ResetItem | TickItem | AreaReport
)
StageItem = Annotated[AnyStageItem, Field(discriminator="kind")]


class StageMessage(Contract):
    """One batch of items for one aggregate key."""

    items: tuple[StageItem, ...]
    seen: AwareDatetime = Field(description="Wall time the batch was sent.")
    ts: int | None = Field(default=None, description="Kafka timestamp (ms) of the batch's oldest input.")
    reload: bool = Field(default=False, description="Reload the catalogues before applying the items.")
    idle: bool | None = Field(
        default=None,
        description=(
            "For an area: every input topic read to its end with nothing new for it for a while, "
            "and nothing held back by ingest (None: not known from this message)."
        ),
    )


STAGE_MESSAGE: TypeAdapter[StageMessage] = TypeAdapter(StageMessage)
