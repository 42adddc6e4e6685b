"""The Faust application: stateful stages for areas, the county and acute systems.

Topology (topic names in :mod:`streams.topics`)::

    inputs --ingest--> opel.internal.area.v1   (key area)   --areas-->   status, escalations, audit
                                                                   \\--> opel.internal.county.v1 (key county)
                       opel.internal.system.v1 (key system) --systems--> status, escalations, audit
                       opel.internal.county.v1              --county-->  status, escalations, audit

Each stage reads one item list per message, runs the pure engine on the key's book, sends
everything the engine produced and waits for Kafka to have it, and only then writes the book
to its table (the parts of the book that changed, :mod:`streams.books`; none when nothing did). A crash
between the two replays the message; the engine sees its own outputs' inputs again, finds
them duplicate, and re-emits nothing new, while anything it had not yet sent gets the same
deterministic ids as before.

A stage never skips a message because Kafka was away: a failure to publish or to store the
book is retried with bounded back-off until it works or the worker stops
(:func:`handle_event`). Only a message that can never be processed (a bad payload, a bug) is
dead-lettered with reason ``internal``, with an error log and ``opel_stage_unprocessable_total``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import faust
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RecordListTooLargeError,
    RecordTooLargeError,
    RequestTimedOutError,
)
from pydantic import ValidationError

from opel.contracts.audit import AuditRecord, audit_record
from opel.contracts.deadletter import deadletter
from opel.contracts.stage import StageMessage, TickItem
from opel.contracts.status import AnyStatus
from opel.errors import InputError
from opel.stages.area import apply_area
from opel.stages.context import Context, Emit
from opel.stages.county import apply_county
from opel.stages.system import apply_system
from streams import kafka_security, metrics, table_codec, topics
from streams.books import Books, RestoredTables
from streams.catalogues import CatalogueStore
from streams.delivery import AT_LEAST_ONCE, Delivery
from streams.faust_transport import OpelApp, source_transaction
from streams.kafka_security import PLAINTEXT, KafkaSecurity
from streams.partitioning import KeyPartitioner
from streams.settings import Settings

log = logging.getLogger(__name__)

Stage = Callable[[Any, str, StageMessage, Context], tuple[Any, Emit, Mapping[str, AnyStatus]]]
"""A pure stage: (stored book, key, message, rules in force) -> (book, outputs, statuses)."""


Record = tuple[str, bytes | None, bytes]  # topic, key, value
STAGES: Final = ("area", "county", "system")
EXACTLY_ONCE_OPTIONS: Final[dict[str, Any]] = {
    # read_committed readers (alerting, the board) see a stage's outputs only once its
    # transaction commits, so the commit interval is their latency: Faust's 2.8 s would be most
    # of it. Kafka Streams commits every 100 ms under exactly-once; 0.5 s keeps a commit (a
    # round of transaction requests per partition) a small part of the stages' time.
    "broker_commit_interval": 0.5,
    # The stages pack their outputs (Outputs) into batches of Faust's transactional producers
    # (512 KiB, producer_max_batch_size, as for every Faust producer): Faust's 1 MB request
    # limit would refuse the largest of a stage's messages, which the stages' own producer sends.
    "producer_max_request_size": 4 * 1024 * 1024,
}


class Outputs:
    """The producer the stages publish through: plain aiokafka, started and stopped by the worker.

    A stage's message yields a few hundred records at a time (an audit record per reading), so
    they are packed into one batch per partition with aiokafka's batch API rather than sent one
    by one: that saves a future and a metadata wait per record, which together cost more than
    the reading's whole assessment. Records keep Kafka's key-to-partition mapping (memoised per
    key) and their order within a partition. A stage waits for every batch to be acknowledged before it
    writes its table, so at-least-once never depends on Faust flushing these.
    """

    def __init__(
        self,
        bootstrap: str,
        max_request_size: int = 4 * 1024 * 1024,
        request_timeout_ms: int = 40_000,
        *,
        security: KafkaSecurity = PLAINTEXT,
        idempotent: bool = False,
    ) -> None:
        # No linger: every batch is complete when it is submitted, and the stage then waits for
        # its acknowledgement, which a linger would only delay. A batch not acknowledged within
        # request_timeout_ms fails; the stage then sends it again (handle_event), so the time-out
        # only decides how soon a broker that went quiet is tried afresh.
        self.producer = kafka_security.producer(
            bootstrap,
            security=security,
            linger_ms=0,
            acks="all",
            request_timeout_ms=request_timeout_ms,
            max_batch_size=512 * 1024,  # under the broker's default 1 MB message limit
            max_request_size=max_request_size,
            # With a producer id the broker drops a batch it already has, so a send that aiokafka
            # retries after a lost acknowledgement is not written twice (streams/delivery.py).
            enable_idempotence=idempotent,
        )
        self._partitioner = KeyPartitioner()

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def send_all(self, records: Iterable[Record], producer: Any = None) -> None:
        """Publish the records and return once Kafka has acknowledged all of them.

        On failure it waits for every batch to settle (so nothing of this call is still in
        flight when the caller retries), then raises :class:`Unacknowledged` with the records
        from each partition's first failed batch on: a retry sends only those, in order.
        ``producer`` is another aiokafka producer to send through (a stage's transaction).
        """
        producer = producer or self.producer
        partitions: dict[str, list[int]] = {}
        chains: dict[tuple[str, int], list[tuple[Any, list[Record]]]] = {}
        for record in records:
            topic, key, value = record
            known = partitions.get(topic)
            if known is None:
                known = partitions[topic] = sorted(await producer.partitions_for(topic))
            target = (topic, self._partitioner(key, known, known))
            chain = chains.get(target)
            if chain is None:
                chain = chains[target] = [(producer.create_batch(), [])]
            if chain[-1][0].append(timestamp=None, key=key, value=value) is None:
                # That batch is full; a fresh one always takes its first record.
                chain.append((producer.create_batch(), []))
                chain[-1][0].append(timestamp=None, key=key, value=value)
            chain[-1][1].append(record)
        sent: list[tuple[tuple[str, int], list[Record], Any]] = []
        try:
            for (topic, partition), chain in chains.items():
                for batch, batch_records in chain:
                    batch.close()
                    future = await producer.send_batch(batch, topic, partition=partition)
                    sent.append(((topic, partition), batch_records, future))
        except Exception as exc:
            # Not every batch was handed over: settle those that were, resend everything.
            await asyncio.gather(*(future for _, _, future in sent), return_exceptions=True)
            raise Unacknowledged(
                exc, [r for chain in chains.values() for _, rs in chain for r in rs]
            ) from exc
        if not sent:
            return
        results = await asyncio.gather(*(future for _, _, future in sent), return_exceptions=True)
        first: BaseException | None = None
        failed: set[tuple[str, int]] = set()
        remaining: list[Record] = []
        for (target, batch_records, _), result in zip(sent, results, strict=True):
            if isinstance(result, BaseException) or target in failed:
                if isinstance(result, BaseException) and first is None:
                    first = result
                failed.add(target)
                remaining.extend(batch_records)
        if first is not None:
            if not isinstance(first, Exception):
                raise first
            raise Unacknowledged(first, remaining) from first


class Publisher(Protocol):
    """What a stage publishes through: :class:`Outputs`, or a fake in tests."""

    async def send_all(self, records: Iterable[Record]) -> None: ...


@dataclass(frozen=True)
class InTransaction:
    """Publishes through :class:`Outputs`' batching into the transaction of an event's source
    partition (exactly_once), so the records commit or abort with the event's offset."""

    outputs: Outputs
    app: faust.App
    topic: str
    partition: int

    async def send_all(self, records: Iterable[Record]) -> None:
        producer = source_transaction(self.app, self.topic, self.partition)
        try:
            await self.outputs.send_all(records, producer)
        except Unacknowledged as exc:
            # A produce that failed after aiokafka's own retries leaves the transaction unable to
            # commit; only aborting it helps, and a restart does that: the worker exits
            # (OpelApp.fatal), its successor aborts what this one wrote and replays the events
            # from the last commit. Retrying here would only fail again.
            await self.app.crash(exc)
            raise


class Unacknowledged(Exception):  # noqa: N818  (a condition, not a bug: the records may be retried)
    """Some records of a :meth:`Outputs.send_all` were not acknowledged.

    ``cause`` is the first error; ``remaining`` the records to send again (per partition, from
    the first failed batch on, in their original order).
    """

    def __init__(self, cause: Exception, remaining: list[Record]) -> None:
        super().__init__(f"{len(remaining)} records not acknowledged: {type(cause).__name__}: {cause}")
        self.cause = cause
        self.remaining = remaining


# --------------------------------------------------------------------------- failures
# A stage's message either can never be processed (the same bytes fail the same way every
# time: a bad payload or a bug) and is dead-lettered, or it failed because Kafka was not
# there for a while, and is retried until Kafka is back. A time-out is never a dead letter.

TRANSIENT_ERRORS: Final[tuple[type[BaseException], ...]] = (
    KafkaTimeoutError,  # aiokafka: retriable = False, yet only ever a wait that ran out
    RequestTimedOutError,
    NotLeaderForPartitionError,
    KafkaConnectionError,
    asyncio.TimeoutError,
    ConnectionError,
)
"""Errors that say "not now": retried, never dead-lettered (plus any Kafka error whose
``retriable`` is true)."""

PERMANENT_ERRORS: Final[tuple[type[BaseException], ...]] = (
    ValidationError,  # the StageMessage does not decode
    InputError,  # the pure stage refused an item
    ValueError,
    KeyError,
    MessageSizeTooLargeError,  # the outputs of this message can never fit
    RecordTooLargeError,
    RecordListTooLargeError,
)
"""Errors that the same message would raise again: the message is dead-lettered."""


def is_transient(exc: BaseException) -> bool:
    """A failure that waiting can cure: a Kafka time-out, a lost connection, a retriable error."""
    if isinstance(exc, Unacknowledged):
        return is_transient(exc.cause)
    return isinstance(exc, TRANSIENT_ERRORS) or getattr(exc, "retriable", False) is True


def is_permanent(exc: BaseException) -> bool:
    """A failure the same message would meet again; never true of a transient one."""
    if isinstance(exc, Unacknowledged):
        return is_permanent(exc.cause)
    return not is_transient(exc) and isinstance(exc, PERMANENT_ERRORS)


@dataclass(frozen=True)
class Backoff:
    """Bounded exponential back-off with jitter.

    The n-th wait (n from 0) is ``min(cap, first * factor**n)`` scaled by a random factor in
    ``[1 - jitter, 1]``, so workers that lost the broker together do not come back in step.
    """

    first: float = 0.1
    factor: float = 2.0
    cap: float = 5.0
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random) -> float:
        # min() before the power would overflow: the exponent is capped where it reaches cap.
        steps = min(attempt, 64)
        base = min(self.cap, self.first * self.factor**steps)
        return base * (1.0 - self.jitter * rng.random())


BACKOFF: Final = Backoff()


async def until_done(
    step: Callable[[], Awaitable[None]],
    what: str,
    *,
    backoff: Backoff = BACKOFF,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    rng: random.Random | None = None,
    on_retry: Callable[[BaseException], None] | None = None,
    permanent: Callable[[BaseException], bool] = is_permanent,
) -> int:
    """Run ``step`` until it returns; return how many failures were retried.

    A permanent error (``permanent``, by default :func:`is_permanent`) is raised at once.
    Any other is retried after a back-off: a transient one with a warning, an unclassified
    one with an error and its traceback (a failure to publish or commit is presumed
    transient: skipping the message would lose its effect for good, while retrying at most
    holds the partition up, loudly).
    Cancellation (the worker stopping) is never caught, so it ends the wait at once.
    """
    rng = rng or random.Random()
    failures = 0
    while True:
        try:
            await step()
        except Exception as exc:
            if permanent(exc):
                raise
            delay = backoff.delay(failures, rng)
            failures += 1
            if on_retry is not None:
                on_retry(exc)
            cause = exc.cause if isinstance(exc, Unacknowledged) else exc
            if is_transient(exc):
                log.warning(
                    "%s failed (%s: %s); retry %d in %.2f s",
                    what,
                    type(cause).__name__,
                    cause,
                    failures,
                    delay,
                )
            else:
                log.error("%s failed unexpectedly; retry %d in %.2f s", what, failures, delay, exc_info=exc)
            await sleep(delay)
        else:
            if failures:
                log.warning("%s succeeded after %d retries", what, failures)
            return failures


def area_stage(
    stored: Any, key: str, message: StageMessage, ctx: Context
) -> tuple[Any, Emit, Mapping[str, AnyStatus]]:
    return apply_area(stored, key, message.items, ctx, message.seen, idle=message.idle)


def county_stage(
    stored: Any, key: str, message: StageMessage, ctx: Context
) -> tuple[Any, Emit, Mapping[str, AnyStatus]]:
    return apply_county(stored, message.items, ctx, message.seen)


def system_stage(
    stored: Any, key: str, message: StageMessage, ctx: Context
) -> tuple[Any, Emit, Mapping[str, AnyStatus]]:
    return apply_system(stored, key, message.items, ctx, message.seen)


def create_app(
    settings: Settings,
    store: CatalogueStore,
    outputs: Outputs,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    *,
    replication_factor: int = 1,
    delivery: Delivery = AT_LEAST_ONCE,
) -> faust.App:
    """A Faust app for these settings; every call builds a fresh one (tests start several).

    ``clock`` is the wall clock of ticks and dead letters: the stages themselves never read one.
    ``replication_factor``: replicas of the topics Faust creates itself (table changelogs, the
    leader topic), the same as opel's own topics, so that losing one broker loses no table.
    ``delivery``: exactly_once runs each stage's event in its source partition's transaction
    (:mod:`streams.faust_transport`); at_least_once publishes, waits, then writes the table.
    """
    exactly_once = delivery.transactional
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
        topic_replication_factor=replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        producer_linger_ms=5,
        # A book is stored as several small records (streams/books.py); Faust's 16 KB default
        # batch then fills every few records, and each full batch waits for a round trip to the
        # broker before the next record is taken: 4x40 drained at 3,200 readings/s, not 7,900.
        producer_max_batch_size=512 * 1024,
        stream_wait_empty=True,
        exactly_once=exactly_once,
        idempotent=delivery.idempotent,
        stages=STAGES,
        **(EXACTLY_ONCE_OPTIONS if exactly_once else {}),
        **kafka_security.for_settings(settings).faust_options(),
    )
    app.opel_stage_topics = frozenset({topics.AREA_EVENTS, topics.COUNTY_EVENTS, topics.SYSTEM_EVENTS})
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

    # Books hold their values in memory; after a rebalance they read them again from the table,
    # once it is restored.
    restored = RestoredTables(app)

    for table in (area_books, county_books, system_books):
        # Faust takes a table's serializer only from a faust.Record value type; books are plain
        # JSON, so the faster codec is set directly, before the store and changelog are built.
        table.value_serializer = table_codec.NAME  # type: ignore[attr-defined]

    async def run_stage(stream: Any, table: Any, stage: Stage, name: str) -> None:
        async def dead(event: Any, exc: Exception) -> None:
            await _deadletter_internal(app, event, exc, clock())

        if not exactly_once:
            async for event in stream.events():
                await handle_event(event, table, stage, name, store=store, outputs=outputs, deadletter=dead)
                app.processed(event)  # Faust acks it when the next is taken
            return
        barrier = app.opel_barrier.stage(name)
        async for event in stream.events():
            msg = event.message
            async with barrier:
                # Outputs, changelog record and offset in one transaction: no commit between them.
                publisher = InTransaction(outputs, app, msg.topic, msg.partition)
                await handle_event(event, table, stage, name, store=store, outputs=publisher, deadletter=dead)
                await app.changelogs_written()  # the book's changelog records, into the transaction
                app.processed(event)
                event.ack()

    @app.agent(area_topic, name="areas")
    async def areas(stream: Any) -> None:
        await run_stage(stream, Books(area_books, restored), area_stage, "area")

    @app.agent(county_topic, name="county")
    async def county(stream: Any) -> None:
        await run_stage(stream, Books(county_books, restored), county_stage, "county")

    @app.agent(system_topic, name="systems")
    async def systems(stream: Any) -> None:
        await run_stage(stream, Books(system_books, restored), system_stage, "system")

    @app.timer(settings.tick_interval, on_leader=True)  # type: ignore[untyped-decorator]
    async def tick_clock() -> None:
        await tick_once(app, store, clock())

    app.opel_stages = (areas, county, systems)  # type: ignore[attr-defined]
    return app


class ContextSource(Protocol):
    """Where a stage takes its catalogues from (:class:`CatalogueStore`)."""

    @property
    def context(self) -> Context: ...

    def reload(self) -> list[AuditRecord]: ...


async def handle_event(
    event: Any,
    table: MutableMapping[str, Any],
    stage: Stage,
    name: str,
    *,
    store: ContextSource,
    outputs: Publisher,
    deadletter: Callable[[Any, Exception], Awaitable[None]],
    backoff: Backoff = BACKOFF,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> bool:
    """Apply one stage message; False if it could never be processed and was dead-lettered.

    1. Decode the :class:`StageMessage` and run the pure stage on the key's book. Neither reads
       a clock or does I/O, so whatever they raise they would raise again: a bad payload (a
       ValidationError, an InputError) or a bug. The message is dead-lettered.
    2. Publish what the stage produced, then store the book. A failure here is Kafka not
       being there (a time-out, a lost connection, a leader moving) and is retried with
       back-off (:func:`until_done`) until it works or the worker stops; only an error that
       the same records would meet again (:func:`is_permanent`: they can never fit in a
       request) dead-letters the message.

    A retry re-sends the *same* records computed once in step 1, rather than running the
    stage again: the book has not been written, so a re-run would compute the same records
    anyway, unless a catalogue reload landed in between, and then the second attempt could
    publish a different story under the same deterministic ids as the half-sent first one.
    Re-sending fixed bytes makes a retry's duplicates exact copies, and only the records of
    partitions that were not acknowledged are sent again (:class:`Unacknowledged`).
    """
    msg = event.message
    where = f"{msg.topic}:{msg.partition}@{msg.offset}"
    key = ""
    computed: list[Any] = []

    def retried(step: str) -> Callable[[BaseException], None]:
        return lambda exc: metrics.record_stage_retry(name, step)

    async def compute() -> None:
        nonlocal key
        key = event.key.decode() if event.key is not None else ""
        message = StageMessage.model_validate_json(event.value)
        reloaded: list[AuditRecord] = []
        if message.reload:
            try:
                reloaded = store.reload()
            except Exception:  # the catalogue watcher tries again; the items still count
                log.exception("%s stage: catalogue reload asked by %s failed", name, where)
        ctx = store.context
        book, emit, statuses = stage(table.get(key), key, message, ctx)
        records: list[Record] = [(topics.AUDIT, None, record.to_json()) for record in reloaded]
        records.extend(stage_records(emit, statuses, ctx, message.ts))
        computed[:] = [book, emit, statuses, message.ts, records]

    try:
        # Nothing in compute() touches Kafka, so anything but a time-out is for good.
        await until_done(
            compute,
            f"{name} stage on {where}",
            permanent=lambda exc: not is_transient(exc),
            backoff=backoff,
            sleep=sleep,
            on_retry=retried("compute"),
        )
    except Exception as exc:
        await _unprocessable(event, exc, name, where, deadletter)
        return False
    book, emit, statuses, ts, pending = computed

    async def send() -> None:
        nonlocal pending
        try:
            await outputs.send_all(pending)
        except Unacknowledged as exc:
            pending = exc.remaining  # what was acknowledged is not sent twice
            raise

    async def commit() -> None:
        table[key] = book

    try:
        await until_done(
            send,
            f"{name} stage publish for {where}",
            backoff=backoff,
            sleep=sleep,
            on_retry=retried("publish"),
        )
        record_metrics(emit, statuses, ts)
        if emit.changed:
            await until_done(
                commit,
                f"{name} stage table write for {where}",
                backoff=backoff,
                sleep=sleep,
                on_retry=retried("commit"),
            )
    except Exception as exc:  # permanent only: every other error was retried
        await _unprocessable(event, exc, name, where, deadletter)
        return False
    return True


async def _unprocessable(
    event: Any, exc: Exception, name: str, where: str, deadletter: Callable[[Any, Exception], Awaitable[None]]
) -> None:
    """Park a message that can never be processed, and say so loudly: it is a bug or bad data."""
    log.error(
        "%s stage cannot process %s (%s: %s); dead-lettered with reason 'internal', its effect is lost",
        name,
        where,
        type(exc).__name__,
        exc,
        exc_info=exc,
    )
    metrics.record_stage_unprocessable(name)
    await deadletter(event, exc)


def stage_records(
    emit: Emit, statuses: Mapping[str, AnyStatus], ctx: Context, ts: int | None
) -> list[Record]:
    """Everything one stage message publishes, in order: escalations, statuses, warnings, audit,
    reports."""
    records: list[Record] = [
        (topics.ESCALATIONS, event.subject.encode(), event.to_json()) for event in emit.escalations
    ]
    records.extend((topics.STATUS, key.encode(), value.to_json()) for key, value in statuses.items())
    records.extend((topics.WARNINGS, event.subject.encode(), event.to_json()) for event in emit.warnings)
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
    return records


def record_metrics(emit: Emit, statuses: Mapping[str, AnyStatus], ts: int | None) -> None:
    """Count what a published stage message did (once, however many retries it took)."""
    for kind, direction in emit.transitions:
        metrics.record_transition(kind, direction)
    for (source, outcome), count in Counter(emit.outcomes).items():
        if outcome in ("assessed", "not_assessed", "duplicate", "stale"):
            metrics.record_reading(source or topics.CAPACITY, outcome, count)
    if ts is not None and statuses:
        metrics.observe_processing(max(0.0, time.time() - ts / 1000))


async def publish(
    outputs: Publisher, emit: Emit, statuses: Mapping[str, AnyStatus], ctx: Context, ts: int | None
) -> None:
    """Send what a stage produced and wait until Kafka has all of it (one attempt)."""
    await outputs.send_all(stage_records(emit, statuses, ctx, ts))
    record_metrics(emit, statuses, ts)


def aggregate_keys(store: CatalogueStore) -> list[tuple[str, str]]:
    """Every (internal topic, key) a stateful stage owns: the areas, the county, the systems."""
    ctx = store.context
    keys = [(topics.AREA_EVENTS, area) for area in ctx.catalogue.areas]
    keys.append((topics.COUNTY_EVENTS, ctx.county))
    keys.extend((topics.SYSTEM_EVENTS, system) for system in ctx.acute.systems)
    return keys


async def tick_once(app: Any, store: CatalogueStore, now: datetime) -> None:
    """Send one round of ticks; never raises (an exception in a Faust timer kills the worker).

    Ticks carry nothing that the next round does not carry too, so a failed one is only
    logged, not retried: a warning when the broker was away, an error with traceback otherwise.
    """
    try:
        await send_ticks(app, store, now)
    except Exception as exc:
        if is_transient(exc):
            log.warning("clock tick not sent (%s: %s); the next one will catch up", type(exc).__name__, exc)
        else:
            log.exception("clock tick failed; the next one will catch up")


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
