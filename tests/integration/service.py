"""Running a real opel worker against a real broker in tests, and reading what it publishes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from aiokafka import AIOKafkaProducer
from support.progress import announce

from streams import topics
from streams.apache_kafka import ApacheKafka
from streams.broker import EmbeddedBroker
from streams.compacted import read_topic_to_end
from streams.settings import Settings
from streams.worker import Running, start, stop

PARTITIONS = 4


BrokerKind = Literal["tansu", "kafka"]
BROKER_KINDS: tuple[BrokerKind, ...] = ("tansu", "kafka")

_kind: BrokerKind = "tansu"


def broker_kind() -> BrokerKind:
    """Which broker :func:`fresh_broker` starts: set per test tier by tests/integration/conftest.py."""
    return _kind


def set_broker_kind(kind: BrokerKind) -> None:
    global _kind  # noqa: PLW0603  (one setting for the whole tier, like an environment variable)
    if kind not in BROKER_KINDS:
        raise ValueError(f"unknown broker kind {kind!r}; expected one of {BROKER_KINDS}")
    _kind = kind


def new_broker(tmp_path: Path, kind: BrokerKind | None = None) -> EmbeddedBroker:
    """A started, empty broker of ``kind`` (default: the tier's) with its files under ``tmp_path``.

    Tansu: the embedded broker, log in ``tmp_path/tansu.log``. Kafka: a one-node Apache Kafka
    cluster (streams.apache_kafka), node folders under ``tmp_path/kafka``; it has the interface of
    EmbeddedBroker that tests use (bootstrap, url, pid, stop, create_topics).
    """
    kind = kind or _kind
    tmp_path.mkdir(parents=True, exist_ok=True)
    broker: EmbeddedBroker
    if kind == "kafka":
        announce("starting Apache Kafka (one node; it may take minutes)")  # said before: it is slow
        broker = ApacheKafka(1, workdir=tmp_path / "kafka")
        broker.start(timeout=180)
        return broker
    return start_embedded(tmp_path / "tansu.log")


def start_embedded(log_path: Path, port: int | None = None) -> EmbeddedBroker:
    """A started embedded (Tansu) broker, said in pytest's output with the port it picked."""
    broker = EmbeddedBroker(port=port, log_path=log_path)
    try:
        broker.start(timeout=30)
    except BaseException:
        broker.stop()  # its log is kept (an explicit log_path always is)
        raise
    announce(f"started embedded broker on {broker.bootstrap} in {broker.startup_seconds or 0:.1f} s")
    return broker


def fresh_broker(tmp_path: Path) -> EmbeddedBroker:
    """A new broker of the tier's kind (Tansu or Apache Kafka) with every OPEL topic created."""
    broker = new_broker(tmp_path)
    try:
        broker.create_topics(topics.all_topics(PARTITIONS))
    except BaseException:
        broker.stop()
        raise
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
    announce(f"starting worker {settings.app_id} (in this process)")
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
