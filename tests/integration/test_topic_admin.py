"""Topic creation shared by the embedded broker and deploy/kafka/create_topics.py (streams.topic_admin)."""

from __future__ import annotations

import uuid

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.broker import EmbeddedBroker
from streams.topic_admin import create_topics, describe_topics, topic_config
from streams.topics import STATUS, TopicSpec, all_topics


def _specs() -> list[TopicSpec]:
    tag = uuid.uuid4().hex[:8]
    return [
        TopicSpec(f"it.admin-log-{tag}", 2, False, "internal", "append-only"),
        TopicSpec(f"it.admin-table-{tag}", 3, True, "internal", "compacted"),
    ]


async def _policy(bootstrap: str, topic: str) -> str | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for response in await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)]):
            for resource in response.resources:
                for entry in resource[4]:
                    if entry[0] == "cleanup.policy":
                        return str(entry[1])
    finally:
        await admin.close()
    return None


def test_compacted_topics_are_configured_compact_and_the_others_left_at_defaults() -> None:
    by_name = {spec.name: spec for spec in all_topics(2)}
    assert topic_config(by_name[STATUS]) == {"cleanup.policy": "compact"}
    assert all(topic_config(spec) == {} for spec in by_name.values() if not spec.compacted)
    lines = describe_topics(by_name.values(), 3)
    assert f"{STATUS} partitions=2 replicas=3 config=cleanup.policy=compact" in lines


async def test_creates_then_accepts_existing_topics_and_reports_differences(broker: EmbeddedBroker) -> None:
    log, table = _specs()
    first = await create_topics(broker.bootstrap, [log, table], timeout=30)
    assert (set(first.created), first.existing, first.problems) == ({log.name, table.name}, (), ())
    assert await _policy(broker.bootstrap, table.name) == "compact"

    again = await create_topics(broker.bootstrap, [log, table], timeout=30)
    assert (again.created, set(again.existing), again.problems) == ((), {log.name, table.name}, ())

    wrong_count = TopicSpec(log.name, 5, False, "internal", "")
    wrong_policy = TopicSpec(log.name, 2, True, "internal", "")
    assert (await create_topics(broker.bootstrap, [wrong_count])).mismatched == (
        f"{log.name}: exists with 2 partitions, opel needs 5",
    )
    (problem,) = (await create_topics(broker.bootstrap, [wrong_policy])).mismatched
    assert problem.startswith(f"{log.name}: exists with cleanup.policy=")
    assert problem.endswith("opel needs compact")
    unchecked = await create_topics(broker.bootstrap, [wrong_count], verify_existing=False)
    assert (unchecked.existing, unchecked.problems) == ((log.name,), ())
