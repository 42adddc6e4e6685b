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
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from opel.assess import assess
from opel.errors import InputError
from opel.feeds import Acknowledge, Override, ReferralEvent, ReloadCatalogues, Withdraw
from opel.models import AcuteSubmission, Reading
from opel.scopes import parse_scope
from streams import metrics, topics
from streams.catalogues import CatalogueStore
from streams.codec import DECODERS, Rejected, deadletter_value, dumps
from streams.partitioning import KeyPartitioner
from streams.tasks import cancel_and_wait

log = logging.getLogger(__name__)

INPUTS = (topics.CAPACITY, topics.REFERRALS, topics.REFERRAL_EVENTS, topics.ACUTE, topics.COMMANDS)
MAX_BATCH = 5000
BATCH_LINGER = 0.05  # seconds
UNKNOWN_REASONS = {"indicator": "unknown_indicator", "area": "unknown_area", "site": "unknown_site"}


class Batch:
    """One poll's worth of routed items, dead letters and audit records."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.deadletters: list[tuple[bytes | None, dict[str, Any]]] = []
        self.audit: list[dict[str, Any]] = []
        self.first_ts: int | None = None
        self.reload = False


class Router:
    """Pure routing of decoded records to aggregate keys, using the catalogues in force."""

    def __init__(self, store: CatalogueStore, max_bytes: int, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.clock = clock

    def route(self, record: ConsumerRecord, batch: Batch) -> None:
        topic = record.topic
        decoded = DECODERS[topic](record.value, self.max_bytes)
        if isinstance(decoded, Rejected):
            self._reject(record, batch, decoded.reason, decoded.error, decoded.field)
            return
        try:
            self._route(decoded, batch)
        except InputError as exc:
            self._reject(record, batch, UNKNOWN_REASONS.get(exc.field, "invalid"), str(exc), exc.field)
            return
        if batch.first_ts is None or record.timestamp < batch.first_ts:
            batch.first_ts = record.timestamp

    def _route(self, decoded: object, batch: Batch) -> None:
        ctx = self.store.context
        if isinstance(decoded, Reading):
            assessment = assess(ctx.catalogue, decoded)  # raises InputError for unknown ids or kinds
            batch.items[(topics.AREA_EVENTS, decoded.area)].append(
                {
                    "k": "reading",
                    "v": {
                        "indicator": decoded.indicator,
                        "area": decoded.area,
                        "value": assessment.value,
                        "observed_at": decoded.observed_at.isoformat(),
                    },
                }
            )
        elif isinstance(decoded, ReferralEvent):
            if decoded.area not in ctx.catalogue.areas:
                raise InputError("area", f"unknown area {decoded.area!r} in {ctx.catalogue.meta.id}")
            batch.items[(topics.AREA_EVENTS, decoded.area)].append(
                {"k": "referral", "v": decoded.model_dump(mode="json", exclude_none=True)}
            )
        elif isinstance(decoded, AcuteSubmission):
            for system in self._systems_of(decoded.site):
                batch.items[(topics.SYSTEM_EVENTS, system)].append(
                    {"k": "site", "v": decoded.model_dump(mode="json"), "seen": self.clock().isoformat()}
                )
        elif isinstance(decoded, Override | Withdraw):
            self._route_command(decoded, batch)
        elif isinstance(decoded, ReloadCatalogues):
            batch.reload = True
            batch.audit.extend(self.store.reload(force=True, author=decoded.author))
        elif isinstance(decoded, Acknowledge):
            pass  # acknowledgements are for the alerting pipeline, which reads commands itself

    def _systems_of(self, site: str) -> list[str]:
        acute = self.store.context.acute
        if site not in acute.sites:
            raise InputError(
                "site", f"unknown site {site!r} in {acute.meta.id} (known: {', '.join(acute.sites)})"
            )
        return [s.id for s in acute.systems.values() if site in s.weights]

    def _route_command(self, command: Override | Withdraw, batch: Batch) -> None:
        ctx = self.store.context
        scope = parse_scope(command.scope)
        value = command.model_dump(mode="json")
        item = {"k": command.type, "v": value}
        if scope.kind in ("indicator", "area"):
            if scope.name not in ctx.catalogue.areas:
                raise InputError("scope", f"unknown area {scope.name!r} in scope {command.scope!r}")
            if scope.indicator is not None and scope.indicator not in ctx.catalogue.indicators:
                raise InputError("scope", f"unknown indicator {scope.indicator!r} in scope {command.scope!r}")
            batch.items[(topics.AREA_EVENTS, scope.name)].append(item)
        elif scope.kind == "county":
            if scope.name != ctx.county:
                raise InputError("scope", f"unknown county {scope.name!r}; this service runs {ctx.county!r}")
            batch.items[(topics.COUNTY_EVENTS, scope.name)].append(item)
        elif scope.kind == "site":
            for system in self._systems_of(scope.name):
                batch.items[(topics.SYSTEM_EVENTS, system)].append(item)
        else:
            if scope.name not in ctx.acute.systems:
                raise InputError("scope", f"unknown system {scope.name!r} in scope {command.scope!r}")
            batch.items[(topics.SYSTEM_EVENTS, scope.name)].append(item)

    def _reject(
        self, record: ConsumerRecord, batch: Batch, reason: str, error: str, field: str | None
    ) -> None:
        value = deadletter_value(
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
        for records in polled.values():
            for record in records:
                self._router.route(record, batch)
                self.processed += 1
        now = self._clock().isoformat()
        futures = []
        send = self._producer.send
        for (topic, key), items in batch.items.items():
            value = {"items": items, "seen": now, "ts": batch.first_ts}
            futures.append(await send(topic, key=key.encode(), value=dumps(value)))
        if batch.reload:
            for topic, key in self._aggregate_keys():
                futures.append(
                    await send(
                        topic, key=key.encode(), value=dumps({"items": [], "seen": now, "reload": True})
                    )
                )
        for dead_key, dead in batch.deadletters:
            futures.append(await send(topics.DEADLETTER, key=dead_key, value=dumps(dead)))
        for record in batch.audit:
            futures.append(await send(topics.AUDIT, key=None, value=dumps(record)))
        if futures:
            await asyncio.gather(*futures)
        self.last_batch_seconds = time.monotonic()
