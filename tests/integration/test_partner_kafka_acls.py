"""The ACLs docs/partners.md gives a partner who reads Kafka, applied to Apache Kafka and tried.

One Apache Kafka node with the StandardAuthorizer and a SASL_SSL listener taking SASL/PLAIN
users (the launcher's :class:`SecureListener`, certificates made by ``openssl``). The broker's
own PLAINTEXT listener is a super user (the launcher probes it, the test sets up topics there);
``admin`` is one too. The two ``kafka-acls.sh`` commands are taken from docs/partners.md and run
as written, through Kafka's ``AclCommand`` from the launcher's jars. Then, as the partner:
reading ``opel.escalations.v1`` and ``opel.status.v1`` in a group of its prefix works; reading
``opel.commands.v1``, joining a group outside its prefix and producing to ``opel.escalations.v1``
are refused.

Like tests/integration/test_kafka_security.py, not run per broker tier; skipped where Java,
the Kafka jars or openssl are missing (a failure with OPEL_REQUIRE_KAFKA=1).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from test_alerting_fixtures import escalation

from streams import topics
from streams.apache_kafka import ApacheKafka, SecureListener, jars_dir, java_binary
from streams.kafka_security import KafkaSecurity

from . import test_kafka_security
from .conftest import PARTITIONS
from .service import produce

pytestmark = pytest.mark.slow

certificates = test_kafka_security.certificates
"""The CA and broker keystore of the SASL_SSL test, made the same way (a module-scoped fixture)."""

BROKER_TIERS = ()  # not run per tier: the authorizer and the SASL listener are Apache Kafka's

ROOT: Final = Path(__file__).resolve().parents[2]
PARTNER: Final = "partner-kmpt"
PASSWORD: Final = "partner-plain-password"
ADMIN_PASSWORD: Final = "admin-plain-password"
ACL_COMMAND: Final = "org.apache.kafka.tools.AclCommand"


@pytest.fixture(autouse=True)
def broker_kind() -> str:
    """Overrides the tiers of conftest.py for this module."""
    return "kafka"


@pytest.fixture(scope="module")
def cluster(certificates: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheKafka]:
    kafka = ApacheKafka(
        1,
        workdir=tmp_path_factory.mktemp("kafka"),
        secure=SecureListener(
            keystore=certificates["keystore"],
            plain_users={PARTNER: PASSWORD, "admin": ADMIN_PASSWORD},
        ),
        broker_config={
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            # The PLAINTEXT and controller listeners authenticate nobody: the broker itself, the
            # launcher's probes and this test's setup. Every partner comes in over SASL_SSL.
            "super.users": "User:ANONYMOUS;User:admin",
            "allow.everyone.if.no.acl.found": "false",
        },
    )
    kafka.start(timeout=180)
    try:
        kafka.create_topics(topics.all_topics(PARTITIONS))
        yield kafka
    finally:
        kafka.stop()


def documented_acl_commands() -> list[list[str]]:
    """The ``kafka-acls.sh`` commands of docs/partners.md, each as its arguments."""
    text = (ROOT / "docs" / "partners.md").read_text(encoding="utf-8").replace("\\\n", " ")
    commands = [shlex.split(line)[1:] for line in text.splitlines() if line.startswith("kafka-acls.sh ")]
    assert len(commands) == 2, commands
    return commands


def partner_security(certificates: dict[str, Path], password: str = PASSWORD) -> KafkaSecurity:
    context = ssl.create_default_context(cafile=str(certificates["ca"]))
    return KafkaSecurity(
        protocol="SASL_SSL", mechanism="PLAIN", username=PARTNER, password=password, ssl_context=context
    )


def apply_documented_acls(cluster: ApacheKafka, folder: Path) -> str:
    admin = folder / "admin.properties"
    admin.write_text("security.protocol=PLAINTEXT\n", encoding="utf-8")
    java = [java_binary(), "-cp", str(jars_dir() / "*"), ACL_COMMAND]
    env = dict(os.environ, BROKER=cluster.bootstrap.split(",")[0])
    for args in documented_acl_commands():
        resolved = [env["BROKER"] if a == "$BROKER" else a for a in args]
        done = subprocess.run(
            [*java, *resolved], cwd=folder, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
    listed = subprocess.run(
        [*java, "--bootstrap-server", env["BROKER"], "--list", "--principal", f"User:{PARTNER}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


def granted(listing: str) -> set[tuple[str, str, str, str]]:
    """(resource type, name, pattern type, operation) of every ALLOW entry in an AclCommand --list."""
    out: set[tuple[str, str, str, str]] = set()
    resource: tuple[str, str, str] | None = None
    for line in listing.splitlines():
        head = re.search(r"resourceType=(\w+), name=([^,]+), patternType=(\w+)", line)
        if head:
            resource = head.groups()  # type: ignore[assignment]
            continue
        entry = re.search(r"operation=(\w+), permissionType=ALLOW", line)
        if entry and resource is not None:
            out.add((*resource, entry.group(1)))
    return out


def client_properties(certificates: dict[str, Path], folder: Path) -> Path:
    """A Java client's configuration as the partner, over SASL_SSL with SASL/PLAIN."""
    path = folder / "partner.properties"
    path.write_text(
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{PARTNER}" password="{PASSWORD}";\n'
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={certificates['ca']}\n",
        encoding="utf-8",
    )
    return path


def kafka_tool(main: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [java_binary(), "-cp", str(jars_dir() / "*"), main, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def console_consume(
    cluster: ApacheKafka, config: Path, topic: str, group: str
) -> subprocess.CompletedProcess[str]:
    return kafka_tool(
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "--bootstrap-server", cluster.secure_bootstrap, "--consumer.config", str(config),
        "--topic", topic, "--group", group, "--from-beginning", "--max-messages", "1",
        "--timeout-ms", "20000", "--property", "print.key=true",
    )  # fmt: skip


def console_produce(
    cluster: ApacheKafka, config: Path, topic: str, line: str
) -> subprocess.CompletedProcess[str]:
    return kafka_tool(
        "org.apache.kafka.tools.ConsoleProducer",
        "--bootstrap-server", cluster.secure_bootstrap, "--producer.config", str(config),
        "--topic", topic, "--property", "parse.key=true", "--property", "key.separator=:",
        "--request-timeout-ms", "20000",
        # Without idempotence, which would be refused first for want of a cluster permission:
        # what is tried is the write to the topic itself.
        "--producer-property", "enable.idempotence=false",
        stdin=line + "\n",
    )  # fmt: skip


async def consume_one(
    cluster: ApacheKafka, security: KafkaSecurity, topic: str, group: str | None, timeout: float = 30
) -> list[Any]:
    """Records of ``topic`` read as the partner with aiokafka (with ``group``: subscribed, committed)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=cluster.secure_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **security.client_options(),
    )
    await consumer.start()
    try:
        if group is None:
            tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
        else:
            consumer.subscribe([topic])
        records: list[Any] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while not records and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            records = [r for rs in batch.values() for r in rs]
        if group is not None and records:
            await consumer.commit()
        return records
    finally:
        await consumer.stop()


async def test_a_partner_principal_reads_status_and_escalations_and_nothing_else(
    cluster: ApacheKafka, certificates: dict[str, Path], tmp_path: Path
) -> None:
    event = escalation("area/east_kent", 2, 3)
    await produce(
        cluster.bootstrap,
        [
            (topics.ESCALATIONS, b"area/east_kent", json.dumps(event).encode()),
            (topics.STATUS, b"area/east_kent", b'{"scope": "area/east_kent"}'),
            (topics.COMMANDS, b"area/east_kent", b'{"type": "withdraw"}'),
        ],
    )
    listing = apply_documented_acls(cluster, tmp_path)
    assert granted(listing) == {
        ("TOPIC", topics.STATUS, "LITERAL", "READ"),
        ("TOPIC", topics.STATUS, "LITERAL", "DESCRIBE"),
        ("TOPIC", topics.ESCALATIONS, "LITERAL", "READ"),
        ("TOPIC", topics.ESCALATIONS, "LITERAL", "DESCRIBE"),
        ("GROUP", f"{PARTNER}-", "PREFIXED", "READ"),
    }, listing

    security = partner_security(certificates)
    read = await consume_one(cluster, security, topics.ESCALATIONS, f"{PARTNER}-etl")
    assert [r.key for r in read] == [b"area/east_kent"]
    status = await consume_one(cluster, security, topics.STATUS, f"{PARTNER}-board")
    assert [r.key for r in status] == [b"area/east_kent"]

    # The refusals through Kafka's own console clients, whose errors name what was refused
    # (aiokafka retries an unauthorized topic's metadata without end and raises nothing).
    config = client_properties(certificates, tmp_path)
    # The console consumer prints its error on stdout and exits 0 after any error: read both.
    commands = console_consume(cluster, config, topics.COMMANDS, f"{PARTNER}-etl")
    assert f"Not authorized to access topics: [{topics.COMMANDS}]" in output(commands)
    assert "Processed a total of 0 messages" in commands.stderr
    other_group = console_consume(cluster, config, topics.ESCALATIONS, "opel-alerting")
    assert "Not authorized to access group: opel-alerting" in output(other_group)
    assert "Processed a total of 0 messages" in other_group.stderr
    produced = console_produce(cluster, config, topics.ESCALATIONS, "x:{}")
    assert f"Not authorized to access topics: [{topics.ESCALATIONS}]" in output(produced)
    # And the one that should work, through the same client, so a refusal above is the ACLs'.
    allowed = console_consume(cluster, config, topics.ESCALATIONS, f"{PARTNER}-console")
    assert "Processed a total of 1 messages" in allowed.stderr, output(allowed)
    assert allowed.stdout.startswith("area/east_kent\t"), output(allowed)
    assert "Not authorized" not in output(allowed)
