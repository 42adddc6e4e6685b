"""The end of a partition as a fetch reports it, not only as ListOffsets does.

Tansu (the embedded broker) answers ListOffsets with one past the *first* offset of the last
record batch, not one past its last record: after one batch of 20 records the end reads 1, and
a fetch's high-water mark says 20 (measured; docs/kafka.md). A reader that trusts ListOffsets
stops a batch short, and Faust's table recovery, which does, restored a table with almost
nothing in it after a restart. Apache Kafka's ListOffsets is exact; there the extra fetch
returns at once with nothing and the same end.

:func:`confirmed_end_offsets` takes ListOffsets' answer, fetches the record just before it and
keeps the larger of that end and the high-water mark the fetch reports. Fetching a record that
exists is answered at once (a fetch at the end would wait ``fetch_max_wait_ms`` for data); an
end of 0 is an empty partition on both brokers and needs no fetch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

FETCH_TIMEOUT_S = 30.0
"""How long to wait for every partition's high-water mark before giving up loudly."""


class EndOffsetsError(RuntimeError):
    """A partition's high-water mark could not be read in time."""


async def confirmed_end_offsets(
    consumer: AIOKafkaConsumer,
    partitions: Sequence[TopicPartition],
    *,
    timeout: float = FETCH_TIMEOUT_S,
) -> dict[TopicPartition, int]:
    """The end offset of each of ``partitions``, checked by a fetch.

    ``consumer`` must be started, without a group subscription: it is assigned ``partitions``
    and left positioned somewhere at or before each end (callers seek where they need).
    """
    if not partitions:
        return {}
    consumer.assign(list(partitions))
    ends: dict[TopicPartition, int] = dict(await consumer.end_offsets(list(partitions)))
    pending = {tp for tp in partitions if ends[tp] > 0}
    for tp in pending:
        consumer.seek(tp, ends[tp] - 1)
    deadline = time.monotonic() + timeout
    committed_only = getattr(consumer, "_isolation_level", None) == "read_committed"
    while pending:
        # Records fetched here are dropped: only the high-water mark in the response matters.
        await consumer.getmany(*pending, timeout_ms=100, max_records=1)
        for tp in list(pending):
            # A read_committed reader ends at the last stable offset: past it is a transaction
            # still open, which it could not read before that commits or aborts.
            highwater = consumer.last_stable_offset(tp) if committed_only else consumer.highwater(tp)
            if highwater is not None:
                ends[tp] = max(ends[tp], highwater)
                pending.discard(tp)
        if pending and time.monotonic() > deadline:
            names = ", ".join(f"{tp.topic}:{tp.partition}" for tp in sorted(pending))
            raise EndOffsetsError(f"no fetch answered for {names} within {timeout:.0f} s")
        await asyncio.sleep(0)
    return ends


async def confirmed_ends_with_new_consumer(
    partitions: Sequence[TopicPartition], **consumer_options: Any
) -> dict[TopicPartition, int]:
    """:func:`confirmed_end_offsets` from a short-lived consumer of its own (no group)."""
    consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **consumer_options)
    await consumer.start()
    try:
        return await confirmed_end_offsets(consumer, partitions)
    finally:
        await consumer.stop()
