"""``opel.alerts.v1``: what alerting told whom, one record per delivery outcome, plus the daily
snapshot of every status taken at the 10:00 assessment. Tagged on ``kind``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, TypeAdapter

from opel.contracts.base import Contract
from opel.contracts.status import Status

NoticeKind = Literal["firing", "repeat", "escalated", "resolved", "duty"]
DeliveryOutcome = Literal["retrying", "sent", "dead"]


class AlertDelivery(Contract):
    """One message to one contact and where its delivery stands; key = its first alert id."""

    kind: NoticeKind
    id: str = Field(description="Delivery id: one message to one contact.")
    notice_id: str
    alert_ids: tuple[str, ...]
    role: str
    route: str
    contact: str
    channel: str
    state: DeliveryOutcome
    attempts: int
    reason: str
    subject: str
    text: str
    exercise: bool = False
    at: AwareDatetime


class DailySnapshot(Contract):
    """Every status alerting held at the daily assessment instant; key = snapshot/<date>."""

    kind: Literal["daily_snapshot"]
    at: AwareDatetime
    statuses: tuple[Status, ...]


AnyAlertMessage = AlertDelivery | DailySnapshot
AlertMessage = Annotated[AnyAlertMessage, Field(discriminator="kind")]
ALERT_MESSAGE: TypeAdapter[AnyAlertMessage] = TypeAdapter(AlertMessage)
