"""Reading a topic from its beginning to its end as of now: how a compacted topic becomes state.

The notification log, the status board and the tests each rebuild what a compacted topic holds
(the latest value per key) by reading every partition from the beginning up to the end offsets
taken when the read starts; records written later are left for whoever tails the topic.

The ends are checked by a fetch (:mod:`streams.end_offsets`): the embedded broker's ListOffsets
can answer a batch short.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from streams import kafka_security
from streams.end_offsets import confirmed_end_offsets
from streams.kafka_security import PLAINTEXT, KafkaSecurity

POLL_MS = 500


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` in order, refreshing metadata once; empty if there is no such topic."""
    numbers = consumer.partitions_for_topic(topic)
    if not numbers:
        # The consumer's own metadata may not list the topic (Apache Kafka answers its bootstrap
        # request without topics), and consumer.topics() fetches into a copy it throws away:
        # fetch every topic's metadata, as consumer.topics() does, and read the partitions there.
        cluster = await consumer._client.fetch_all_metadata()
        numbers = cluster.partitions_for_topic(topic)
    return [TopicPartition(topic, number) for number in sorted(numbers or ())]


async def read_to_end(
    consumer: AIOKafkaConsumer,
    partitions: Sequence[TopicPartition],
    *,
    poll_ms: int = POLL_MS,
    max_records: int | None = None,
) -> AsyncIterator[ConsumerRecord[Any, Any]]:
    """Assign ``partitions``, read them from the beginning and yield each record, oldest first per
    partition, up to the end each had when the read started.

    The consumer stays assigned and positioned after the last record yielded, so a caller that
    goes on to tail the topics (the status board) continues from there without a gap.
    """
    consumer.assign(list(partitions))
    if not partitions:
        return
    ends = await confirmed_end_offsets(consumer, partitions)
    await consumer.seek_to_beginning(*partitions)
    pending = set(partitions)
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=poll_ms, max_records=max_records)
        for records in batch.values():
            for record in records:
                yield record
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)


async def read_topic_to_end(
    bootstrap: str,
    topic: str,
    *,
    poll_ms: int = POLL_MS,
    security: KafkaSecurity = PLAINTEXT,
    **consumer_options: Any,
) -> AsyncIterator[ConsumerRecord[Any, Any]]:
    """Every record ``topic`` holds now, from a consumer of its own (no group, nothing committed).

    A topic that does not exist holds nothing. ``consumer_options`` go to :class:`AIOKafkaConsumer`.
    """
    consumer = kafka_security.consumer(
        bootstrap, security=security, group_id=None, enable_auto_commit=False, **consumer_options
    )
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, topic)
        async for record in read_to_end(consumer, partitions, poll_ms=poll_ms):
            yield record
    finally:
        await consumer.stop()
