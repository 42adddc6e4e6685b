"""The Faust application: stateful stages for areas, the county and acute systems.

Topology (topic names in :mod:`streams.topics`)::

    inputs --ingest--> opel.internal.area.v1   (key area)   --areas-->   status, escalations, audit
                                                                   \\--> opel.internal.county.v1 (key county)
                       opel.internal.system.v1 (key system) --systems--> status, escalations, audit
                       opel.internal.county.v1              --county-->  status, escalations, audit

Each stage reads one item list per message, runs the pure engine on the key's book, sends
everything the engine produced and waits for Kafka to have it, and only then writes the book
to its table (one changelog record per message, and none when nothing changed). A crash
between the two replays the message; the engine sees its own outputs' inputs again, finds
them duplicate, and re-emits nothing new, while anything it had not yet sent gets the same
deterministic ids as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import faust
from aiokafka import AIOKafkaProducer

from opel.contracts.audit import audit_record
from opel.contracts.deadletter import deadletter
from opel.contracts.stage import AnyStageItem, StageMessage, TickItem
from opel.contracts.status import AnyStatus
from opel.stages.area import apply_area
from opel.stages.context import Context, Emit
from opel.stages.county import apply_county
from opel.stages.system import apply_system
from streams import metrics, table_codec, topics
from streams.catalogues import CatalogueStore
from streams.faust_transport import OpelApp
from streams.partitioning import KeyPartitioner
from streams.settings import Settings

log = logging.getLogger(__name__)

Stage = Callable[
    [Any, str, Sequence[AnyStageItem], Context, datetime], tuple[Any, Emit, Mapping[str, AnyStatus]]
]


Record = tuple[str, bytes | None, bytes]  # topic, key, value


class Outputs:
    """The producer the stages publish through: plain aiokafka, started and stopped by the worker.

    A stage's message yields a few hundred records at a time (an audit record per reading), so
    they are packed into one batch per partition with aiokafka's batch API rather than sent one
    by one: that saves a future and a metadata wait per record, which together cost more than
    the reading's whole assessment. Records keep Kafka's key-to-partition mapping (memoised per
    key) and their order within a partition. A stage waits for every batch to be acknowledged before it
    writes its table, so at-least-once never depends on Faust flushing these.
    """

    def __init__(self, bootstrap: str, max_request_size: int = 4 * 1024 * 1024) -> None:
        # No linger: every batch is complete when it is submitted, and the stage then waits for
        # its acknowledgement, which a linger would only delay.
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            linger_ms=0,
            acks="all",
            max_batch_size=512 * 1024,  # under the broker's default 1 MB message limit
            max_request_size=max_request_size,
        )
        self._partitioner = KeyPartitioner()

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def send_all(self, records: Iterable[Record]) -> None:
        """Publish the records and return once Kafka has acknowledged all of them."""
        producer = self.producer
        partitions: dict[str, list[int]] = {}
        chains: dict[tuple[str, int], list[Any]] = {}
        for topic, key, value in records:
            known = partitions.get(topic)
            if known is None:
                known = partitions[topic] = sorted(await producer.partitions_for(topic))
            target = (topic, self._partitioner(key, known, known))
            chain = chains.get(target)
            if chain is None:
                chain = chains[target] = [producer.create_batch()]
            if chain[-1].append(timestamp=None, key=key, value=value) is None:
                # That batch is full; a fresh one always takes its first record.
                chain.append(producer.create_batch())
                chain[-1].append(timestamp=None, key=key, value=value)
        futures = []
        for (topic, partition), chain in chains.items():
            for batch in chain:
                batch.close()
                futures.append(await producer.send_batch(batch, topic, partition=partition))
        if futures:
            await asyncio.gather(*futures)


def create_app(
    settings: Settings,
    store: CatalogueStore,
    outputs: Outputs,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> faust.App:
    """A Faust app for these settings; every call builds a fresh one (tests start several).

    ``clock`` is the wall clock of ticks and dead letters: the stages themselves never read one.
    """
    app = OpelApp(
        settings.app_id,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        broker=settings.faust_broker(),
        store=settings.store,
        datadir=str(settings.data_dir / "faust"),
        topic_partitions=settings.partitions,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.heartbeat_interval,
        web_enabled=False,
        web_host="127.0.0.1",
        table_standby_replicas=0,
        key_serializer="raw",
        value_serializer="raw",
        producer_linger_ms=5,
        stream_wait_empty=True,
    )
    area_topic = app.topic(
        topics.AREA_EVENTS, key_type=bytes, value_type=bytes, partitions=settings.partitions
    )
    county_topic = app.topic(
        topics.COUNTY_EVENTS, key_type=bytes, value_type=bytes, partitions=settings.partitions
    )
    system_topic = app.topic(
        topics.SYSTEM_EVENTS, key_type=bytes, value_type=bytes, partitions=settings.partitions
    )
    area_books, county_books, system_books = (
        app.Table(name, default=None, partitions=settings.partitions, key_type=str)
        for name in ("area-books", "county-books", "system-books")
    )
    for table in (area_books, county_books, system_books):
        # Faust takes a table's serializer only from a faust.Record value type; books are plain
        # JSON, so the faster codec is set directly, before the store and changelog are built.
        table.value_serializer = table_codec.NAME  # type: ignore[attr-defined]

    async def run_stage(stream: Any, table: Any, stage: Stage, name: str) -> None:
        async for event in stream.events():
            key = event.key.decode() if event.key is not None else ""
            try:
                message = StageMessage.model_validate_json(event.value)
                if message.reload:
                    for record in store.reload():
                        await app.producer.send(topics.AUDIT, None, record.to_json(), None, None, None)
                ctx = store.context
                book, emit, statuses = stage(table.get(key), key, message.items, ctx, message.seen)
                await publish(outputs, emit, statuses, ctx, message.ts)
            except Exception as exc:
                # A bug or a message the engine cannot take must not stop the partition: park it.
                log.exception(
                    "%s stage failed on %s:%s@%s",
                    name,
                    event.message.topic,
                    event.message.partition,
                    event.message.offset,
                )
                await _deadletter_internal(app, event, exc, clock())
                continue
            if emit.changed:
                table[key] = book

    @app.agent(area_topic, name="areas")
    async def areas(stream: Any) -> None:
        await run_stage(stream, area_books, apply_area, "area")

    def county_stage(
        stored: Any, key: str, items: Sequence[AnyStageItem], ctx: Context, seen: datetime
    ) -> tuple[Any, Emit, Mapping[str, AnyStatus]]:
        return apply_county(stored, items, ctx, seen)

    @app.agent(county_topic, name="county")
    async def county(stream: Any) -> None:
        await run_stage(stream, county_books, county_stage, "county")

    @app.agent(system_topic, name="systems")
    async def systems(stream: Any) -> None:
        await run_stage(stream, system_books, apply_system, "system")

    @app.timer(settings.tick_interval, on_leader=True)  # type: ignore[untyped-decorator]
    async def tick_clock() -> None:
        # An exception in a Faust timer kills the worker: a missed tick is only logged.
        try:
            await send_ticks(app, store, clock())
        except Exception:
            log.exception("clock tick failed; the next one will catch up")

    app.opel_stages = (areas, county, systems)  # type: ignore[attr-defined]
    return app


async def publish(
    outputs: Outputs, emit: Emit, statuses: Mapping[str, AnyStatus], ctx: Context, ts: int | None
) -> None:
    """Send what a stage produced and wait until Kafka has all of it."""
    records: list[Record] = [
        (topics.ESCALATIONS, event.subject.encode(), event.to_json()) for event in emit.escalations
    ]
    records.extend((topics.STATUS, key.encode(), value.to_json()) for key, value in statuses.items())
    records.extend(
        (topics.AUDIT, record.scope.encode() if record.scope else None, record.to_json())
        for record in emit.audit
    )
    records.extend(
        (
            topics.COUNTY_EVENTS,
            ctx.county.encode(),
            StageMessage(items=(report,), seen=report.seen, ts=ts).to_json(),
        )
        for report in emit.reports
    )
    await outputs.send_all(records)
    for kind, direction in emit.transitions:
        metrics.record_transition(kind, direction)
    for (source, outcome), count in Counter(emit.outcomes).items():
        if outcome in ("assessed", "not_assessed", "duplicate", "stale"):
            metrics.record_reading(source or topics.CAPACITY, outcome, count)
    if ts is not None and statuses:
        metrics.observe_processing(max(0.0, time.time() - ts / 1000))


def aggregate_keys(store: CatalogueStore) -> list[tuple[str, str]]:
    """Every (internal topic, key) a stateful stage owns: the areas, the county, the systems."""
    ctx = store.context
    keys = [(topics.AREA_EVENTS, area) for area in ctx.catalogue.areas]
    keys.append((topics.COUNTY_EVENTS, ctx.county))
    keys.extend((topics.SYSTEM_EVENTS, system) for system in ctx.acute.systems)
    return keys


async def send_ticks(app: faust.App, store: CatalogueStore, now: datetime) -> None:
    message = StageMessage(items=(TickItem(now=now),), seen=now).to_json()
    futures: list[Awaitable[Any]] = [
        await app.producer.send(topic, key.encode(), message, None, None, None)
        for topic, key in aggregate_keys(store)
    ]
    await asyncio.gather(*futures)


async def _deadletter_internal(app: faust.App, event: Any, exc: Exception, now: datetime) -> None:
    msg = event.message
    error = f"{type(exc).__name__}: {exc}"
    dead = deadletter(
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        timestamp_ms=msg.timestamp,
        key=event.key,
        value=event.value,
        reason="internal",
        error=error,
        field=None,
        at=now,
    )
    metrics.record_deadletter(msg.topic, "internal")
    try:
        fut = await app.producer.send(topics.DEADLETTER, event.key, dead.to_json(), None, None, None)
        await fut
        record = audit_record(
            "internal_error",
            None,
            now,
            input={"topic": msg.topic, "partition": msg.partition, "offset": msg.offset},
            reason=error,
        )
        await app.producer.send(topics.AUDIT, None, record.to_json(), None, None, None)
    except Exception:
        log.exception("could not dead-letter %s:%s@%s", msg.topic, msg.partition, msg.offset)
