"""poll_consumer_lag against the real embedded broker: committed offsets versus end offsets."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streams.broker import EmbeddedBroker, free_port
from streams.metrics import OpelMetrics, poll_consumer_lag
from streams.topics import TopicSpec

from .conftest import PARTITIONS

PER_PARTITION = (5, 3, 0, 7)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _topic_with_records(broker: EmbeddedBroker) -> str:
    topic = _unique("it.lag")
    await broker.acreate_topics([TopicSpec(topic, PARTITIONS, False, "internal", "lag test")])
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:
        for partition, count in enumerate(PER_PARTITION):
            for i in range(count):
                await producer.send_and_wait(topic, f"record {i}".encode(), partition=partition)
    finally:
        await producer.stop()
    return topic


async def _commit(broker: EmbeddedBroker, group: str, offsets: dict[TopicPartition, int]) -> None:
    # Manual assignment commits through the group coordinator without joining the group.
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()})
    finally:
        await consumer.stop()


async def test_lag_counts_from_log_start_until_the_group_commits(broker: EmbeddedBroker) -> None:
    topic = await _topic_with_records(broker)
    group = _unique("it.lag.group")
    missing = _unique("it.lag.absent")

    lags = await poll_consumer_lag(broker.bootstrap, group, [topic, missing], timeout=30)
    assert lags == {(topic, p): count for p, count in enumerate(PER_PARTITION)}
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        assert missing not in await admin.list_topics(), "polling must not auto-create a topic"
    finally:
        await admin.close()

    await _commit(broker, group, {TopicPartition(topic, 0): 2, TopicPartition(topic, 3): 7})
    lags = await poll_consumer_lag(broker.bootstrap, group, [topic], timeout=30)
    assert lags == {(topic, 0): 3, (topic, 1): 3, (topic, 2): 0, (topic, 3): 0}


async def test_refresh_sets_gauges_and_counts_polls(broker: EmbeddedBroker) -> None:
    topic = await _topic_with_records(broker)
    m = OpelMetrics(CollectorRegistry())

    lags = await m.refresh_consumer_lag(broker.bootstrap, _unique("it.lag.group"), [topic], timeout=30)
    assert sum(lags.values()) == sum(PER_PARTITION)

    with pytest.raises(Exception):  # noqa: B017,PT011  (whatever aiokafka raises for a dead address)
        await m.refresh_consumer_lag(f"127.0.0.1:{free_port()}", "g", [topic], timeout=5)

    text = generate_latest(m.registry).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("opel_consumer_lag_polls_total", (("outcome", "ok"),))] == 1.0
    assert samples[("opel_consumer_lag_polls_total", (("outcome", "failed"),))] == 1.0
    # A test topic is not an OPEL topic, so its partitions share the bounded "other" topic label;
    # the last partition written wins.
    lag_series = {k: v for k, v in samples.items() if k[0] == "opel_consumer_lag_messages"}
    assert set(lag_series) == {
        ("opel_consumer_lag_messages", (("partition", str(p)), ("topic", "other"))) for p in range(PARTITIONS)
    }
    assert [
        lag_series[("opel_consumer_lag_messages", (("partition", str(p)), ("topic", "other")))]
        for p in range(PARTITIONS)
    ] == [float(c) for c in PER_PARTITION]
