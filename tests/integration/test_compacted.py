"""Reading a topic to its end as of now (streams.compacted) against the embedded broker."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.broker import EmbeddedBroker
from streams.compacted import read_to_end, read_topic_to_end, topic_partitions
from streams.topics import TopicSpec

PARTITIONS = 3
BATCHES = 6
PER_BATCH = 25


async def _topic(broker: EmbeddedBroker, partitions: int = PARTITIONS) -> str:
    topic = f"it.compacted-{uuid.uuid4().hex[:8]}"
    await broker.acreate_topics([TopicSpec(topic, partitions, True, "internal", "read to end")])
    return topic


async def _write(broker: EmbeddedBroker, topic: str, batches: int, start: int = 0) -> list[tuple[int, int]]:
    """Write ``batches`` separate batches to every partition; return (partition, seq) of each record."""
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0)
    await producer.start()
    written = []
    try:
        for batch in range(batches):
            for partition in range(PARTITIONS):
                futures = []
                for item in range(PER_BATCH):
                    seq = start + batch * PER_BATCH + item
                    key = f"k{seq % 7}".encode()
                    futures.append(
                        await producer.send(topic, key=key, value=str(seq).encode(), partition=partition)
                    )
                    written.append((partition, seq))
                await asyncio.gather(*futures)  # one produce request per batch and partition
    finally:
        await producer.stop()
    return written


async def test_every_record_written_before_the_read_is_read_in_order(broker: EmbeddedBroker) -> None:
    topic = await _topic(broker)
    written = await _write(broker, topic, BATCHES)
    read = [(r.partition, int(r.value)) async for r in read_topic_to_end(broker.bootstrap, topic)]
    assert sorted(read) == sorted(written)
    for partition in range(PARTITIONS):
        seqs = [seq for p, seq in read if p == partition]
        assert seqs == sorted(seqs), "oldest first within a partition"


async def test_an_empty_or_absent_topic_holds_nothing(broker: EmbeddedBroker) -> None:
    topic = await _topic(broker)
    assert [r async for r in read_topic_to_end(broker.bootstrap, topic)] == []
    absent = f"it.absent-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        assert await topic_partitions(consumer, absent) == []
    finally:
        await consumer.stop()


async def test_the_consumer_goes_on_from_where_the_read_ended(broker: EmbeddedBroker) -> None:
    topic = await _topic(broker)
    before = await _write(broker, topic, 2)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, topic)
        assert len(partitions) == PARTITIONS
        # Few records per poll, so the read must go by the end offsets, not by a fetch's size;
        # Tansu's ListOffsets end falls short of what its fetches report after several batches.
        records = read_to_end(consumer, partitions, max_records=7)
        read = [(r.partition, int(r.value)) async for r in records]
        assert sorted(read) == sorted(before)
        after = await _write(broker, topic, 1, start=10_000)
        tailed: list[tuple[int, int]] = []
        async with asyncio.timeout(30):
            while len(tailed) < len(after):
                batch = await consumer.getmany(timeout_ms=200)
                tailed.extend((r.partition, int(r.value)) for rs in batch.values() for r in rs)
        assert sorted(tailed) == sorted(after), "no gap and no repeat between the read and the tail"
    finally:
        await consumer.stop()
