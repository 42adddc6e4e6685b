"""The ingest stage: inbound topics in, validated items re-keyed by aggregate out.

Why not a Faust agent: on this stack Faust's per-message machinery tops out near 9,000
messages/s on one core before any work is done (docs/benchmarks.md), while the stateless
half of the job (decode, validate, route) needs none of Faust's tables. So this stage is a
plain aiokafka consumer-group loop in the same worker: it decodes a poll's worth of records,
dead-letters the bad ones with their reason, groups the good ones per area, county or system
into one internal message each, waits until Kafka has them, and only then commits the input
offsets (at-least-once; the stateful stages are idempotent).

With exactly_once delivery (:mod:`streams.delivery`) the stage messages, dead letters and audit
records of a poll and the input offsets they advance are committed in Kafka transactions
instead, one per input partition number (:class:`Transactions`): a crash leaves no stage message
visible to the stages (which read ``read_committed``) without its offsets committed, so none is
sent twice. What the event-time merge still holds is not committed either way; after a crash it
is read again, and an item the merge had released past a held one of the same partition is
released again (the area stage audits it as a duplicate and changes nothing). The same holds
after a rebalance, and a poll fetched before one is not handled after it: it is read again
from the last commit with everything the merge held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiokafka import (
    AIOKafkaConsumer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from opel.contracts.audit import AuditRecord
from opel.contracts.deadletter import DeadLetter, Reason, deadletter
from opel.contracts.stage import AnyStageItem, ReadingItem, ReferralItem, StageMessage
from opel.destinations import Stage, destinations
from opel.errors import InputError
from opel.feeds import ReloadCatalogues
from opel.input_merge import InputMerge
from streams import kafka_security, metrics, topics
from streams.catalogues import CatalogueStore
from streams.codec import DECODERS, Rejected
from streams.delivery import AT_LEAST_ONCE, TRANSACTION_TIMEOUT_MS, Delivery
from streams.kafka_security import PLAINTEXT, KafkaSecurity
from streams.partitioning import KeyPartitioner
from streams.tasks import cancel_and_wait

log = logging.getLogger(__name__)

INPUTS = (topics.CAPACITY, topics.REFERRALS, topics.REFERRAL_EVENTS, topics.ACUTE, topics.COMMANDS)
AREA_SOURCES = (topics.CAPACITY, topics.REFERRALS, topics.REFERRAL_EVENTS)
"""The topics an area's readings and referral events come from, merged in event time."""
MAX_BATCH = 5000
MAX_KEY_BYTES: Final = 256
"""Keys are area, site, scope or alert ids; a longer key is refused like a too-large value."""
BATCH_LINGER = 0.05  # seconds
TIME_REASONS: Final[dict[str, Reason]] = {"future_timestamp": "future_timestamp", "too_old": "too_old"}
UNKNOWN_REASONS: Final[dict[str, Reason]] = {
    "indicator": "unknown_indicator",
    "area": "unknown_area",
    "site": "unknown_site",
}


STAGE_TOPICS: Final[dict[Stage, str]] = {
    "area": topics.AREA_EVENTS,
    "county": topics.COUNTY_EVENTS,
    "system": topics.SYSTEM_EVENTS,
}


MAX_STAGE_MESSAGE_BYTES: Final = 256 * 1024
"""Stage messages are split below this, well under Kafka's default 1 MB record limit, however
many items one key gets in a poll (a backlog of acute returns for one system, say)."""


def stage_messages(
    items: list[AnyStageItem], seen: datetime, ts: int | None, idle: bool | None
) -> list[bytes]:
    """One key's items as encoded stage messages, in order, each under the size limit.

    The idle flag goes on the last message only: it is about what follows the whole batch.
    """
    # Built without validation: every item is already a checked contract model.
    message = StageMessage.model_construct(items=tuple(items), seen=seen, ts=ts, reload=False, idle=idle)
    value = message.to_json()
    if len(value) <= MAX_STAGE_MESSAGE_BYTES or len(items) < 2:
        return [value]
    half = len(items) // 2
    return stage_messages(items[:half], seen, ts, None) + stage_messages(items[half:], seen, ts, idle)


Record = tuple[str, bytes | None, bytes]  # topic, key, value
Merged = tuple[int, ReadingItem | ReferralItem]
"""An item in the event-time merge with the partition number of the record it came from."""


class Batch:
    """One poll's worth of routed items, dead letters and audit records.

    Everything is kept with the partition number of the input record it came from (the first
    element of each key or tuple): with transactions, what a record led to is committed with
    that partition's offsets (:class:`Transactions`).
    """

    def __init__(self) -> None:
        self.items: dict[tuple[int, str, str], list[AnyStageItem]] = defaultdict(list)
        self.deadletters: list[tuple[int, bytes | None, DeadLetter]] = []
        self.audit: list[tuple[int, AuditRecord]] = []
        self.first_ts: int | None = None
        self.reload: int | None = None  # the partition of a command that reloads the catalogues
        # Area items that go through the event-time merge: (area, item, record it came from).
        self.merged: list[tuple[str, ReadingItem | ReferralItem, ConsumerRecord]] = []


class Router:
    """Decodes records and sends each to the stage keys the core routes it to."""

    def __init__(self, store: CatalogueStore, max_bytes: int, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.clock = clock

    def route(self, record: ConsumerRecord, batch: Batch, seen: datetime) -> None:
        topic = record.topic
        if record.key is not None and len(record.key) > MAX_KEY_BYTES:
            error = f"the key is {len(record.key)} bytes; the limit is {MAX_KEY_BYTES} (ids are short)"
            self._reject(record, batch, "too_large", error, "key")
            return
        decoded = DECODERS[topic](record.value, self.max_bytes)
        if isinstance(decoded, Rejected):
            self._reject(record, batch, decoded.reason, decoded.error, decoded.field)
            return
        try:
            routed = destinations(decoded, self.store.context, seen, topic)  # type: ignore[arg-type]
        except InputError as exc:
            reason = TIME_REASONS.get(exc.reason or "") or UNKNOWN_REASONS.get(exc.field, "invalid")
            self._reject(record, batch, reason, str(exc), exc.field)
            return
        for stage, key, item in routed:
            if stage == "area" and isinstance(item, ReadingItem | ReferralItem):
                batch.merged.append((key, item, record))
            else:
                batch.items[(record.partition, STAGE_TOPICS[stage], key)].append(item)
        if isinstance(decoded, ReloadCatalogues):
            batch.reload = record.partition
            records = self.store.reload(force=True, author=decoded.author)
            batch.audit.extend((record.partition, audit) for audit in records)
        if batch.first_ts is None or record.timestamp < batch.first_ts:
            batch.first_ts = record.timestamp

    def _reject(
        self, record: ConsumerRecord, batch: Batch, reason: Reason, error: str, field: str | None
    ) -> None:
        value = deadletter(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp_ms=record.timestamp,
            key=record.key,
            value=record.value,
            reason=reason,
            error=error,
            field=field,
            at=self.clock(),
        )
        # The dead letter keeps the key cut like the value: a huge key must not be kept twice.
        key = None if record.key is None else record.key[:MAX_KEY_BYTES]
        batch.deadletters.append((record.partition, key, value))
        metrics.record_deadletter(record.topic, reason)
        metrics.record_reading(record.topic, "dead_lettered")


class Ingest:
    """The consumer-group loop; start with :meth:`start`, stop with :meth:`stop`."""

    def __init__(
        self,
        *,
        bootstrap: str,
        group_id: str,
        store: CatalogueStore,
        max_bytes: int,
        session_timeout: float,
        fetch_max_wait_ms: int = 100,
        heartbeat_interval: float,
        aggregate_keys: Callable[[], list[tuple[str, str]]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        source_idle: timedelta = timedelta(seconds=10),
        security: KafkaSecurity = PLAINTEXT,
        delivery: Delivery = AT_LEAST_ONCE,
        transactional_prefix: str | None = None,
    ) -> None:
        self._router = Router(store, max_bytes, clock)
        self._store = store
        self._clock = clock
        self._aggregate_keys = aggregate_keys
        self._merge: InputMerge[Merged] = InputMerge(AREA_SOURCES)
        self._progress = SourceProgress(source_idle)
        self._area_idle: dict[str, bool] = {}
        self._released_any = False
        self._generation = 0  # counts partition moves (see _run)
        self._partitioner = KeyPartitioner()
        self._consumer = kafka_security.consumer(
            bootstrap,
            security=security,
            # Range assignment gives one member the same partition of every input topic, so an
            # area's capacity, referrals and referral events are merged by the same ingest.
            partition_assignment_strategy=(RangePartitionAssignor,),
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(session_timeout * 1000),
            heartbeat_interval_ms=int(heartbeat_interval * 1000),
            fetch_max_wait_ms=fetch_max_wait_ms,
            max_partition_fetch_bytes=max(1048576, max_bytes * 2),
            fetch_max_bytes=52428800,
            isolation_level=delivery.isolation_level,
        )
        producer_options: dict[str, Any] = {
            "linger_ms": 0,  # a batch's messages are all queued before the wait for their acks
            "acks": "all",
            "max_request_size": max(1048576, max_bytes * 2),
            "partitioner": KeyPartitioner(),
            "enable_idempotence": delivery.idempotent,
        }
        self._producer = kafka_security.producer(bootstrap, security=security, **producer_options)
        self._transactions: Transactions | None = None
        if delivery.transactional:
            self._transactions = Transactions(
                bootstrap,
                group_id,
                transactional_prefix or group_id,
                security=security,
                **producer_options,
            )
        self._task: asyncio.Task[None] | None = None
        self.processed = 0

    async def start(self) -> None:
        await self._producer.start()
        self._consumer.subscribe(INPUTS, listener=_Rebalance(self))
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name="opel-ingest")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self._consumer.stop()
        await self._producer.stop()
        if self._transactions is not None:
            await self._transactions.stop()

    async def _poll(self) -> dict[Any, list[ConsumerRecord]]:
        """One batch: whatever arrives within ``BATCH_LINGER`` of the first record, up to MAX_BATCH.

        Every batch becomes one message per area downstream, and each downstream message costs
        a round trip to Kafka, so a trickle of single readings is gathered for a few
        milliseconds first (as a producer's linger does). A backlog fills a batch at once.
        """
        polled: dict[Any, list[ConsumerRecord]] = await self._consumer.getmany(
            timeout_ms=200, max_records=MAX_BATCH
        )
        if not polled:
            return polled
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BATCH_LINGER
        count = sum(len(records) for records in polled.values())
        while count < MAX_BATCH and (left := deadline - loop.time()) > 0:
            more = await self._consumer.getmany(
                timeout_ms=int(left * 1000) + 1, max_records=MAX_BATCH - count
            )
            for tp, records in more.items():
                polled.setdefault(tp, []).extend(records)
                count += len(records)
        return polled

    async def _run(self) -> None:
        while True:
            generation = self._generation
            polled = await self._poll()
            try:
                # A rebalance while a poll is taken or handled makes it stale: the merge forgot
                # what it held of those partitions and their positions went back to the last
                # commit, so records fetched before it would be merged ahead of held ones read
                # again (seen after a 60 s broker pause on Apache Kafka: an area's readings from
                # 04:41 on were released before its 04:31 one). The whole poll is read again.
                if self._generation != generation:
                    await self._read_again()
                    continue
                out = await self._handle(polled)
                offsets = await self._commit_offsets()
                if self._generation != generation:
                    await self._read_again()
                    continue
                if self._transactions is not None:
                    if polled or self._released_any or out:
                        await self._transactions.commit(out, offsets)
                    continue
                await self._send(out)
                if (polled or self._released_any) and offsets:
                    await self._consumer.commit(offsets)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Not committed: the poll is retried from the last commit after a short pause,
                # and what the merge held is read again with it.
                log.exception("ingest batch failed; seeking back to the last commit")
                await asyncio.sleep(1)
                await self._read_again()

    async def _read_again(self) -> None:
        """Start again from the last commit: forget what the merge holds and seek every partition
        back (a commit never passes a held record, so nothing is skipped)."""
        self._merge.forget(self._merge_keys())
        self._area_idle.clear()
        for tp in self._consumer.assignment():
            committed = await self._consumer.committed(tp)
            self._consumer.seek(tp, committed or 0)

    async def _commit_offsets(self) -> dict[TopicPartition, int]:
        held = self._merge.held_offsets()
        return {tp: held.get(tp, await self._consumer.position(tp)) for tp in self._consumer.assignment()}

    async def _send(self, out: dict[int, list[Record]]) -> None:
        """At-least-once: send everything and wait until Kafka has it (the commit follows)."""
        send = self._producer.send
        futures = [
            await send(topic, key=key, value=value)
            for records in out.values()
            for topic, key, value in records
        ]
        if futures:
            await asyncio.gather(*futures)

    def _merge_keys(self) -> list[str]:
        return list(self._store.context.catalogue.areas)

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        """Forget what the merge held for areas whose partitions move: their new owner re-reads
        them from the last commit, which never passed a held record."""
        self._generation += 1
        gone = set(partitions)
        areas = [a for a in self._merge_keys() if self._partition_of(topics.CAPACITY, a) in gone]
        self._merge.forget(areas)
        for area in areas:
            self._area_idle.pop(area, None)

    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        self._generation += 1
        self._progress.assigned(partitions)

    def _partition_of(self, topic: str, key: str) -> TopicPartition | None:
        partitions = self._consumer.partitions_for_topic(topic)
        if not partitions:
            return None
        known = sorted(partitions)
        return TopicPartition(topic, self._partitioner(key.encode(), known, known))

    def _owned_areas(self) -> list[str]:
        assigned = self._consumer.assignment()
        return [
            area
            for area in self._store.context.catalogue.areas
            if self._partition_of(topics.CAPACITY, area) in assigned
        ]

    def _idle(self, key: str, source: str) -> bool:
        tp = self._partition_of(source, key)
        if tp is None or tp not in self._consumer.assignment():
            return True  # nothing of this source reaches this worker for the area
        return self._progress.idle(self._consumer, tp, key)

    async def _handle(self, polled: dict[Any, list[ConsumerRecord]]) -> dict[int, list[Record]]:
        """Route a poll and what the merge releases; the records to publish, per input partition."""
        batch = Batch()
        now = self._clock()
        for records in polled.values():
            for record in records:
                self._router.route(record, batch, now)
                self.processed += 1
        merge = self._merge
        for key, item, record in batch.merged:
            at = item.observed_at if isinstance(item, ReadingItem) else item.event.occurred_at
            merge.offer(
                key,
                record.topic,
                at,
                (record.partition, item),
                (TopicPartition(record.topic, record.partition), record.offset),
            )
            self._progress.record(record.topic, key)
        await self._progress.refresh(self._consumer)
        released = merge.release(self._idle)
        idle_now: dict[str, bool] = {}
        for area in self._owned_areas():
            idle = not merge.holding(area) and all(self._idle(area, source) for source in AREA_SOURCES)
            if self._area_idle.get(area) != idle:
                idle_now[area] = idle
        # Per area, its items per input partition (one, unless a producer put an area's records
        # on another partition than its key gives), released ones first.
        area_items: dict[str, dict[int, list[AnyStageItem]]] = defaultdict(dict)
        for key, merged in released.items():
            for n, released_item in merged:
                area_items[key].setdefault(n, []).append(released_item)
        for n, topic, key in [k for k in batch.items if k[1] == topics.AREA_EVENTS]:
            area_items[key].setdefault(n, []).extend(batch.items.pop((n, topic, key)))
        out: dict[int, list[Record]] = defaultdict(list)
        for key in {*area_items, *idle_now}:
            home = self._home(key)
            groups = area_items.get(key, {})
            if key in idle_now:
                groups.setdefault(home, [])
            # The idle flag is about what follows the whole batch: it rides on the home
            # partition's last message, sent last.
            for n in sorted(groups, key=lambda n: n == home):
                flag = idle_now.get(key) if n == home else None
                for value in stage_messages(groups[n], now, batch.first_ts, flag):
                    out[n].append((topics.AREA_EVENTS, key.encode(), value))
        for (n, topic, key), items in batch.items.items():
            for value in stage_messages(items, now, batch.first_ts, None):
                out[n].append((topic, key.encode(), value))
        if batch.reload is not None:
            reload = StageMessage(items=(), seen=now, reload=True).to_json()
            for topic, key in self._aggregate_keys():
                out[batch.reload].append((topic, key.encode(), reload))
        for n, dead_key, dead in batch.deadletters:
            out[n].append((topics.DEADLETTER, dead_key, dead.to_json()))
        for n, record in batch.audit:
            out[n].append((topics.AUDIT, None, record.to_json()))
        self._area_idle.update(idle_now)
        self._released_any = bool(released)
        self.last_batch_seconds = time.monotonic()
        return out

    def _home(self, area: str) -> int:
        """The partition number an area's records are on (its key's partition of the inputs)."""
        tp = self._partition_of(topics.CAPACITY, area)
        return tp.partition if tp is not None else 0


class Transactions:
    """Exactly-once ingest: one transactional producer per input partition number.

    A poll's records that came from partition ``n`` of the inputs (range assignment gives one
    member partition ``n`` of every input topic) lead to stage messages, dead letters and audit
    records that are sent in producer ``{prefix}-{n}``'s transaction together with those
    partitions' offsets (``send_offsets_to_transaction``). The id follows the partition, not the
    process, so whichever worker takes partition ``n`` next fences the one before it and aborts
    its open transaction on its first start (``InitProducerId``); nothing waits for a time-out.
    The transactions of one poll run side by side: one round of transaction requests per poll,
    however many records it had.
    """

    def __init__(
        self, bootstrap: str, group_id: str, prefix: str, *, security: KafkaSecurity, **options: Any
    ) -> None:
        self._bootstrap = bootstrap
        self._group_id = group_id
        self._prefix = prefix
        self._security = security
        self._options = options
        self._producers: dict[int, Any] = {}
        self._committed: dict[TopicPartition, int] = {}

    async def _producer(self, n: int) -> Any:
        producer = self._producers.get(n)
        if producer is None:
            producer = kafka_security.producer(
                self._bootstrap,
                security=self._security,
                transactional_id=f"{self._prefix}-{n}",
                transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
                **self._options,
            )
            await producer.start()
            self._producers[n] = producer
        return producer

    async def _drop(self, n: int) -> None:
        """Stop a producer whose transaction failed: its successor aborts what it left open."""
        producer = self._producers.pop(n, None)
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def commit(self, out: dict[int, list[Record]], offsets: dict[TopicPartition, int]) -> None:
        """Commit each partition number's records with its offsets, in one transaction each."""
        moved: dict[int, dict[TopicPartition, int]] = defaultdict(dict)
        for tp, offset in offsets.items():
            moved[tp.partition][tp] = offset
        due = [
            n
            for n in sorted({*out, *moved})
            if out.get(n) or any(self._committed.get(tp) != offset for tp, offset in moved[n].items())
        ]
        results = await asyncio.gather(
            *(self._commit_one(n, out.get(n, []), moved[n]) for n in due), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _commit_one(self, n: int, records: list[Record], offsets: dict[TopicPartition, int]) -> None:
        try:
            producer = await self._producer(n)
            await producer.begin_transaction()
            futures = [await producer.send(topic, key=key, value=value) for topic, key, value in records]
            if futures:
                await asyncio.gather(*futures)
            if offsets:
                await producer.send_offsets_to_transaction(offsets, self._group_id)
            await producer.commit_transaction()
        except BaseException:
            await self._drop(n)
            raise
        self._committed.update(offsets)

    async def stop(self) -> None:
        for n in list(self._producers):
            await self._drop(n)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Passes partition moves to the ingest loop."""

    def __init__(self, ingest: Ingest) -> None:
        self._ingest = ingest

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._ingest.revoked(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._ingest.assigned(assigned)


class SourceProgress:
    """When a source has nothing more for an area, judged from Kafka rather than a wall clock.

    A source is idle for an area once its partition has been read to the end (position at the
    high-water mark of the latest fetch) and, if it has sent the area anything since this worker
    took the partition, fetches have kept confirming that for ``source_idle`` since the area's
    last record from it. Time the broker did not answer (a pause, an outage) does not count, so
    a source is never declared idle because the whole broker was away.
    """

    def __init__(self, source_idle: timedelta) -> None:
        self._grace_ms = source_idle.total_seconds() * 1000
        self._quiet_since: dict[tuple[str, str], int | None] = {}
        self._positions: dict[TopicPartition, int] = {}
        self._last_poll: dict[TopicPartition, int] = {}
        self._resumed: dict[TopicPartition, int] = {}

    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self._positions.pop(tp, None)

    def record(self, topic: str, key: str) -> None:
        self._quiet_since[(topic, key)] = None

    async def refresh(self, consumer: AIOKafkaConsumer) -> None:
        for tp in consumer.assignment():
            if tp.topic not in AREA_SOURCES:
                continue
            self._positions[tp] = await consumer.position(tp)
            polled = consumer.last_poll_timestamp(tp)
            if polled is None:
                continue
            before = self._last_poll.get(tp)
            if before is not None and polled - before > self._grace_ms:
                self._resumed[tp] = polled  # the broker was away: quiet time starts again
            self._last_poll[tp] = polled

    def idle(self, consumer: AIOKafkaConsumer, tp: TopicPartition, key: str) -> bool:
        end = consumer.highwater(tp)
        position = self._positions.get(tp)
        polled = self._last_poll.get(tp)
        if end is None or position is None or polled is None or position < end:
            return False
        if (tp.topic, key) not in self._quiet_since:
            return True  # nothing for the area from this source since assignment, and nothing unread
        quiet = self._quiet_since[(tp.topic, key)]
        if quiet is None:
            quiet = self._quiet_since[(tp.topic, key)] = polled
        quiet = max(quiet, self._resumed.get(tp, 0))
        return polled - quiet >= self._grace_ms
