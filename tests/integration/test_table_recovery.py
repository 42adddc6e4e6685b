"""A worker's tables come back whole after a restart, however their changelog was batched.

Tansu's ListOffsets answers one past the first offset of a partition's last record batch, and
Faust's table recovery read the changelog only that far: a table whose changelog was written
in one batch came back with one record. That is how a worker restarted after kill -9 lost an
area's book and emitted its escalations again from nothing (tests/integration/test_oracle.py,
2 runs in 11). These tests write a changelog in a single batch and restart onto it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.broker import EmbeddedBroker
from streams.end_offsets import confirmed_end_offsets
from streams.faust_transport import OpelApp
from streams.topics import TopicSpec

from .service import new_broker

RECORDS = 20


async def one_batch(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Every record in one produce request: one record batch on the broker."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=200)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=key, value=value, partition=0) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def started_broker(tmp_path: Path, *topics: str) -> EmbeddedBroker:
    broker = new_broker(tmp_path)
    try:
        broker.create_topics([TopicSpec(name, 1, False, "internal", "test") for name in topics])
    except BaseException:
        broker.stop()
        raise
    return broker


async def test_the_end_of_a_partition_is_its_high_water_mark(tmp_path: Path) -> None:
    broker = started_broker(tmp_path, "opel.test.ends")
    try:
        records = [(f"k{n}".encode(), b"{}") for n in range(RECORDS)]
        await one_batch(broker.bootstrap, "opel.test.ends", records)
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None)
        await consumer.start()
        try:
            tp = TopicPartition("opel.test.ends", 0)
            assert await confirmed_end_offsets(consumer, [tp]) == {tp: RECORDS}
        finally:
            await consumer.stop()
    finally:
        broker.stop()


async def test_a_table_recovers_every_record_of_a_changelog_written_in_one_batch(tmp_path: Path) -> None:
    app_id = f"opel-recovery-{uuid.uuid4().hex[:8]}"
    changelog = f"{app_id}-books-changelog"
    broker = started_broker(tmp_path, "opel.test.source", changelog)
    try:
        records = [(json.dumps(f"k{n}").encode(), json.dumps({"n": n}).encode()) for n in range(RECORDS)]
        await one_batch(broker.bootstrap, changelog, records)

        app = OpelApp(
            app_id,
            broker=broker.url,
            store="memory://",
            datadir=str(tmp_path / "faust"),
            topic_partitions=1,
            web_enabled=False,
            table_standby_replicas=0,
        )
        books = app.Table("books", default=None, partitions=1, key_type=str)

        @app.agent(app.topic("opel.test.source", partitions=1))
        async def source(stream: object) -> None:
            async for _ in stream:  # type: ignore[attr-defined]
                pass

        await app.start()
        try:
            recovery = app.tables.recovery  # type: ignore[attr-defined]
            deadline = time.monotonic() + 60
            while not recovery.completed.is_set():  # set once the recovered tables are live
                assert time.monotonic() < deadline, "table recovery did not finish within 60 s"
                await asyncio.sleep(0.2)
            assert dict(books.items()) == {f"k{n}": {"n": n} for n in range(RECORDS)}
        finally:
            await app.stop()
    finally:
        broker.stop()
