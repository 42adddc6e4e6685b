"""What alerting writes: every value a contract model, read back by the contract's own adapter.

Also the values of its own notification log, typed the same way."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from test_alerting_fixtures import T0, escalation, routing

from opel.alerting import engine, outputs
from opel.alerting.records import LOG_ENTRY, Delivery, DeliveryState, OutboxEntry, log_entry
from opel.contracts.alert import ALERT_MESSAGE, AlertDelivery, DailySnapshot
from opel.contracts.audit import AuditRecord
from opel.contracts.escalation import EscalationEvent
from opel.contracts.status import STATUS, AnyStatus
from opel.feeds import Acknowledge

S = timedelta(seconds=1)


def delivery(state: DeliveryState = "pending", alert_ids: tuple[str, ...] = ("a1", "a2")) -> Delivery:
    return Delivery(
        delivery_id="d1",
        notice_id="n1",
        kind="firing",
        role="stp_team_manager",
        route="area",
        contact="tm",
        channel="mail",
        alert_ids=alert_ids,
        subject="OPEL 3 RED: Dartford, Gravesham and Swanley",
        text="For: Short Term Pathway Team Manager\n...",
        short="OPEL 3 RED",
        exercise=True,
        created_at=T0,
        state=state,
        attempts=2,
        next_at=T0 + 5 * S,
    )


@pytest.mark.parametrize(
    ("state", "published"), [("pending", "retrying"), ("sent", "sent"), ("dead", "dead")]
)
def test_alert_delivery_from_a_delivery_outcome(state: DeliveryState, published: str) -> None:
    message = outputs.alert_delivery(delivery(state), "attempt 2 failed: retry in 4.0s", T0 + 3 * S)
    assert message.key == "a1"
    value = message.value
    assert isinstance(value, AlertDelivery)
    assert value.state == published
    assert (value.id, value.notice_id, value.alert_ids) == ("d1", "n1", ("a1", "a2"))
    assert (value.kind, value.role, value.route, value.contact, value.channel) == (
        "firing",
        "stp_team_manager",
        "area",
        "tm",
        "mail",
    )
    assert (value.attempts, value.reason, value.exercise, value.at) == (
        2,
        "attempt 2 failed: retry in 4.0s",
        True,
        T0 + 3 * S,
    )
    assert ALERT_MESSAGE.validate_json(value.to_json()) == value


def test_alert_delivery_without_alert_ids_is_keyed_by_its_notice() -> None:
    assert outputs.alert_delivery(delivery(alert_ids=()), "sent", T0).key == "n1"


def area_status(area: str, level: int) -> AnyStatus:
    return STATUS.validate_python(
        {
            "scope": f"area/{area}",
            "kind": "area",
            "area": area,
            "level": level,
            "colour": "amber",
            "computed_level": level,
            "computed_colour": "amber",
            "state_level": level,
            "updated_at": T0,
        }
    )


def test_daily_snapshot_holds_every_status_by_scope() -> None:
    statuses = {s.scope: s for s in (area_status("swale", 2), area_status("dgs", 2))}
    instant = datetime(2026, 3, 29, 9, tzinfo=UTC)  # 10:00 BST
    message = outputs.daily_snapshot(statuses, instant)
    assert message.key == "snapshot/2026-03-29"
    assert isinstance(message.value, DailySnapshot)
    assert [s.scope for s in message.value.statuses] == ["area/dgs", "area/swale"]
    read = ALERT_MESSAGE.validate_json(message.value.to_json())
    assert read == message.value


def test_routing_audits_loaded_and_refused() -> None:
    loaded = outputs.routing_audit("config/routing.yaml", T0)
    refused = outputs.routing_audit("config/routing.yaml", T0, "config/routing.yaml: routes[0]: bad")
    assert loaded.key == refused.key == "config/routing.yaml"
    assert loaded.value.decision == "routing_loaded"
    assert refused.value.decision == "routing_refused"
    for message in (loaded, refused):
        record = message.value
        assert record.input == {"file": "config/routing.yaml"}
        assert (record.scope, record.rule, record.author, record.at) == (None, "routing", "alerting", T0)
        assert AuditRecord.model_validate_json(record.to_json()) == record
    assert refused.value.reason == "config/routing.yaml: routes[0]: bad"
    assert refused.value.outcome == {"result": "running routing config kept"}
    assert loaded.value.outcome == {"result": "new routing config in use"}
    assert loaded.value.id != refused.value.id
    assert outputs.routing_audit("config/routing.yaml", T0).value.id == loaded.value.id


def test_ack_audit_records_the_command_and_its_effect() -> None:
    config = routing(
        {
            "roles": {"stp_team_manager": {"contacts": [{"id": "tm", "name": "TM", "channel": "log"}]}},
            "routes": [{"name": "area", "match": {"level_at_least": 2}, "roles": ["stp_team_manager"]}],
        }
    )
    event = EscalationEvent.model_validate(escalation("area/dgs", 1, 3))
    book = {c.record.key: c.record for c in engine.apply_escalation(event, config, {}, {}, T0)}
    alert = next(iter(book.values())).alert_id
    ack = Acknowledge(type="ack", alert_id=alert[:8], author="tm.dgs", at=T0 + 60 * S, note="on it")
    changes, result = engine.apply_ack(ack.alert_id, ack.author, ack.at, book)
    message = outputs.ack_audit(ack, changes, result)
    record = message.value
    assert message.key == alert[:8]
    assert (record.decision, record.scope, record.author, record.rule) == ("ack", "area/dgs", "tm.dgs", "ack")
    assert record.at == ack.at  # the ack's own time: a replay gets the same id
    assert record.input == {
        "type": "ack",
        "alert_id": alert[:8],
        "author": "tm.dgs",
        "at": "2025-11-12T09:31:00Z",
        "note": "on it",
    }
    assert record.reason == "on it"
    assert record.outcome == {"result": result, "records": 1}
    assert AuditRecord.model_validate_json(record.to_json()) == record
    assert outputs.ack_audit(ack, changes, result).value.id == record.id


def test_ack_audit_of_an_ack_that_matched_nothing() -> None:
    ack = Acknowledge(type="ack", alert_id="nope", author="tm.dgs", at=T0)
    changes, result = engine.apply_ack(ack.alert_id, ack.author, ack.at, {})
    record = outputs.ack_audit(ack, changes, result).value
    assert (record.scope, record.reason) == (None, result)
    assert record.outcome == {"result": result, "records": 0}
    assert AuditRecord.model_validate_json(record.to_json()) == record


def test_the_documented_examples_are_contract_messages() -> None:
    """docs/alerting.md shows what alerting writes; each example must be a message a reader accepts."""
    doc = (Path(__file__).parent.parent / "docs" / "alerting.md").read_text(encoding="utf-8")
    section = doc[doc.index("### What alerting writes") : doc.index("## Acknowledgement")]
    alert, snapshot, audit = re.findall(r"```json\n(.*?)```", section, re.DOTALL)
    assert isinstance(ALERT_MESSAGE.validate_json(alert), AlertDelivery)
    assert isinstance(ALERT_MESSAGE.validate_json(snapshot), DailySnapshot)
    assert AuditRecord.model_validate_json(audit).decision == "routing_refused"


def test_notification_log_entries_round_trip_and_read_what_was_written_before() -> None:
    record = delivery("sent")
    entry = log_entry(record)
    assert isinstance(entry, OutboxEntry)
    assert LOG_ENTRY.validate_json(entry.model_dump_json()) == entry
    # The value as the log store wrote it before the entries were typed: same shape, still read.
    earlier = json.dumps({"kind": "outbox", "record": record.model_dump(mode="json")})
    assert LOG_ENTRY.validate_json(earlier) == entry
    with pytest.raises(ValidationError):
        LOG_ENTRY.validate_json(json.dumps({"kind": "run", "record": record.model_dump(mode="json")}))
