"""The ingest stage: inbound topics in, validated items re-keyed by aggregate out.

Why not a Faust agent: on this stack Faust's per-message machinery tops out near 9,000
messages/s on one core before any work is done (docs/benchmarks.md), while the stateless
half of the job (decode, validate, route) needs none of Faust's tables. So this stage is a
plain aiokafka consumer-group loop in the same worker: it decodes a poll's worth of records,
dead-letters the bad ones with their reason, groups the good ones per area, county or system
into one internal message each, waits until Kafka has them, and only then commits the input
offsets (at-least-once; the stateful stages are idempotent).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from opel.contracts.audit import AuditRecord
from opel.contracts.deadletter import DeadLetter, Reason, deadletter
from opel.contracts.stage import AnyStageItem, StageMessage
from opel.destinations import Stage, destinations
from opel.errors import InputError
from opel.feeds import ReloadCatalogues
from streams import metrics, topics
from streams.catalogues import CatalogueStore
from streams.codec import DECODERS, Rejected
from streams.partitioning import KeyPartitioner
from streams.tasks import cancel_and_wait

log = logging.getLogger(__name__)

INPUTS = (topics.CAPACITY, topics.REFERRALS, topics.REFERRAL_EVENTS, topics.ACUTE, topics.COMMANDS)
MAX_BATCH = 5000
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


class Batch:
    """One poll's worth of routed items, dead letters and audit records."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], list[AnyStageItem]] = defaultdict(list)
        self.deadletters: list[tuple[bytes | None, DeadLetter]] = []
        self.audit: list[AuditRecord] = []
        self.first_ts: int | None = None
        self.reload = False


class Router:
    """Decodes records and sends each to the stage keys the core routes it to."""

    def __init__(self, store: CatalogueStore, max_bytes: int, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.clock = clock

    def route(self, record: ConsumerRecord, batch: Batch, seen: datetime) -> None:
        topic = record.topic
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
            batch.items[(STAGE_TOPICS[stage], key)].append(item)
        if isinstance(decoded, ReloadCatalogues):
            batch.reload = True
            batch.audit.extend(self.store.reload(force=True, author=decoded.author))
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
        batch.deadletters.append((record.key, value))
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
    ) -> None:
        self._router = Router(store, max_bytes, clock)
        self._clock = clock
        self._aggregate_keys = aggregate_keys
        self._consumer = AIOKafkaConsumer(
            *INPUTS,
            bootstrap_servers=bootstrap,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(session_timeout * 1000),
            heartbeat_interval_ms=int(heartbeat_interval * 1000),
            fetch_max_wait_ms=fetch_max_wait_ms,
            max_partition_fetch_bytes=max(1048576, max_bytes * 2),
            fetch_max_bytes=52428800,
        )
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            linger_ms=0,  # a batch's messages are all queued before the wait for their acks
            acks="all",
            max_request_size=max(1048576, max_bytes * 2),
            partitioner=KeyPartitioner(),
        )
        self._task: asyncio.Task[None] | None = None
        self.processed = 0

    async def start(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name="opel-ingest")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self._consumer.stop()
        await self._producer.stop()

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
            polled = await self._poll()
            if not polled:
                continue
            try:
                await self._handle(polled)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Not committed: the poll is retried from the last commit after a short pause.
                log.exception("ingest batch failed; seeking back to the last commit")
                await asyncio.sleep(1)
                for tp in polled:
                    committed = await self._consumer.committed(tp)
                    self._consumer.seek(tp, committed or 0)
                continue
            await self._consumer.commit()

    async def _handle(self, polled: dict[Any, list[ConsumerRecord]]) -> None:
        batch = Batch()
        now = self._clock()
        for records in polled.values():
            for record in records:
                self._router.route(record, batch, now)
                self.processed += 1
        futures = []
        send = self._producer.send
        for (topic, key), items in batch.items.items():
            message = StageMessage.model_construct(
                items=tuple(items), seen=now, ts=batch.first_ts, reload=False
            )
            futures.append(await send(topic, key=key.encode(), value=message.to_json()))
        if batch.reload:
            reload = StageMessage(items=(), seen=now, reload=True).to_json()
            for topic, key in self._aggregate_keys():
                futures.append(await send(topic, key=key.encode(), value=reload))
        for dead_key, dead in batch.deadletters:
            futures.append(await send(topics.DEADLETTER, key=dead_key, value=dead.to_json()))
        for record in batch.audit:
            futures.append(await send(topics.AUDIT, key=None, value=record.to_json()))
        if futures:
            await asyncio.gather(*futures)
        self.last_batch_seconds = time.monotonic()
