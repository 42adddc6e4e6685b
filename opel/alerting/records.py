"""The durable records alerting keeps on its compacted topic (latest value per key wins).

Pydantic models because they cross a boundary (JSON on Kafka, read back after a restart).
Keys: ``alert/<route>|<role>|<scope>``, ``group/<route>|<role>|<group>``, ``outbox/<delivery id>``,
``run/<job>/<instant>``, ``keah/<event id>``, ``dos/<scope>``, ``bed/<placement id>``,
``item/<action item id>``; the shell
prefixes them with its group id.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from opel.contracts.action_item import ActionItem
from opel.contracts.escalation import EscalationData

NAMESPACE = uuid.UUID("8f4e2a61-3c1b-4d2e-9a7f-5b6c0d1e2f30")

AlertStatus = Literal["firing", "resolved", "closed"]
Pending = Literal["none", "notify", "resolve"]
NoticeKind = Literal["firing", "repeat", "escalated", "resolved", "duty"]
DeliveryState = Literal["pending", "sent", "dead"]


def alert_id(escalation_id: str, route: str, role: str) -> str:
    """Deterministic: the same escalation, route and role give the same id after any replay."""
    return str(uuid.uuid5(NAMESPACE, f"alert|{escalation_id}|{route}|{role}"))


def notice_id(group: str, parts: list[tuple[str, str, int]]) -> str:
    """One message to one role: derived from the alert ids, kinds and repeat numbers in it."""
    body = ";".join(f"{a}:{k}:{n}" for a, k, n in sorted(parts))
    return str(uuid.uuid5(NAMESPACE, f"notice|{group}|{body}"))


def delivery_id(notice: str, contact: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"delivery|{notice}|{contact}"))


def duty_id(job: str, subject: str, instant: datetime) -> str:
    """Id of a clock-driven notice (daily summary, missed deadline, DoS review, KEaH)."""
    return str(uuid.uuid5(NAMESPACE, f"duty|{job}|{subject}|{instant.isoformat()}"))


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertRecord(_Record):
    """What one role has been (or is about to be) told about one scope through one route."""

    key: str
    route: str
    role: str
    scope: str
    group: str
    area: str | None
    alert_id: str
    event_id: str
    status: AlertStatus
    level: int
    threshold: int = 2
    notified_level: int | None = None
    exercise: bool = False
    data: EscalationData
    changed_at: AwareDatetime
    pending: Pending = "none"
    due_at: AwareDatetime | None = None
    reason: str = ""
    notified_at: AwareDatetime | None = None
    recipients: tuple[str, ...] = ()
    repeats: int = 0
    acked_by: str | None = None
    acked_at: AwareDatetime | None = None
    escalated_by: str | None = None
    policy_steps: int = 0


class GroupRecord(_Record):
    key: str
    last_sent_at: AwareDatetime


class Delivery(_Record):
    """One message to one contact; the rendered text is stored so a retry sends the same words."""

    delivery_id: str
    notice_id: str
    kind: NoticeKind
    role: str
    route: str
    contact: str
    channel: str
    alert_ids: tuple[str, ...]
    subject: str
    text: str
    short: str
    exercise: bool = False
    created_at: AwareDatetime
    state: DeliveryState = "pending"
    attempts: int = 0
    next_at: AwareDatetime
    last_error: str | None = None
    sent_at: AwareDatetime | None = None


class RunRecord(_Record):
    """A clock job's scheduled instant, written once it has run (no missed or doubled run)."""

    job: str
    instant: AwareDatetime
    ran_at: AwareDatetime
    outcome: str


class KeahRecord(_Record):
    """A KEaH referral with no start date within 24 hours (plan 7.6): the 2-hour clock."""

    event_id: str
    area: str
    ref: str | None
    received_at: AwareDatetime
    due_at: AwareDatetime
    notice_id: str
    alerted_at: AwareDatetime | None = Field(
        default=None, description="When opel's own message to the organisers was sent (not 'told')."
    )
    told_at: AwareDatetime | None = Field(
        default=None, description="When the KEaH organiser confirmed the referrer was told."
    )
    told_by: str | None = None


class DosRecord(_Record):
    """The NHS 111 DoS protocol for one area or the county (plan 6.1).

    Activated when the scope reaches the activating level from below; the 4-hour review runs
    from ``activated_at`` and a further rise does not restart it; ended when the scope falls
    below the activating level.
    """

    scope: str
    area: str | None
    level: int
    activated_at: AwareDatetime
    changed_at: AwareDatetime
    ended_at: AwareDatetime | None = None


class PlacementRecord(_Record):
    """An assessment-bed placement with its start, watched for the 3-week and eighth-week steps."""

    placement_id: str
    area: str
    ref: str | None = None
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None


# --- the notification log's values: ``{"kind", "record"}``, tagged on ``kind`` -------------------


class AlertEntry(_Record):
    kind: Literal["alert"] = "alert"
    record: AlertRecord


class GroupEntry(_Record):
    kind: Literal["group"] = "group"
    record: GroupRecord


class OutboxEntry(_Record):
    kind: Literal["outbox"] = "outbox"
    record: Delivery


class RunEntry(_Record):
    kind: Literal["run"] = "run"
    record: RunRecord


class KeahEntry(_Record):
    kind: Literal["keah"] = "keah"
    record: KeahRecord


class DosEntry(_Record):
    kind: Literal["dos"] = "dos"
    record: DosRecord


class PlacementEntry(_Record):
    kind: Literal["bed"] = "bed"
    record: PlacementRecord


class ItemEntry(_Record):
    kind: Literal["item"] = "item"
    record: ActionItem


AnyRecord = (
    AlertRecord | GroupRecord | Delivery | RunRecord | KeahRecord | DosRecord | PlacementRecord | ActionItem
)
AnyLogEntry = (
    AlertEntry | GroupEntry | OutboxEntry | RunEntry | KeahEntry | DosEntry | PlacementEntry | ItemEntry
)
LOG_ENTRY: TypeAdapter[AnyLogEntry] = TypeAdapter(Annotated[AnyLogEntry, Field(discriminator="kind")])
"""Read a notification log value: ``LOG_ENTRY.validate_json(raw)``."""
LOG_KINDS: tuple[str, ...] = ("alert", "group", "outbox", "run", "keah", "dos", "bed", "item")


def log_entry(record: AnyRecord) -> AnyLogEntry:
    """The notification log value that holds ``record``."""
    if isinstance(record, AlertRecord):
        return AlertEntry(record=record)
    if isinstance(record, GroupRecord):
        return GroupEntry(record=record)
    if isinstance(record, Delivery):
        return OutboxEntry(record=record)
    if isinstance(record, RunRecord):
        return RunEntry(record=record)
    if isinstance(record, DosRecord):
        return DosEntry(record=record)
    if isinstance(record, PlacementRecord):
        return PlacementEntry(record=record)
    if isinstance(record, ActionItem):
        return ItemEntry(record=record)
    return KeahEntry(record=record)
