"""Exactly-once delivery where the broker has transactions, at-least-once where it has not
(issue 12, point 4; streams/delivery.py).

On Apache Kafka the worker runs with Kafka transactions: a kill -9 mid-stream leaves no record
twice on ``opel.audit.v1`` or ``opel.escalations.v1`` as a ``read_committed`` reader sees them,
and the oracle comparison still holds. On the embedded broker (Tansu, no producer ids) the worker
says it runs at-least-once, in its log and in ``opel_delivery_mode``, and refuses
``OPEL_DELIVERY=exactly_once`` with one line.

Not run per broker tier: each test starts the broker it is about.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support.progress import announce

from opel.contracts.audit import AuditRecord
from opel.contracts.escalation import EscalationEvent
from streams import metrics, topics
from streams.apache_kafka import ApacheKafka
from streams.broker import EmbeddedBroker
from streams.compacted import read_topic_to_end
from streams.worker import TopicsNotReadyError

from . import conftest
from . import oracle_support as oracle
from .service import PARTITIONS, start_embedded, worker, worker_settings

BROKER_TIERS = ()  # not run per tier: each test starts the broker it is about


@pytest.fixture(autouse=True)
def broker_kind() -> str:
    """Overrides the tiers of conftest.py for this module."""
    return "kafka"


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[ApacheKafka]:
    conftest.require_kafka()
    announce("starting Apache Kafka (one node)")
    cluster = ApacheKafka(1, workdir=tmp_path / "kafka")
    cluster.start(timeout=180)
    try:
        cluster.create_topics(topics.all_topics(PARTITIONS))
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def tansu(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = start_embedded(tmp_path / "tansu.log")
    try:
        broker.create_topics(topics.all_topics(PARTITIONS))
        yield broker
    finally:
        broker.stop()


async def read_committed(bootstrap: str, topic: str) -> list[bytes]:
    """Every record value of ``topic`` that a read_committed reader sees (no aborted ones)."""
    return [
        record.value
        async for record in read_topic_to_end(
            bootstrap, topic, isolation_level="read_committed", fetch_max_wait_ms=100
        )
        if record.value is not None
    ]


def repeated(values: list[bytes], ids: list[str]) -> dict[str, Any]:
    """What occurs more than once: records by their bytes, and ids with every record carrying them."""
    by_content = {v.decode(): n for v, n in Counter(values).items() if n > 1}
    carrying: dict[str, list[str]] = {}
    for record_id, value in zip(ids, values, strict=True):
        carrying.setdefault(record_id, []).append(value.decode())
    by_id = {i: records for i, records in carrying.items() if len(records) > 1}
    return {"by content": by_content, "by id": by_id}


@pytest.mark.slow
async def test_kill_9_mid_stream_leaves_no_duplicate_audit_record_or_escalation(
    kafka: ApacheKafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPEL_ORACLE_LOG_LEVEL", "info")  # the delivery mode is said at info
    end = oracle.now_minute() - timedelta(minutes=5)
    readings = oracle.stream(6, end=end, slots=144, every=timedelta(minutes=10))
    want = oracle.oracle_transitions(readings)
    batch = oracle.messages(readings)
    data = tmp_path / "worker"
    proc = oracle.start_worker(kafka, data, "opel-exactly-once")
    try:
        # As in the oracle's kill -9 test: half is there when the worker dies a third of the way
        # in, the rest arrives while it is down, and the restarted worker meets a backlog.
        await oracle.produce(kafka.bootstrap, batch[: len(batch) // 2])
        await oracle.wait_until_progressed(kafka.bootstrap, readings[len(readings) // 3].observed_at)
        oracle.kill_9(proc)
        await oracle.produce(kafka.bootstrap, batch[len(batch) // 2 :])
        proc = oracle.start_worker(kafka, data, "opel-exactly-once")
        events = await oracle.settle(kafka.bootstrap, want, end)
    finally:
        oracle.stop_worker(proc)
    audit = await read_committed(kafka.bootstrap, topics.AUDIT)
    escalations = await read_committed(kafka.bootstrap, topics.ESCALATIONS)
    assert len(want) > 200
    problems = oracle.compare(want, events)
    assert not problems, problems
    audit_ids = [AuditRecord.model_validate_json(v).id for v in audit]
    escalation_ids = [EscalationEvent.model_validate_json(v).id for v in escalations]
    assert len(audit) > len(readings), "an audit record per reading at least"
    for topic, found in (
        (topics.AUDIT, repeated(audit, audit_ids)),
        (topics.ESCALATIONS, repeated(escalations, escalation_ids)),
    ):
        assert found == {"by content": {}, "by id": {}}, f"{topic}: {json.dumps(found, indent=1)[:6000]}"
    assert {EscalationEvent.model_validate_json(v).id for v in escalations} == {t.id for t in want}
    log = (data / "worker.log").read_text(errors="replace")
    assert log.count("delivery: exactly_once") == 2, "both starts say they run exactly_once"


async def test_the_embedded_broker_runs_at_least_once_and_says_so(
    tansu: EmbeddedBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="opel.worker")
    async with worker(worker_settings(tansu, tmp_path)) as running:
        assert running.delivery.mode == "at_least_once"
        assert not running.delivery.idempotent, "Tansu gives no producer ids"
        said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("delivery: ")]
        assert len(said) == 1, said
        assert said[0].startswith("delivery: at_least_once (plain producers (no producer ids), ")
        assert "the broker refused a producer id" in said[0]
        assert said[0].endswith("(OPEL_DELIVERY=auto)")
        assert metrics.REGISTRY.get_sample_value("opel_delivery_mode", {"mode": "at_least_once"}) == 1.0
        assert metrics.REGISTRY.get_sample_value("opel_delivery_mode", {"mode": "exactly_once"}) is None


async def test_exactly_once_on_the_embedded_broker_is_refused_in_one_line(
    tansu: EmbeddedBroker, tmp_path: Path
) -> None:
    with pytest.raises(TopicsNotReadyError) as refused:
        async with worker(worker_settings(tansu, tmp_path, delivery="exactly_once")):
            pass
    message = str(refused.value)
    assert message.startswith("OPEL_DELIVERY=exactly_once needs Kafka transactions, and this broker has none")
    assert "\n" not in message
