"""What alerting writes for others to read, built from its records: every value a contract model.

``opel.alerts.v1`` gets an :class:`~opel.contracts.alert.AlertDelivery` per delivery outcome and
a :class:`~opel.contracts.alert.DailySnapshot` per daily assessment; ``opel.audit.v1`` gets an
:class:`~opel.contracts.audit.AuditRecord` per routing reload and acknowledgement. Each builder
returns the message with its key; the shell writes ``key`` and ``value.to_json()`` and nothing
else, so what a partner reads is exactly what the published schema declares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

from opel.alerting.engine import Change
from opel.alerting.events import KeahReferrerTold
from opel.alerting.records import Delivery
from opel.contracts.alert import AlertDelivery, DailySnapshot
from opel.contracts.audit import AuditRecord, audit_record
from opel.contracts.base import Contract
from opel.contracts.status import AnyStatus
from opel.feeds import Acknowledge

AUTHOR = "alerting"
"""The audit author of the service's own decisions (a routing reload)."""

M_co = TypeVar("M_co", bound=Contract, covariant=True)


@dataclass(frozen=True, slots=True)
class Keyed(Generic[M_co]):
    """A message and its Kafka key."""

    key: str
    value: M_co


def alert_delivery(delivery: Delivery, reason: str, at: datetime) -> Keyed[AlertDelivery]:
    """Where one delivery stands after an attempt at ``at``; keyed by its first alert id.

    A delivery still pending after a failed attempt is published as ``retrying``.
    """
    message = AlertDelivery(
        kind=delivery.kind,
        id=delivery.delivery_id,
        notice_id=delivery.notice_id,
        alert_ids=delivery.alert_ids,
        role=delivery.role,
        route=delivery.route,
        contact=delivery.contact,
        channel=delivery.channel,
        state="retrying" if delivery.state == "pending" else delivery.state,
        attempts=delivery.attempts,
        reason=reason,
        subject=delivery.subject,
        text=delivery.text,
        exercise=delivery.exercise,
        at=at,
    )
    key = delivery.alert_ids[0] if delivery.alert_ids else delivery.notice_id
    return Keyed(key, message)


def daily_snapshot(statuses: Mapping[str, AnyStatus], instant: datetime) -> Keyed[DailySnapshot]:
    """Every status held at the daily assessment ``instant``, by scope; keyed ``snapshot/<UTC date>``."""
    snapshot = DailySnapshot(
        kind="daily_snapshot",
        at=instant,
        statuses=tuple(sorted(statuses.values(), key=lambda s: s.scope)),
    )
    return Keyed(f"snapshot/{instant.astimezone(UTC).date().isoformat()}", snapshot)


def routing_audit(path: str | Path, at: datetime, error: str | None = None) -> Keyed[AuditRecord]:
    """A routing file loaded (``error`` None) or refused at ``at``; keyed by the file's path."""
    file = str(path)
    if error is None:
        record = audit_record(
            "routing_loaded",
            None,
            at,
            input={"file": file},
            rule="routing",
            author=AUTHOR,
            reason="routing reloaded",
            outcome={"result": "new routing config in use"},
        )
    else:
        record = audit_record(
            "routing_refused",
            None,
            at,
            input={"file": file},
            rule="routing",
            author=AUTHOR,
            reason=error,
            outcome={"result": "running routing config kept"},
        )
    return Keyed(file, record)


def ack_audit(ack: Acknowledge, changes: Sequence[Change], result: str) -> Keyed[AuditRecord]:
    """An acknowledgement and what it did; keyed by the alert id it named.

    Dated at the ack's own time, so the same ack read again after a crash gets the same id.
    The scope is the acknowledged alert's, when the ack matched one.
    """
    record = audit_record(
        "ack",
        changes[0].record.scope if changes else None,
        ack.at,
        input=ack.model_dump(mode="json", exclude_none=True),
        rule="ack",
        author=ack.author,
        reason=ack.note or result,
        outcome={"result": result, "records": len(changes)},
    )
    return Keyed(ack.alert_id, record)


def keah_told_audit(command: KeahReferrerTold, result: str, recorded: bool) -> Keyed[AuditRecord]:
    """A KEaH organiser's confirmation and what it did; keyed by the referral event id.

    Audited as an acknowledgement (rule ``keah_referrer_told``): who confirmed, when, and
    whether it stopped the referral's 2-hour clock.
    """
    record = audit_record(
        "ack",
        None,
        command.at,
        input=command.model_dump(mode="json", exclude_none=True),
        rule="keah_referrer_told",
        author=command.author,
        reason=command.note or result,
        outcome={"result": result, "recorded": recorded},
    )
    return Keyed(command.event_id, record)
