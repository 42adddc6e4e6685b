"""Running a real opel worker against a real broker in tests, and reading what it publishes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from streams import topics
from streams.broker import EmbeddedBroker
from streams.compacted import read_topic_to_end
from streams.settings import Settings
from streams.worker import Running, start, stop

PARTITIONS = 4


def fresh_broker(tmp_path: Path) -> EmbeddedBroker:
    broker = EmbeddedBroker(log_path=tmp_path / "tansu.log")
    broker.start(timeout=30)
    broker.create_topics(topics.all_topics(PARTITIONS))
    return broker


def worker_settings(broker: EmbeddedBroker, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "broker_url": broker.url,
        "partitions": PARTITIONS,
        "data_dir": tmp_path / "data",
        "app_id": overrides.pop("app_id", f"opel-test-{uuid.uuid4().hex[:8]}"),
        "tick_interval": 1.0,
        "idle_grace": 3,
    }
    values.update(overrides)
    return Settings.load(**values)


@asynccontextmanager
async def worker(settings: Settings) -> AsyncIterator[Running]:
    running = await start(settings)
    try:
        yield running
    finally:
        await stop(running)


async def produce(bootstrap: str, messages: Iterable[tuple[str, bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=key, value=value) for topic, key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def reading(indicator: str, area: str, value: Any, observed_at: str) -> tuple[str, bytes, bytes]:
    body = {"indicator": indicator, "area": area, "value": value, "observed_at": observed_at}
    return topics.CAPACITY, area.encode(), json.dumps(body).encode()


async def read_all(bootstrap: str, topic: str) -> list[tuple[str | None, Any]]:
    """Everything a topic holds now, oldest first per partition, values parsed as JSON."""
    return [
        (None if r.key is None else r.key.decode(), None if r.value is None else json.loads(r.value))
        async for r in read_topic_to_end(bootstrap, topic, fetch_max_wait_ms=100)
    ]


async def latest_status(bootstrap: str) -> dict[str, Any]:
    return {key: value for key, value in await read_all(bootstrap, topics.STATUS) if key is not None}


async def wait_for(check: Any, timeout: float = 60.0, every: float = 0.5) -> Any:
    """Poll an async check until it returns something truthy; fail with its last answer."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s; last answer: {last!r}")
