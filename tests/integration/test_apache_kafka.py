"""Apache Kafka from Maven Central jars (streams.apache_kafka) and `opel run` on a cluster without topics.

These tests are about Apache Kafka only, so they are not run once per broker tier (see conftest.py);
those that start a cluster skip where Java or Maven is missing, or fail under OPEL_REQUIRE_KAFKA=1.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from support.progress import announce

import streams.apache_kafka as ak
from streams import topic_admin, topics
from streams.apache_kafka import ApacheKafka, KafkaUnavailable
from streams.broker import LOOPBACK, free_port
from streams.settings import Settings
from streams.topics import TopicSpec
from streams.worker import TopicsNotReadyError, ensure_topics

from . import conftest
from .conftest import PARTITIONS

BROKER_TIERS = ()  # not run per tier: every test here is about Apache Kafka


@pytest.fixture(autouse=True)
def broker_kind() -> str:
    """Overrides the tiers of conftest.py for this module."""
    return "kafka"


@pytest.fixture
def kafka_ready() -> None:
    conftest.require_kafka()


@pytest.fixture
def one_node(kafka_ready: None, tmp_path: Path) -> Iterator[ApacheKafka]:
    announce("starting Apache Kafka (one node)")
    cluster = ApacheKafka(1, workdir=tmp_path / "kafka")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


async def _round_trip(bootstrap: str, topic: str, count: int, *, acks: str | int = "all") -> list[int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=acks, linger_ms=5, request_timeout_ms=20000)
    await producer.start()
    try:
        for seq in range(count):
            await producer.send(topic, key=f"k{seq % 5}".encode(), value=json.dumps(seq).encode())
        await producer.flush()
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"it-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    seen: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(seen) < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen.extend(json.loads(r.value) for r in records if r.value is not None)
    finally:
        await consumer.stop()
    return sorted(seen)


async def _send_one(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"x")
    finally:
        await producer.stop()


async def _describe(bootstrap: str, names: list[str]) -> dict[str, tuple[int, set[int]]]:
    """{topic: (partitions, {replica counts})}."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    return {
        str(t["topic"]): (len(t["partitions"]), {len(p["replicas"]) for p in t["partitions"]})
        for t in described
    }


# ---------------------------------------------------------------------- without a cluster
def test_the_pinned_version_is_read_from_the_pom(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPEL_KAFKA_VERSION", raising=False)
    pinned = ak.pinned_version()
    assert pinned.startswith("4.")
    assert ak.kafka_version() == pinned
    assert ak.jars_dir().parts[-2:] == (pinned, "libs")
    monkeypatch.setenv("OPEL_KAFKA_VERSION", "4.0.0")
    assert ak.kafka_version() == "4.0.0"
    assert ak.jars_dir().parts[-2:] == ("4.0.0", "libs")


def test_compose_runs_the_pinned_version() -> None:
    compose = yaml.safe_load((ak.REPO_ROOT / "deploy" / "kafka" / "compose.yaml").read_text(encoding="utf-8"))
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{ak.pinned_version()}"


def test_without_java_the_reason_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    reason = ak.unavailable_reason()
    assert reason is not None
    assert "Java is not installed" in reason
    with pytest.raises(KafkaUnavailable, match="Java"):
        ApacheKafka(1, workdir=tmp_path / "k").start()


def test_without_maven_or_cached_jars_the_reason_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    try:
        java = ak.java_binary()
    except KafkaUnavailable as exc:
        pytest.skip(f"needs Java: {exc}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(os.path.realpath(java))
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("OPEL_KAFKA_CACHE", str(tmp_path / "cache"))
    reason = ak.unavailable_reason()
    assert reason is not None
    assert "Maven is not installed" in reason
    with pytest.raises(KafkaUnavailable, match="Maven is not installed"):
        ak.resolve_jars()


def test_the_tier_skips_with_the_reason_or_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "unavailable_reason", lambda: "Java is not installed (test)")
    monkeypatch.delenv(conftest.REQUIRE_KAFKA, raising=False)
    with pytest.raises(
        pytest.skip.Exception, match=r"Apache Kafka tier skipped: Java is not installed \(test\)"
    ):
        conftest.require_kafka()
    monkeypatch.setenv(conftest.REQUIRE_KAFKA, "1")
    with pytest.raises(pytest.fail.Exception, match="OPEL_REQUIRE_KAFKA is set but Apache Kafka cannot run"):
        conftest.require_kafka()


# ---------------------------------------------------------------------- one node
def test_one_node_formats_starts_serves_and_stops_cleanly(one_node: ApacheKafka) -> None:
    cluster = one_node
    [node] = cluster.nodes
    assert cluster.bootstrap == f"{LOOPBACK}:{node.port}" == f"{LOOPBACK}:{cluster.port}"
    assert cluster.url == f"kafka://{LOOPBACK}:{node.port}"
    assert cluster.pid == node.pid is not None
    assert cluster.is_running
    assert (node.data_dir / "meta.properties").read_text().count(cluster.cluster_id) == 1
    assert "Kafka Server started" in node.log_path.read_text()
    assert cluster.replication_factor == 1
    topic = f"it.apache.{uuid.uuid4().hex[:8]}"
    assert cluster.create_topics([TopicSpec(topic, 2, False, "internal", "test")]) == (topic,)
    assert asyncio.run(_round_trip(cluster.bootstrap, topic, 50)) == list(range(50))
    assert asyncio.run(_describe(cluster.bootstrap, [topic])) == {topic: (2, {1})}
    # auto.create.topics.enable=false, as on the Compose cluster: a misspelt topic is not created.
    misspelt = f"it.misspelt.{uuid.uuid4().hex[:8]}"
    with pytest.raises(KafkaError):
        asyncio.run(_send_one(cluster.bootstrap, misspelt))
    assert asyncio.run(
        topic_admin.check_topics(cluster.bootstrap, [TopicSpec(misspelt, 1, False, "internal", "test")])
    ).missing == (misspelt,)
    pid, ports = node.pid, (node.port, node.controller_port)
    assert pid is not None
    cluster.stop()
    assert not _alive(pid)
    assert not cluster.is_running
    assert all(_port_free(p) for p in ports)
    assert "shutting down" in node.log_path.read_text().lower()  # SIGTERM: a clean shutdown
    cluster.stop()  # idempotent


def test_a_node_pauses_and_resumes(one_node: ApacheKafka) -> None:
    [node] = one_node.nodes
    assert node.pid is not None
    one_node.pause(node.node_id)
    assert _state(node.pid) == "T"
    one_node.resume(node.node_id)
    assert _state(node.pid) != "T"
    topic = f"it.apache.{uuid.uuid4().hex[:8]}"
    one_node.create_topics([TopicSpec(topic, 1, False, "internal", "test")])
    assert asyncio.run(_round_trip(one_node.bootstrap, topic, 5)) == list(range(5))


def _opel_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OPEL_")}
    env.update(OPEL_DATA_DIR=str(tmp_path / "data"), OPEL_WEB_PORT="0", OPEL_PARTITIONS=str(PARTITIONS))
    return env


def test_opel_run_on_a_cluster_without_topics_stops_at_once_naming_them(
    one_node: ApacheKafka, tmp_path: Path
) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "opel.cli", "run", "--broker", one_node.url],
        capture_output=True,
        text=True,
        env=_opel_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert time.monotonic() - started < 60
    assert "Traceback" not in done.stderr + done.stdout
    [line] = [text for text in done.stderr.splitlines() if "missing" in text]
    count = len(topics.ALL_TOPIC_NAMES)  # every topic, however many opel has now
    assert line.startswith(f"opel run: {count} of opel's {count} topics are missing on ")
    assert all(name in line for name in topics.ALL_TOPIC_NAMES)
    assert "opel run --create-topics" in line
    assert "deploy/kafka/create_topics.py" in line
    assert asyncio.run(topic_admin.check_topics(one_node.bootstrap, topics.all_topics(PARTITIONS))).missing


def test_opel_run_create_topics_creates_them_as_create_topics_py_would(
    one_node: ApacheKafka, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "opel.cli", "run", "--broker", one_node.url, "--create-topics"],
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "run.err").open("w"),
        text=True,
        env=_opel_env(tmp_path),
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        errors = (tmp_path / "run.err").read_text()
        assert first.startswith("opel is running: broker "), errors
    finally:
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(60)
    errors = (tmp_path / "run.err").read_text()
    assert status == 0, errors
    assert "Traceback" not in errors
    count = len(topics.ALL_TOPIC_NAMES)
    assert f"created {count} topics on {one_node.bootstrap} ({PARTITIONS} partitions, 1 replicas)" in errors
    specs = topics.all_topics(PARTITIONS)
    check = asyncio.run(topic_admin.check_topics(one_node.bootstrap, specs))
    assert check.ok, check  # partitions and cleanup.policy=compact where the spec says
    described = asyncio.run(_describe(one_node.bootstrap, list(topics.ALL_TOPIC_NAMES)))
    assert described == {name: (PARTITIONS, {1}) for name in topics.ALL_TOPIC_NAMES}
    # The tables' changelogs are created and led before Faust starts (streams.worker.create_changelogs):
    # left to Faust, a consumer could see one as missing and every write to its table failed.
    changelogs = [f"opel-{name}-books-changelog" for name in ("area", "county", "system")]
    assert "created 3 table changelogs (1 replicas)" in errors
    assert asyncio.run(_describe(one_node.bootstrap, changelogs)) == {
        name: (PARTITIONS, {1}) for name in changelogs
    }


def test_opel_run_refuses_replication_factor_without_create_topics(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "opel.cli", "run", "--broker", "127.0.0.1:9", "--replication-factor", "3"],
        capture_output=True,
        text=True,
        env=_opel_env(tmp_path),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--replication-factor is only used with --create-topics" in done.stderr


def test_an_unreachable_cluster_is_one_line(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings.load(broker_url=f"kafka://{LOOPBACK}:{port}", data_dir=tmp_path)
    with pytest.raises(TopicsNotReadyError, match=f"cannot reach Kafka at {LOOPBACK}:{port}") as caught:
        asyncio.run(ensure_topics(settings, timeout=5))
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------------- three nodes
def test_three_nodes_replicate_survive_a_killed_leader_and_take_it_back(
    kafka_ready: None, tmp_path: Path
) -> None:
    announce("starting Apache Kafka (three nodes)")
    cluster = ApacheKafka(3, workdir=tmp_path / "kafka")
    cluster.start(timeout=240)
    try:
        assert len(cluster.nodes) == 3
        assert len(set(cluster.pids.values())) == 3
        assert cluster.bootstrap.count(",") == 2
        assert cluster.url.startswith("kafka://")
        assert cluster.url.count(";") == 2
        assert (cluster.replication_factor, cluster.min_insync_replicas) == (3, 2)

        # `opel run --create-topics` picks 3 replicas on a cluster of three.
        settings = Settings.load(broker_url=cluster.url, data_dir=tmp_path / "data", partitions=PARTITIONS)
        created = asyncio.run(ensure_topics(settings, create=True))
        assert set(created) == set(topics.ALL_TOPIC_NAMES)
        described = asyncio.run(_describe(cluster.bootstrap, [topics.STATUS, topics.AUDIT]))
        assert described == {topics.STATUS: (PARTITIONS, {3}), topics.AUDIT: (PARTITIONS, {3})}
        assert asyncio.run(ensure_topics(settings)) == ()  # now they exist: the check passes

        topic = f"it.apache3.{uuid.uuid4().hex[:8]}"
        cluster.create_topics([TopicSpec(topic, 1, False, "internal", "test")])
        leader = cluster.partition_leaders(topic)[0]
        assert leader in cluster.pids
        cluster.kill(leader)
        assert not cluster.node(leader).is_running
        deadline = time.monotonic() + 60
        while (now := cluster.partition_leaders(topic).get(0)) in (leader, -1, None):
            assert time.monotonic() < deadline, f"no new leader after killing node {leader}"
            time.sleep(0.5)
        assert now != leader
        # Two of three replicas in sync: acks=all still succeeds (min.insync.replicas=2).
        assert asyncio.run(_round_trip(cluster.bootstrap, topic, 20)) == list(range(20))

        cluster.start_node(leader)
        assert cluster.node(leader).is_running
        other = next(n for n in cluster.pids if n != leader)
        cluster.pause(other)
        assert _state(cluster.pids[other] or 0) == "T"
        cluster.resume(other)
        assert cluster.is_running
    finally:
        pids = [p for p in cluster.pids.values() if p is not None]
        cluster.stop(timeout=30)
    assert not any(_alive(p) for p in pids)
