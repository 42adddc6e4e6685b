"""The embedded Tansu broker: Kafka round trip, topics, lifecycle, isolation, no orphans."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

import streams.broker as broker_mod
from streams import topics
from streams.broker import LOOPBACK, BrokerStartError, EmbeddedBroker, TopicCreationError
from streams.topics import TopicSpec, all_topics

from .conftest import PARTITIONS, BrokerFactory

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORDS = 100
KEYS = 10


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (an unreaped dead process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def _topic_names(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


class _JoinTimer(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.assigned_at: float | None = None

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if self.assigned_at is None:
            self.assigned_at = time.monotonic()


async def test_produce_and_consume_100_keyed_records_with_group(
    broker: EmbeddedBroker, record_property: Callable[[str, object], None]
) -> None:
    topic = _unique("it.roundtrip")
    created = await broker.acreate_topics([TopicSpec(topic, PARTITIONS, False, "internal", "test")])
    assert created == (topic,)

    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for seq in range(RECORDS):
            key = f"site-{seq % KEYS}"
            await producer.send(topic, key=key.encode(), value=json.dumps({"seq": seq}).encode())
        await producer.flush()
    finally:
        await producer.stop()

    timer = _JoinTimer()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=_unique("it.group"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        fetch_max_wait_ms=100,
    )
    consumer.subscribe([topic], listener=timer)
    t0 = time.monotonic()
    await consumer.start()
    seen: dict[str, list[int]] = defaultdict(list)
    partitions_of_key: dict[str, set[int]] = defaultdict(set)
    try:
        deadline = t0 + 30
        count = 0
        while count < RECORDS and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                for rec in records:
                    assert rec.key is not None
                    assert rec.value is not None
                    key = rec.key.decode()
                    seen[key].append(json.loads(rec.value)["seq"])
                    partitions_of_key[key].add(tp.partition)
                    count += 1
        done = time.monotonic()
        await consumer.commit()
        committed = {tp: await consumer.committed(tp) for tp in consumer.assignment()}
    finally:
        await consumer.stop()

    assert timer.assigned_at is not None
    join_s = timer.assigned_at - t0
    record_property("first_join_seconds", round(join_s, 3))
    record_property("consume_all_seconds", round(done - t0, 3))
    log.info("first group join %.3f s, all %d records consumed %.3f s after start", join_s, count, done - t0)

    assert count == RECORDS
    assert sorted(s for seqs in seen.values() for s in seqs) == list(range(RECORDS))
    for key, seqs in seen.items():
        assert seqs == sorted(seqs), f"per-key order broken for {key}"
        assert len(partitions_of_key[key]) == 1, f"{key} spread over partitions {partitions_of_key[key]}"
    assert sum(off or 0 for off in committed.values()) == RECORDS
    # Tansu holds the first JoinGroup for session_timeout/2 (3 s here); the default 60 s would
    # make it 30 s. Generous bound: this guards against the default creeping back in.
    assert join_s < 10


async def test_all_opel_topics_exist_and_status_is_compacted(broker: EmbeddedBroker) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        names = set(await admin.list_topics())
        assert set(topics.ALL_TOPIC_NAMES) <= names
        described = await admin.describe_topics([topics.STATUS, topics.ESCALATIONS])
        assert {t["topic"]: len(t["partitions"]) for t in described} == {
            topics.STATUS: PARTITIONS,
            topics.ESCALATIONS: PARTITIONS,
        }
        responses = await admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, topics.STATUS),
                ConfigResource(ConfigResourceType.TOPIC, topics.ESCALATIONS),
            ]
        )
    finally:
        await admin.close()
    policies: dict[str, str | None] = {topics.STATUS: None, topics.ESCALATIONS: None}
    for resp in responses:
        for resource in resp.resources:
            for entry in resource[4]:
                if entry[0] == "cleanup.policy":
                    policies[resource[3]] = entry[1]
    assert policies[topics.STATUS] == "compact"
    assert policies[topics.ESCALATIONS] in (None, "delete")


def test_topic_specs() -> None:
    specs = all_topics(PARTITIONS)
    # 17 of the service and 9 kept for live exercises (opel.exercise.*, docs/exercises.md).
    assert len({s.name for s in specs}) == len(specs) == 26
    assert len(topics.EXERCISE_TOPICS) == 9
    assert [s.name for s in specs if s.compacted] == [
        topics.STATUS,
        topics.ACTION_ITEMS,
        topics.NOTIFICATIONS,
        topics.PARTNER_DELIVERIES,
        topics.EXERCISE_ACTION_ITEMS,
        topics.EXERCISE_NOTIFICATIONS,
        topics.EXERCISE_STATUS,
    ]
    assert {s.name for s in specs if s.role == "in"} == set(topics.INPUT_TOPICS)
    assert {s.name for s in specs if s.role == "out"} == set(topics.OUTPUT_TOPICS)
    assert {s.name for s in specs if s.role == "internal"} == set(topics.INTERNAL_TOPICS)
    assert all(s.partitions == PARTITIONS for s in specs)
    with pytest.raises(ValueError, match="partitions"):
        all_topics(0)


def test_create_topics_is_idempotent_and_checks_existing(broker: EmbeddedBroker) -> None:
    assert broker.create_topics(all_topics(PARTITIONS)) == ()
    with pytest.raises(TopicCreationError, match="opel needs 2"):
        broker.create_topics([TopicSpec(topics.AUDIT, 2, False, "out", "wrong count")])
    with pytest.raises(TopicCreationError, match="compact"):
        broker.create_topics([TopicSpec(topics.AUDIT, PARTITIONS, True, "out", "wrong policy")])


async def test_sync_api_works_inside_a_running_event_loop(broker: EmbeddedBroker) -> None:
    topic = _unique("it.from-loop")
    assert broker.create_topics([TopicSpec(topic, 2, True, "internal", "sync call in a loop")]) == (topic,)
    assert topic in await _topic_names(broker.bootstrap)


def test_stop_ends_process_and_frees_port(broker_factory: BrokerFactory) -> None:
    b = broker_factory()
    pid, port = b.pid, b.port
    assert pid is not None
    assert b.is_running
    assert b.bootstrap == f"{LOOPBACK}:{port}"

    t0 = time.monotonic()
    b.stop()
    log.info("stop() took %.3f s", time.monotonic() - t0)
    assert not b.is_running
    assert not _pid_alive(pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the whole process group is gone
    b.stop()  # idempotent

    with socket.socket() as sock:  # the listening port is free again
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen()
    again = broker_factory(port=port)  # and a broker can use it again
    assert again.port == port
    assert again.is_running


def test_restart_and_context_manager(tmp_path: Path) -> None:
    with EmbeddedBroker(log_path=tmp_path / "cm.log") as b:
        first_pid = b.pid
        b.stop()
        b.start()
        assert b.is_running
        assert b.pid != first_pid
        pid = b.pid
    assert pid is not None
    assert not _pid_alive(pid)
    assert not b.is_running


async def test_two_brokers_run_at_once(broker: EmbeddedBroker, broker_factory: BrokerFactory) -> None:
    other = broker_factory()
    assert other.port != broker.port
    topic = _unique("it.only-on-other")
    await other.acreate_topics([TopicSpec(topic, 1, False, "internal", "isolation check")])
    on_other, on_session = await asyncio.gather(_topic_names(other.bootstrap), _topic_names(broker.bootstrap))
    assert topic in on_other
    assert topic not in on_session
    assert topics.STATUS in on_session
    assert topics.STATUS not in on_other


def test_start_failure_reports_broker_log(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        port = sock.getsockname()[1]
        b = EmbeddedBroker(port=port, log_path=tmp_path / "fail.log")
        t0 = time.monotonic()
        with pytest.raises(BrokerStartError, match="AddrInUse") as excinfo:
            b.start(timeout=10)
    assert time.monotonic() - t0 < 5
    assert "exited with code" in str(excinfo.value)
    assert not b.is_running


def test_start_retries_when_the_picked_port_is_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        taken = sock.getsockname()[1]
        ports = iter([taken])
        real_free_port = broker_mod.free_port
        monkeypatch.setattr(broker_mod, "free_port", lambda: next(ports, None) or real_free_port())
        b = EmbeddedBroker(log_path=tmp_path / "retry.log")
        try:
            b.start(timeout=20)
            assert b.is_running
            assert b.port != taken
        finally:
            b.stop()
    assert "AddrInUse" in (tmp_path / "retry.log").read_text()


_FAKE_BROKER = """#!/bin/sh
echo "fake broker that never answers: $*" >&2
sleep 60 &
echo $! > "$FAKE_CHILD_PID_FILE"
wait
"""


def test_start_timeout_reports_stderr_and_kills_process_group(tmp_path: Path) -> None:
    fake = tmp_path / "fake-tansu"
    fake.write_text(_FAKE_BROKER)
    fake.chmod(0o755)
    child_pid_file = tmp_path / "child.pid"
    b = EmbeddedBroker(
        binary=fake, log_path=tmp_path / "fake.log", env={"FAKE_CHILD_PID_FILE": str(child_pid_file)}
    )
    with pytest.raises(BrokerStartError, match="not ready in time") as excinfo:
        b.start(timeout=1.5)
    assert "fake broker that never answers: broker --listener-url" in str(excinfo.value)
    assert not b.is_running
    grandchild = int(child_pid_file.read_text())
    deadline = time.monotonic() + 5
    while _pid_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_alive(grandchild), "a process of the broker's group survived"
    b.stop()


_CHILD = textwrap.dedent(
    """
    import sys, time
    from streams.broker import EmbeddedBroker
    b = EmbeddedBroker()
    b.start()
    sys.stdout.write(f"{b.pid}\\n")
    sys.stdout.flush()
    if sys.argv[1] == "sleep":
        time.sleep(60)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="relies on PR_SET_PDEATHSIG and /proc")
@pytest.mark.parametrize("ending", ["sigkill", "exit-without-stop"])
def test_no_orphan_broker_when_owner_dies(ending: str) -> None:
    mode = "sleep" if ending == "sigkill" else "exit"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    owner = subprocess.Popen(
        [sys.executable, "-c", _CHILD, mode], stdout=subprocess.PIPE, cwd=REPO_ROOT, env=env, text=True
    )
    try:
        assert owner.stdout is not None
        broker_pid = int(owner.stdout.readline())
        if ending == "sigkill":
            assert _pid_alive(broker_pid)
            owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _pid_alive(broker_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        alive = _pid_alive(broker_pid)
        if alive:  # clean up before failing
            os.kill(broker_pid, signal.SIGKILL)
        assert not alive, f"broker {broker_pid} outlived its owner ({ending})"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
