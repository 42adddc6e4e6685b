"""Failure tests on a three-node Apache Kafka cluster (issue 12, point 3).

Every opel topic has 3 replicas and the cluster ``min.insync.replicas`` 2 (created as
``opel run --create-topics --replication-factor 3`` does); the worker's producers send with
``acks=all``. Each test starts its own cluster and one worker subprocess, streams a day of
readings whose values cross the catalogue's bands often, breaks the cluster mid-stream and then
checks, as the oracle tests do (tests/integration/test_oracle.py):

* the escalation events on opel.escalations.v1 are the transitions of the pure core over the
  same readings in event-time order: same subject, from, to, time and id;
* no escalation id is carried by two different transitions, and no transition by two ids (an
  identical event written twice is a redelivery that readers drop by id, as at-least-once allows);
* no reading is lost: every reading produced has its audit record (assessed, not assessed,
  duplicate or stale) on opel.audit.v1.

The faults: kill -9 of the node leading most of the partitions the worker reads; SIGSTOP of that
node for 60 s; a rolling restart of all three nodes (each waits until every partition is back to
3 in-sync replicas, as an operator's would, while readings keep arriving); kill -9 of the worker
while the cluster fails over from a killed node. What each found on the way, and fixed, is in
docs/kafka.md ("Failure tests on three nodes").

Apache Kafka only (not run per tier): skipped with the reason where Java or Maven is missing,
failed instead under ``OPEL_REQUIRE_KAFKA=1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from support.progress import announce

from opel.contracts.escalation import EscalationEvent
from opel.models import Reading
from opel.replay import TransitionKey, transition_key
from streams import topics
from streams.apache_kafka import ApacheKafka
from streams.settings import Settings
from streams.worker import ensure_topics

from . import conftest
from .oracle_support import (
    Message,
    audited_readings,
    compare,
    kill_9,
    messages,
    now_minute,
    oracle_transitions,
    produce,
    reading_key,
    settle,
    start_worker,
    stop_worker,
    stream,
    wait_until_progressed,
    where_it_stands,
    where_readings_went,
)
from .service import PARTITIONS

pytestmark = pytest.mark.slow

BROKER_TIERS = ()  # not run per tier: every test here is about a three-node Apache Kafka cluster

EVERY = timedelta(minutes=10)
DAY = 144  # ten-minute slots
SOURCE_IDLE = timedelta(seconds=45)
"""Longer than a producer stalls while the cluster elects a new leader (a killed node is fenced
after 9 s, then its partitions move). With the default 10 s, ingest took the stalled topic for a
silent source of its areas and released the other topic's readings past it; the stalled readings
then came late and were applied by the lateness rule (docs/semantics.md), so the transitions
differed from the core's in event-time order without any reading lost (kill of the leader: 5 of
5 runs passed with 45 s, about half with 10 s, 2026-12-03). The oracle tests' idle grace is
longer than their faults for the same reason."""

REPLICAS = 3
READ = (topics.CAPACITY, topics.REFERRALS, topics.AREA_EVENTS)
"""The topics whose partitions the worker reads readings from: the inputs, then the area stage's."""


@pytest.fixture(autouse=True)
def broker_kind() -> str:
    """Overrides the tiers of conftest.py for this module."""
    return "kafka"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ApacheKafka]:
    """A started three-node cluster with opel's topics, 3 replicas each, as `opel run
    --create-topics --replication-factor 3` makes them."""
    conftest.require_kafka()
    announce("starting Apache Kafka (three nodes)")
    kafka = ApacheKafka(3, workdir=tmp_path / "kafka")
    try:
        kafka.start(timeout=240)
        assert (kafka.replication_factor, kafka.min_insync_replicas) == (REPLICAS, 2)
        settings = Settings.load(broker_url=kafka.url, data_dir=tmp_path / "admin", partitions=PARTITIONS)
        asyncio.run(ensure_topics(settings, create=True, replication_factor=REPLICAS))
        yield kafka
    finally:
        # The data is thrown away: no need for a controlled shutdown of each node.
        kafka.stop(timeout=3)


@dataclass(frozen=True)
class Day:
    """A day of readings, ending at ``end``, as messages and as the core's transitions."""

    readings: list[Reading]
    end: datetime
    want: list[TransitionKey]
    batch: list[Message]

    def part(self, first: float, last: float) -> list[Message]:
        """The messages from fraction ``first`` of the day to fraction ``last``, in order."""
        n = len(self.batch)
        return self.batch[int(n * first) : int(n * last)]


def a_day(seed: int) -> Day:
    end = now_minute() - timedelta(minutes=5)
    readings = stream(seed, end=end, slots=DAY, every=EVERY)
    return Day(readings, end, oracle_transitions(readings), messages(readings))


async def feed(
    kafka: ApacheKafka, batch: Sequence[Message], *, chunk_size: int = 1000, pace: float = 0.0
) -> None:
    """Produce with acks=all, as the issue asks of every producer here."""
    await produce(kafka.bootstrap, batch, acks="all", chunk_size=chunk_size, pace=pace)


async def finish(kafka: ApacheKafka, day: Day) -> None:
    """Wait for the service to settle, then check it against the core."""
    events = await settle(kafka.bootstrap, day.want, day.end)
    await check(kafka, day.want, day.readings, events)


def third_of(readings: Sequence[Reading]) -> datetime:
    return readings[len(readings) // 3].observed_at


async def _describe(bootstrap: str, names: Sequence[str]) -> list[dict[str, object]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await asyncio.wait_for(admin.start(), 15)
    try:
        described = await asyncio.wait_for(admin.describe_topics(list(names)), 15)
    finally:
        await admin.close()
    return list(described)


async def busiest_leader(kafka: ApacheKafka) -> int:
    """The node leading the most partitions the worker reads readings from (ties: lowest id)."""
    described = await _describe(kafka.bootstrap, READ)
    led = Counter(int(p["leader"]) for t in described for p in t["partitions"])  # type: ignore[attr-defined]
    assert set(led) <= set(kafka.pids), led
    return min(led, key=lambda node: (-led[node], node))


async def every_topic(kafka: ApacheKafka) -> list[Any]:
    """Every topic of the cluster described (partitions, replicas, in-sync replicas) by a live node."""
    live = ",".join(n.bootstrap for n in kafka.nodes if n.is_running and not n.paused)
    admin = AIOKafkaAdminClient(bootstrap_servers=live, request_timeout_ms=10_000)
    await asyncio.wait_for(admin.start(), 15)
    try:
        names = await asyncio.wait_for(admin.list_topics(), 15)
        return list(await asyncio.wait_for(admin.describe_topics(names), 15))
    finally:
        await admin.close()


async def under_replicated(kafka: ApacheKafka) -> list[str]:
    """``topic/partition`` of every partition with fewer than 3 in-sync replicas."""
    return [
        f"{t['topic']}/{p['partition']}"
        for t in await every_topic(kafka)
        for p in t["partitions"]
        if len(p["isr"]) < REPLICAS
    ]


async def thinly_replicated(kafka: ApacheKafka) -> list[str]:
    """Topics with fewer than 3 replicas: opel's, and those Faust creates (changelogs, leader topic)."""
    out = []
    for t in await every_topic(kafka):
        replicas = min(len(p["replicas"]) for p in t["partitions"])
        if replicas < REPLICAS:
            out.append(f"{t['topic']} ({replicas})")
    return sorted(out)


async def wait_fully_replicated(kafka: ApacheKafka, timeout: float = 120.0) -> None:
    """Until every partition of every topic has all 3 replicas in sync again."""
    deadline = time.monotonic() + timeout
    lagging: list[str] = ["not asked yet"]
    while True:
        with contextlib.suppress(Exception):  # a node that just came back may not answer yet
            lagging = await under_replicated(kafka)
            if not lagging:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"partitions still under-replicated after {timeout:.0f} s: {lagging[:10]}")
        await asyncio.sleep(1)


async def lost_readings(bootstrap: str, readings: Sequence[Reading]) -> list[str]:
    """Readings produced that have no audit record of their own on opel.audit.v1."""
    audited = await audited_readings(bootstrap)
    return [
        f"{r.indicator} {r.area} {r.value} at {r.observed_at.isoformat()}"
        for r in readings
        if reading_key(r) not in audited
    ]


async def check(
    kafka: ApacheKafka,
    want: Sequence[TransitionKey],
    readings: Sequence[Reading],
    events: Sequence[EscalationEvent],
) -> None:
    """The oracle comparison, no lost reading, no duplicated escalation id; all problems in one message."""
    problems = []
    found = compare(want, events)
    if found:
        problems.append(found)
        problems.append(await where_it_stands(kafka.bootstrap))
    # compare() says an id carried by two transitions; this says a transition under two ids (the
    # id is part of the transition key, so the diff would show both, but say it plainly).
    ids_per_transition = Counter(key[:4] for key in {transition_key(e) for e in events})
    again = [key for key, n in ids_per_transition.items() if n > 1]
    if again:
        problems.append(f"transitions written under more than one id: {again[:10]}")
    # The last readings of an input may wait SOURCE_IDLE (45 s) in ingest's event-time merge
    # after the transitions are complete: give them that long and more before calling them lost.
    deadline = time.monotonic() + 60
    while (lost := await lost_readings(kafka.bootstrap, readings)) and time.monotonic() < deadline:
        await asyncio.sleep(2)
    if lost:
        problems.append(f"{len(lost)} readings without an audit record (lost): {lost[:10]}")
    if found or lost:
        problems.append(f"where the readings went:\n{await where_readings_went(kafka.bootstrap, readings)}")
    thin = await thinly_replicated(kafka)
    if thin:
        problems.append(f"topics with fewer than {REPLICAS} replicas: {thin}")
    copies = len(events) - len({e.id for e in events})
    announce(f"{len(want)} transitions as the oracle's; {copies} events redelivered with their id")
    assert len(want) > 200
    assert not problems, "\n".join(problems)


async def test_kill_9_of_the_leader_of_the_partitions_the_worker_reads(
    cluster: ApacheKafka, tmp_path: Path
) -> None:
    day = a_day(21)
    proc = start_worker(cluster, tmp_path / "worker", "opel-failover-kill-leader", source_idle=SOURCE_IDLE)
    try:
        await feed(cluster, day.part(0, 1 / 2))
        await wait_until_progressed(cluster.bootstrap, third_of(day.readings))
        leader = await busiest_leader(cluster)
        announce(f"kill -9 of node {leader}, leader of most partitions the worker reads")
        await asyncio.to_thread(cluster.kill, leader)
        # The rest arrives while the cluster elects new leaders; the node stays down to the end:
        # two of three replicas in sync still take acks=all writes.
        await feed(cluster, day.part(1 / 2, 1))
        await finish(cluster, day)
    finally:
        stop_worker(proc)


async def test_a_broker_paused_for_60_s_mid_stream(cluster: ApacheKafka, tmp_path: Path) -> None:
    day = a_day(22)
    proc = start_worker(cluster, tmp_path / "worker", "opel-failover-pause", source_idle=SOURCE_IDLE)
    try:
        await feed(cluster, day.part(0, 1 / 2))
        await wait_until_progressed(cluster.bootstrap, third_of(day.readings))
        paused = await busiest_leader(cluster)
        announce(f"SIGSTOP of node {paused} for 60 s")
        # The producer keeps trying through the pause; the worker is mid-stream when it starts.
        rest = asyncio.create_task(feed(cluster, day.part(1 / 2, 1)))
        await asyncio.to_thread(cluster.pause, paused)
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.to_thread(cluster.resume, paused)
        await rest
        await finish(cluster, day)
    finally:
        stop_worker(proc)


async def test_a_rolling_restart_of_all_three_nodes(cluster: ApacheKafka, tmp_path: Path) -> None:
    day = a_day(23)
    proc = start_worker(cluster, tmp_path / "worker", "opel-failover-rolling", source_idle=SOURCE_IDLE)
    try:
        await feed(cluster, day.part(0, 3 / 9))
        await wait_until_progressed(cluster.bootstrap, day.readings[len(day.readings) // 6].observed_at)
        # The rest of the day keeps arriving, in order and at a steady pace, through the whole
        # restart (about two minutes of it), as producers go on in a real rolling restart: one
        # node is down at a time and the next goes only when every partition has its 3 replicas
        # again, so acks=all writes never stop. (A feed silent for longer than OPEL_SOURCE_IDLE
        # and then resumed is another case: its readings may come late, by the stated rule.)
        rest = asyncio.create_task(feed(cluster, day.part(3 / 9, 1), chunk_size=20, pace=1.0))
        try:
            for node_id in sorted(cluster.pids):
                announce(f"rolling restart: node {node_id}")
                await asyncio.to_thread(cluster.stop_node, node_id)
                await asyncio.sleep(10)  # readings produced while it is down
                await asyncio.to_thread(cluster.start_node, node_id, 120)
                await wait_fully_replicated(cluster)
            await rest
        finally:
            rest.cancel()
        await finish(cluster, day)
    finally:
        stop_worker(proc)


async def test_worker_kill_9_during_a_broker_failover(cluster: ApacheKafka, tmp_path: Path) -> None:
    day = a_day(24)
    app_id = "opel-failover-worker-kill"
    proc = start_worker(cluster, tmp_path / "worker", app_id, source_idle=SOURCE_IDLE)
    try:
        await feed(cluster, day.part(0, 1 / 2))
        await wait_until_progressed(cluster.bootstrap, third_of(day.readings))
        leader = await busiest_leader(cluster)
        announce(f"kill -9 of node {leader}, then of the worker while leadership moves")
        await asyncio.to_thread(cluster.kill, leader)
        # Kafka fences a killed broker after its session time-out (9 s by default): the worker
        # dies inside that window, with writes to the dead leader in flight.
        await asyncio.sleep(2)
        kill_9(proc)
        await feed(cluster, day.part(1 / 2, 1))
        proc = start_worker(cluster, tmp_path / "worker", app_id, source_idle=SOURCE_IDLE)
        # The node comes back while the new worker restores its tables and catches up.
        await asyncio.sleep(5)
        await asyncio.to_thread(cluster.start_node, leader, 120)
        await finish(cluster, day)
    finally:
        stop_worker(proc)
