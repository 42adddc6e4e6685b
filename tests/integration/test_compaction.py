"""Compaction really works on Apache Kafka (issue 12, point 5).

opel keeps state on two compacted topics: the status of each scope on ``opel.status.v1`` and
alerting's notification log on ``opel.notifications.v1``. Here the two get the topic settings of
production plus a short ``segment.ms``, ``min.cleanable.dirty.ratio`` and
``delete.retention.ms`` (through :mod:`streams.topics` and :mod:`streams.topic_admin`, as
``opel run --create-topics`` makes them), so the log cleaner acts within seconds. A real worker
and a real alerting service run a small day: every area rises to OPEL 3, people are told, then
every area steps down and the alerts close. The cleaner works all along; a consumer that follows
each topic sees what was written before it removes anything. Then:

* once the cleaner has been through the last segments (the test reads until every superseded
  offset has gone, no sleep guessed), the status topic holds one record per scope, its latest
  status, and the notification log one record per key;
* each alert was written with values and closed by a tombstone; after compaction no value is left
  under its key, and after ``delete.retention.ms`` and another cleaning, no tombstone either;
* a worker restarted after compaction rebuilds the same statuses, answers the same levels on
  ``/status``, and takes a further reading from the state it had (no escalation from scratch);
  alerting restarted reads back no closed alert and every delivery, and sends nothing again.

Apache Kafka only: the embedded broker does not compact. Skipped with the reason where Java or
Maven is missing, failed instead under ``OPEL_REQUIRE_KAFKA=1``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from support.progress import announce

from opel.alerting.routing import RoutingConfig, build_routing
from streams import topics
from streams.alerting.service import AlertingService
from streams.apache_kafka import ApacheKafka
from streams.compacted import read_topic_to_end, topic_partitions
from streams.run_command import web_extra
from streams.settings import Settings
from streams.tasks import cancel_and_wait
from streams.worker import Running, start, stop

from . import conftest
from .service import PARTITIONS, produce, reading, wait_for, worker_settings

pytestmark = pytest.mark.slow

BROKER_TIERS = ()  # not run per tier: the embedded broker has no log cleaner

ROOT: Final = Path(__file__).resolve().parents[2]
AREAS: Final = ("dgs", "east_kent", "swale", "west_kent")
COMPACTED: Final = (topics.STATUS, topics.NOTIFICATIONS)
SEGMENT_MS: Final = 1000
DELETE_RETENTION_MS: Final = 5000
CLEANER_CONFIG: Final = (
    # A segment closes a second after it opened (on the next write), and the cleaner takes a log
    # as soon as anything in it is dirty; a tombstone is kept 5 s after its segment is cleaned.
    # Ratio 0, not a small one: the last dirty segment can be a few hundred bytes of tombstones
    # beside ~90 KB already cleaned (0.006), and a ratio of 0.01 then left it dirty for good.
    ("segment.ms", str(SEGMENT_MS)),
    ("min.cleanable.dirty.ratio", "0"),
    ("delete.retention.ms", str(DELETE_RETENTION_MS)),
    ("min.compaction.lag.ms", "0"),
)
CALM_HOURS: Final = 3
COUNTY: Final = b"county/kent"
ROLL_KEY: Final = b"compaction-test/roll"
"""Key of the tombstones the test writes to close a segment: no scope, outside every namespace."""

Offsets = set[tuple[int, int]]  # (partition, offset)


@pytest.fixture(autouse=True)
def broker_kind() -> str:
    """Overrides the tiers of conftest.py for this module."""
    return "kafka"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ApacheKafka]:
    """One node whose cleaner looks for work every 200 ms (Kafka's default: 15 s), with opel's
    topics, the two compacted ones with the short cleaner settings."""
    conftest.require_kafka()
    announce("starting Apache Kafka (one node, log cleaner every 200 ms)")
    kafka = ApacheKafka(1, workdir=tmp_path / "kafka", broker_config={"log.cleaner.backoff.ms": 200})
    try:
        kafka.start(timeout=180)
        specs = [
            dataclasses.replace(spec, config=CLEANER_CONFIG) if spec.name in COMPACTED else spec
            for spec in topics.all_topics(PARTITIONS)
        ]
        kafka.create_topics(specs)
        yield kafka
    finally:
        kafka.stop(timeout=3)


def routing() -> RoutingConfig:
    """The shipped routing (every route of the plan, the log channel) with one-second waits, so
    the day's alerts are told, resolved and closed within seconds of real time."""
    data = yaml.safe_load((ROOT / "config" / "routing.yaml").read_text(encoding="utf-8"))
    data["defaults"].update(group_wait="1s", group_interval="1s", hold="1s")
    return build_routing(data, "<compaction>", env={})


def staffing(values: Iterable[tuple[int, datetime]]) -> list[tuple[str, bytes, bytes]]:
    """Every area's Short-term Pathway staffing at these (percent, time) points."""
    return [
        reading("stp_staffing_pct", area, value, at.isoformat()) for value, at in values for area in AREAS
    ]


async def records(bootstrap: str, topic: str) -> list[Any]:
    """What ``topic`` holds now, as the worker's readers see it (committed records only)."""
    return [
        r
        async for r in read_topic_to_end(
            bootstrap, topic, fetch_max_wait_ms=100, isolation_level="read_committed"
        )
    ]


def superseded(held: list[Any]) -> Offsets:
    """Offsets whose key has a later record: what compaction removes."""
    last: dict[bytes, tuple[int, int]] = {}
    for record in held:  # oldest first per partition, and a key lives on one partition
        last[record.key] = (record.partition, record.offset)
    return {(r.partition, r.offset) for r in held if last[r.key] != (r.partition, r.offset)}


def latest_values(held: list[Any]) -> dict[bytes, bytes | None]:
    return {record.key: record.value for record in held}


async def roll_segments(bootstrap: str, topic: str) -> None:
    """Close each partition's active segment (the cleaner never touches it): a write more than
    ``segment.ms`` after the segment opened rolls a new one. The write is a tombstone for a key no
    reader knows, so it stays in the new active segment and means nothing to anyone."""
    await asyncio.sleep(SEGMENT_MS / 1000 + 0.2)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for partition in range(PARTITIONS):
            await producer.send_and_wait(topic, key=ROLL_KEY, value=None, partition=partition)
    finally:
        await producer.stop()


async def cleaned(
    bootstrap: str, topic: str, gone: Offsets, *, roll: bool = False, timeout: float = 60
) -> list[Any]:
    """Read ``topic`` until none of the ``gone`` offsets is left (the cleaner has been through every
    closed segment), and return what it holds then. ``roll``: close the segments again before each
    read, so the cleaner has something dirty to wake for (a tombstone goes on a pass after its
    ``delete.retention.ms``, and nothing else may be dirty by then)."""

    async def done() -> list[Any] | None:
        if roll:
            await roll_segments(bootstrap, topic)
        held = await records(bootstrap, topic)
        return held if not gone & {(r.partition, r.offset) for r in held} else None

    try:
        result: list[Any] = await wait_for(done, timeout=timeout, every=0.5)
    except AssertionError:
        held = await records(bootstrap, topic)
        left = sorted(gone & {(r.partition, r.offset) for r in held})
        by_offset = {(r.partition, r.offset): r for r in held}
        ends = {p: max(r.offset for r in held if r.partition == p) for p in {r.partition for r in held}}
        shown = [(p, o, by_offset[(p, o)].key, by_offset[(p, o)].timestamp) for p, o in left[:8]]
        raise AssertionError(
            f"{topic}: {len(left)} superseded records still there after {timeout} s, e.g. "
            f"(partition, offset, key, timestamp) {shown}; last offset per partition {ends}"
        ) from None
    return result


async def levels(web_url: str) -> dict[str, Any]:
    """The level of each scope as ``/status`` answers it, once the view has read to the end."""

    async def answer() -> dict[str, Any] | None:
        async with aiohttp.ClientSession() as session, session.get(f"{web_url}/status") as response:
            body = await response.json()
        if not body["caught_up"]:
            return None
        return {s["scope"]: s.get("level") for s in body["statuses"]}

    result: dict[str, Any] = await wait_for(answer, timeout=30)
    return result


class Tail:
    """Every committed record of a topic as it is written, from a consumer that follows it from
    the start: what the test knows was written, whatever the cleaner removes later. A record can
    only be compacted away once its segment has closed (a second here) and been cleaned, and a
    tombstone only ``delete.retention.ms`` after that: the tail reads each well within that."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.seen: list[Any] = []
        self._bootstrap = bootstrap
        self._topic = topic
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
            isolation_level="read_committed",
        )
        await consumer.start()
        partitions = await topic_partitions(consumer, self._topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        self._task = asyncio.create_task(self._follow(consumer))

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    self.seen.extend(batch)
        finally:
            await consumer.stop()

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)


def status_of(values: dict[bytes, bytes | None]) -> dict[str, Any]:
    return {k.decode(): json.loads(v) for k, v in values.items() if v is not None and k != ROLL_KEY}


async def test_compaction_keeps_the_latest_status_drops_closed_alerts_and_a_restart_rebuilds_the_same(
    cluster: ApacheKafka, tmp_path: Path
) -> None:
    bootstrap = cluster.bootstrap
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
    settings: Settings = worker_settings(
        cluster, tmp_path, web_port=0, step_down_dwell="PT20M", source_idle="PT2S"
    )
    group = f"compaction-{uuid.uuid4().hex[:8]}"
    prefix = f"{group}/alert/".encode()

    running: Running = await start(settings, (web_extra,))
    tail = Tail(bootstrap, topics.NOTIFICATIONS)
    status_tail = Tail(bootstrap, topics.STATUS)
    await tail.start()
    await status_tail.start()
    alerting = AlertingService(
        bootstrap=bootstrap, routing=routing(), group_id=group, tick_seconds=0.1, duties=False
    )
    await alerting.start()
    try:
        # Every area to OPEL 3 (staffing 45 %, then 40 %), and its people told.
        await produce(bootstrap, staffing([(45, base), (40, base + timedelta(minutes=10))]))

        async def told() -> bool:
            alerts = list(alerting.state.alerts.values())
            return bool(alerts) and all(a.notified_at is not None for a in alerts)

        await wait_for(told, timeout=60)
        opened = set(alerting.state.alerts)
        assert {a.scope for a in alerting.state.alerts.values()} >= {f"area/{a}" for a in AREAS}

        # Every area back to OPEL 1, an hour a reading: each step down waits the 20-minute dwell.
        # The county follows the areas, and an area report that arrives after the county moved
        # on counts from the time the county had reached: while the county holds a level, a
        # reading after its wait ends lets it step down. The alerts resolve, the resolved
        # notices go out after the hold, and the alerts close.
        calm = [(90 + n, base + timedelta(hours=1 + n)) for n in range(CALM_HOURS)]
        await produce(bootstrap, staffing(calm))
        pushed: set[datetime] = set()

        async def county_down() -> bool:
            county = json.loads(latest_values(await records(bootstrap, topics.STATUS)).get(COUNTY) or b"{}")
            if county.get("level") == 1 and not county.get("held"):
                return True
            until = datetime.fromisoformat(county["held"]["until"]) if county.get("held") else None
            if until is not None and until not in pushed:
                pushed.add(until)
                await produce(bootstrap, staffing([(94, until + timedelta(minutes=1))]))
            return False

        await wait_for(county_down, timeout=90)

        async def all_closed() -> bool:
            sent = [d for d in alerting.state.outbox.values() if d.kind == "resolved" and d.state == "sent"]
            return not alerting.state.alerts and bool(sent)

        await wait_for(all_closed, timeout=60)

        async def settled() -> dict[bytes, bytes | None] | None:
            first = latest_values(await records(bootstrap, topics.STATUS))
            await asyncio.sleep(2)
            again = latest_values(await records(bootstrap, topics.STATUS))
            areas_down = all(
                json.loads(again.get(scope) or b"{}").get("level") == 1
                for scope in [*(f"area/{a}".encode() for a in AREAS), COUNTY]
            )
            return again if areas_down and again == first else None

        status_before: dict[bytes, bytes | None] = await wait_for(settled, timeout=60)
        assert running.web_url is not None
        levels_before = await levels(running.web_url)
        outbox_before = dict(alerting.state.outbox)
    finally:
        await alerting.stop()
        await stop(running)
        await asyncio.sleep(0.5)  # the tails' last fetch
        await tail.stop()
        await status_tail.stop()

    # The cleaner runs all along (segments close every second); what it removes from the
    # notification log, the tail saw written. Each alert, closed now, had values and then a tombstone.
    written: dict[bytes, list[bytes | None]] = {}
    for record in tail.seen:
        written.setdefault(record.key, []).append(record.value)
    closed = {key for key in written if key.startswith(prefix)}
    assert closed >= {prefix + key.encode() for key in opened}
    assert all(values[-1] is None for key, values in written.items() if key in closed), (
        "a closed alert was not written as a tombstone"
    )
    assert all(values[0] is not None for key, values in written.items() if key in closed)

    # Close the last segments and read until every superseded record still there has gone: then
    # each scope has one status, its latest, and each key of the log one record. Many more
    # status records were written than there are scopes.
    status_held = await records(bootstrap, topics.STATUS)
    log_held = await records(bootstrap, topics.NOTIFICATIONS)
    for topic in COMPACTED:
        await roll_segments(bootstrap, topic)
    status_after = await cleaned(bootstrap, topics.STATUS, superseded(status_held))
    log_after = await cleaned(bootstrap, topics.NOTIFICATIONS, superseded(log_held))
    scopes_after = Counter(r.key for r in status_after if r.key != ROLL_KEY)
    assert set(scopes_after.values()) == {1}, "a scope kept more than one status record"
    assert len(status_tail.seen) > 2 * len(scopes_after)
    assert set(scopes_after) == {r.key for r in status_tail.seen}
    assert status_of(latest_values(status_after)) == status_of(status_before)
    assert set(Counter(r.key for r in log_after if r.key != ROLL_KEY).values()) == {1}
    assert not [r for r in log_after if r.key in closed and r.value is not None], "a closed alert survived"

    # delete.retention.ms after a tombstone's segment was cleaned, the cleaner takes it too:
    # nothing of a closed alert is left.
    tombstones = {(r.partition, r.offset) for r in log_after if r.key in closed}
    log_final = await cleaned(bootstrap, topics.NOTIFICATIONS, tombstones, roll=True)
    assert not [r for r in log_final if r.key in closed], "a closed alert's key is still on the log"

    # A worker restarted after compaction (same app id: its tables come back from their
    # changelogs) and a new alerting instance of the same group.
    running = await start(settings, (web_extra,))
    alerting = AlertingService(
        bootstrap=bootstrap, routing=routing(), group_id=group, tick_seconds=0.1, duties=False
    )
    await alerting.start()
    try:
        assert running.web_url is not None
        assert await levels(running.web_url) == levels_before
        assert alerting.state.alerts == {}
        assert alerting.state.outbox == outbox_before
        assert status_of(latest_values(await records(bootstrap, topics.STATUS))) == status_of(status_before)

        # The next reading of each area meets the level it had: a status with the new time, no
        # escalation (a worker that had lost its books would escalate every area from nothing).
        escalations_before = len(await records(bootstrap, topics.ESCALATIONS))
        later = max([*pushed, base + timedelta(hours=CALM_HOURS)]) + timedelta(hours=1)
        await produce(bootstrap, staffing([(95, later)]))

        async def read_again() -> dict[str, Any] | None:
            now = status_of(latest_values(await records(bootstrap, topics.STATUS)))
            times = {now.get(f"area/{a}", {}).get("observed_at") for a in AREAS}
            return now if {datetime.fromisoformat(t) for t in times if t} == {later} else None

        status_now = await wait_for(read_again, timeout=60)
        assert {a: status_now[f"area/{a}"]["level"] for a in AREAS} == dict.fromkeys(AREAS, 1)
        await asyncio.sleep(1)  # the tick after the reading
        assert len(await records(bootstrap, topics.ESCALATIONS)) == escalations_before
        assert alerting.state.alerts == {}
        assert alerting.state.outbox == outbox_before
    finally:
        await alerting.stop()
        await stop(running)
