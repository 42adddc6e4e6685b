"""Creating OPEL's topics on a Kafka cluster: the embedded broker and ``deploy/kafka/create_topics.py``.

The topics come from :mod:`streams.topics`; their configuration (``cleanup.policy=compact`` for
compacted topics) is decided here, once, so a topic created for ``opel run`` and one created on a
production cluster are the same. Idempotent: a topic that already exists is accepted when its
partition count and clean-up policy are what its :class:`~streams.topics.TopicSpec` says.
:func:`check_topics` only looks: ``opel run`` uses it to stop, naming what is missing, when it
is pointed at a cluster without its topics (unless ``--create-topics``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

from streams import kafka_security
from streams.kafka_security import PLAINTEXT, KafkaSecurity
from streams.topics import TopicSpec


def topic_config(spec: TopicSpec) -> dict[str, str]:
    """Kafka topic configuration for ``spec`` (only what differs from broker defaults)."""
    policy = {"cleanup.policy": "compact"} if spec.compacted else {}
    return policy | dict(spec.config)


def describe_topics(specs: Iterable[TopicSpec], replication_factor: int) -> list[str]:
    """One line per topic: name, partitions, replicas and its configuration."""
    lines = []
    for spec in specs:
        config = ",".join(f"{k}={v}" for k, v in sorted(topic_config(spec).items())) or "defaults"
        lines.append(
            f"{spec.name} partitions={spec.partitions} replicas={replication_factor} config={config}"
        )
    return lines


@dataclass(frozen=True, slots=True)
class TopicsOutcome:
    """What :func:`create_topics` did: topics created, topics already there, and what is wrong.

    ``failed`` lists creations the cluster refused; ``mismatched`` existing topics that differ
    from their spec. Each entry starts with the topic name.
    """

    created: tuple[str, ...]
    existing: tuple[str, ...]
    failed: tuple[str, ...]
    mismatched: tuple[str, ...]

    @property
    def problems(self) -> tuple[str, ...]:
        return self.failed + self.mismatched


async def create_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    *,
    replication_factor: int = 1,
    timeout: float = 30,
    verify_existing: bool = True,
    client_id: str = "opel-create-topics",
    security: KafkaSecurity = PLAINTEXT,
) -> TopicsOutcome:
    """Create the topics in ``specs`` that do not exist; check the ones that do.

    Connection problems (refused, timed out) raise; everything the cluster answers is reported
    in the returned :class:`TopicsOutcome`.
    """
    spec_list = list(specs)
    if len({s.name for s in spec_list}) != len(spec_list):
        raise ValueError("duplicate topic names in specs")
    if not spec_list:
        return TopicsOutcome((), (), (), ())
    timeout_ms = max(int(timeout * 1000), 100)
    admin = kafka_security.admin(
        bootstrap, security=security, client_id=client_id, request_timeout_ms=timeout_ms
    )
    await asyncio.wait_for(admin.start(), timeout)
    try:
        response = await admin.create_topics(
            [
                NewTopic(
                    name=spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=replication_factor,
                    topic_configs=topic_config(spec),
                )
                for spec in spec_list
            ],
            timeout_ms=timeout_ms,
        )
        created: list[str] = []
        existing: list[str] = []
        failed: list[str] = []
        for item in response.topic_errors:  # (topic, error_code[, error_message])
            name, code = str(item[0]), int(item[1])
            message = item[2] if len(item) > 2 else None
            if code == 0:
                created.append(name)
            elif code == TopicAlreadyExistsError.errno:
                existing.append(name)
            else:
                failed.append(f"{name}: {for_code(code).__name__} ({code}) {message or ''}".rstrip())
        if created:
            await _wait_until_led(admin, created, timeout)
        mismatched: list[str] = []
        if verify_existing and existing:
            by_name = {spec.name: spec for spec in spec_list}
            mismatched = await _mismatches(admin, [by_name[name] for name in existing])
        return TopicsOutcome(tuple(created), tuple(existing), tuple(failed), tuple(mismatched))
    finally:
        await admin.close()


async def _wait_until_led(admin: AIOKafkaAdminClient, names: Sequence[str], timeout: float) -> None:
    """Until every partition of ``names`` has a leader in the metadata the cluster serves.

    Apache Kafka answers CreateTopics once its controller has recorded the topics; brokers learn
    of them a moment later, and a client asking in between is told the topic does not exist.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    waiting = set(names)
    while True:
        described = await admin.describe_topics(sorted(waiting))
        for topic in described:
            parts = topic.get("partitions") or []
            if int(topic.get("error_code", 0)) == 0 and parts and all(int(p["leader"]) >= 0 for p in parts):
                waiting.discard(str(topic["topic"]))
        if not waiting:
            return
        if asyncio.get_running_loop().time() >= deadline:
            raise TimeoutError(f"topics created but without leaders after {timeout:.0f} s: {sorted(waiting)}")
        await asyncio.sleep(0.1)


@dataclass(frozen=True, slots=True)
class TopicsCheck:
    """What :func:`check_topics` found: topics the cluster lacks, and existing ones that differ."""

    missing: tuple[str, ...]
    mismatched: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched


async def check_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    *,
    timeout: float = 30,
    client_id: str = "opel-check-topics",
    security: KafkaSecurity = PLAINTEXT,
) -> TopicsCheck:
    """Which of ``specs`` the cluster lacks, and which exist with another partition count or policy.

    Creates nothing. Connection problems (refused, timed out) raise.
    """
    spec_list = list(specs)
    timeout_ms = max(int(timeout * 1000), 100)
    admin = kafka_security.admin(
        bootstrap, security=security, client_id=client_id, request_timeout_ms=timeout_ms
    )
    await asyncio.wait_for(admin.start(), timeout)
    try:
        present = set(await asyncio.wait_for(admin.list_topics(), timeout))
        missing = tuple(s.name for s in spec_list if s.name not in present)
        existing = [s for s in spec_list if s.name in present]
        mismatched = tuple(await _mismatches(admin, existing)) if existing else ()
        return TopicsCheck(missing, mismatched)
    finally:
        await admin.close()


@asynccontextmanager
async def _admin(
    bootstrap: str, timeout: float, client_id: str, security: KafkaSecurity
) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client whose requests time out after ``timeout`` s; closed on leaving."""
    admin = kafka_security.admin(
        bootstrap, security=security, client_id=client_id, request_timeout_ms=max(int(timeout * 1000), 100)
    )
    await asyncio.wait_for(admin.start(), timeout)
    try:
        yield admin
    finally:
        await admin.close()


async def broker_count(
    bootstrap: str,
    *,
    timeout: float = 30,
    client_id: str = "opel-check-topics",
    security: KafkaSecurity = PLAINTEXT,
) -> int:
    """How many brokers the cluster at ``bootstrap`` reports."""
    async with _admin(bootstrap, timeout, client_id, security) as admin:
        info = await asyncio.wait_for(admin.describe_cluster(), timeout)
    return len(info.get("brokers") or [])


async def replication_factor(
    bootstrap: str,
    topic: str,
    *,
    timeout: float = 30,
    client_id: str = "opel-check-topics",
    security: KafkaSecurity = PLAINTEXT,
) -> int:
    """How many replicas the partitions of ``topic`` have (the most of any partition; 1 if none)."""
    async with _admin(bootstrap, timeout, client_id, security) as admin:
        described = await asyncio.wait_for(admin.describe_topics([topic]), timeout)
    counts = [len(p.get("replicas") or []) for t in described for p in t.get("partitions") or []]
    return max(counts, default=1) or 1


def default_replication_factor(brokers: int) -> int:
    """Replicas for a new topic on a cluster of ``brokers``: 3 where there are 3 or more, else all."""
    return max(1, min(3, brokers))


async def _mismatches(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> list[str]:
    problems: list[str] = []
    described = await admin.describe_topics([s.name for s in specs])
    partitions = {str(t["topic"]): len(t.get("partitions") or []) for t in described}
    for spec in specs:
        actual = partitions.get(spec.name)
        if actual != spec.partitions:
            problems.append(f"{spec.name}: exists with {actual} partitions, opel needs {spec.partitions}")
    compacted = [s.name for s in specs if s.compacted]
    if compacted:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in compacted]
        )
        policies: dict[str, str | None] = dict.fromkeys(compacted)
        for resp in responses:
            for resource in resp.resources:  # (error_code, error_message, type, name, entries)
                for entry in resource[4]:  # (name, value, read_only, source, sensitive, synonyms)
                    if entry[0] == "cleanup.policy":
                        policies[str(resource[3])] = str(entry[1])
        problems.extend(
            f"{name}: exists with cleanup.policy={policy}, opel needs compact"
            for name, policy in policies.items()
            if policy is None or "compact" not in policy
        )
    return problems
