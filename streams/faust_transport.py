"""A Faust app whose consumer asks the broker to answer fetches sooner.

Faust 0.15 hard-codes ``fetch_max_wait_ms=1500`` for its consumer. Tansu (the embedded
broker) holds a fetch for the whole wait rather than answering when data arrives, so every
hop through a Faust stage cost up to 1.5 s and throughput was bounded by round trips, not
CPU (measured: docs/benchmarks.md). On Apache Kafka the setting only matters when a topic is
idle. :class:`OpelApp` keeps everything else of Faust's consumer and changes that one number,
set by ``OPEL_FETCH_MAX_WAIT_MS`` (default 100).

It also changes where table recovery reads a changelog's end. Faust takes it from ListOffsets,
which on the embedded broker can stop a record batch short (:mod:`streams.end_offsets`): a
worker restarted after kill -9 then restored a table from almost nothing and emitted
escalations from scratch. The end is checked by a fetch instead, from a consumer built the way
Faust builds its own clients (same servers, same credentials).

And it never commits offsets once one of its services has crashed. A crash of Faust's
producer buffer (a changelog record over the request limit, say) drops a table write of an
event that was already acknowledged; committing past that event would lose the write for
good. :meth:`OpelApp.fatal` says why it crashed, and the worker exits with status 1 on it
(:mod:`streams.worker`), so the events are read again by the restarted worker.

With ``OPEL_DELIVERY`` in exactly_once mode (:mod:`streams.delivery`) the app runs Faust's
``processing_guarantee="exactly_once"``: a transactional producer per assigned source partition,
table changelogs sent in its transaction, input offsets committed into it with
``send_offsets_to_transaction`` and consumers reading ``read_committed``. That alone does not
make the stages' outputs exactly-once, for two reasons found in Faust 0.15's source:

- ``faust.transport.consumer.TransactionManager.send`` picks the transaction from the
  *destination* partition (``group_for_topic(topic)``, which raises KeyError for a topic no
  agent reads, such as ``opel.audit.v1``), while ``commit`` commits each transaction with the
  offsets of the *source* partition of the same number: an output sent to another partition is
  committed with some other input's offsets, or not at all. So the stages send their outputs
  themselves, into the transaction of the partition the event came from
  (:func:`source_transaction`).
- The commit (every ``broker_commit_interval``) runs beside the agents and commits whatever the
  transaction holds, including the outputs of an event still being processed, whose offset it
  does not include yet; a crash then replays that event after its outputs were committed.
  :class:`StageBarrier` closes the gap: a stage holds its lock from an event's first output to
  its changelog write and ack, and a commit takes every stage's lock before it reads which
  offsets are safe to commit.

And a rebalance aborts every open transaction (Faust stops the transactional producers of the
revoked partitions without committing, and :meth:`TransactionManager.abort_kept_transactions`
those of the partitions kept through it), but a table write has already changed the worker's own
store, and Faust's recovery reads a changelog on from where it last read, so a value written only
in the aborted transaction stayed: the event, read again, met a book that already had its effect
and changed nothing. :class:`Table` keeps each key's value from before the open transaction and
puts those back in its store once the tables are restored (:meth:`OpelApp.roll_back_aborted`),
forgetting them when the transaction commits.

And a partition's transactional producer that fails to start (after a long pause a fenced
Apache Kafka node lists no broker for a moment) is started again rather than left out, as Faust
did, which left the partition's stage retrying for ever; one that cannot start in a minute stops
the worker (:meth:`Producer.begin_transaction`).

And a seek must not lose what was fetched around it. After a rebalance Faust seeks every
stream partition to its committed offset, setting the read offset its fetch loop filters by back
to that offset, and only then resumes the flow, which clears every stream's queue. Two windows
lost messages for good (the survivor of a worker kill -9 skipped stage messages of the dead
worker's areas, within one partition): the fetch loop went on delivering the rest of a batch
fetched before the seek, moving the read offset past the copies the seek was to fetch again; and
what it delivered between the seek and the resume was cleared from the queues. Neither was ever
acknowledged, so the partition also stopped committing. :meth:`Consumer.perform_seek` holds the
flow from the seek to Faust's resume, and the fetch loop drops what it holds of a partition
fetched before that partition's seek (the fetch from the new position brings those records again,
in order). Which records came before a seek is decided per partition in the consumer thread,
where both the seek and the fetch run: dropping a whole batch, or dropping by when the loop asked
for it, also dropped records fetched from a new position, which nothing fetches again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Final, cast

import faust
from aiokafka import TopicPartition
from aiokafka.errors import ProducerFenced
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.consumer import TransactionManager as FaustTransactionManager
from faust.transport.drivers import aiokafka as driver
from faust.types import TP
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

from streams.delivery import TRANSACTION_TIMEOUT_MS
from streams.end_offsets import confirmed_ends_with_new_consumer

log = logging.getLogger(__name__)


def _thread_class(wait_ms: int) -> type[Any]:
    class ConsumerThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            # aiokafka reads this when it builds its fetcher in start(), after construction.
            consumer._fetch_max_wait_ms = wait_ms
            return consumer

        async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
            # Faust's own answer under transactions is the consumer's last stable offset as of
            # its last fetch: before the first fetch of a changelog partition that is unknown,
            # read as "empty", and a worker restarted under exactly-once restored its tables
            # from nothing (test_compaction on Apache Kafka). A fetch of our own answers it.
            isolation = "read_committed" if self.consumer.in_transaction else "read_uncommitted"
            conf = self.app.conf
            transport = cast(driver.Transport, self.transport)
            ends = await confirmed_ends_with_new_consumer(
                [TopicPartition(tp.topic, tp.partition) for tp in partitions],
                bootstrap_servers=driver.server_list(transport.url, transport.default_port),
                client_id=conf.broker_client_id,
                request_timeout_ms=int(conf.broker_request_timeout * 1000.0),
                isolation_level=isolation,
                **driver.credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
            )
            return {tp: ends[TopicPartition(tp.topic, tp.partition)] for tp in partitions}

        async def seek_to_committed(self) -> Mapping[TP, int]:
            return cast(Mapping[TP, int], await self.call_thread(self._seek_to_committed_or_start))

        async def _fetch_records(self, *args: Any, **kwargs: Any) -> Any:
            records = await super()._fetch_records(*args, **kwargs)
            # What aiokafka returns agrees with each partition's position as it is now (a seek
            # drops what was fetched before it): numbered here, the batch is stale for exactly
            # the partitions seeked after this point (:meth:`_seek_to_committed_or_start`).
            owner: Any = self.consumer
            owner._opel_fetches += 1
            return records

        async def _seek_to_committed_or_start(self) -> Mapping[TP, int]:
            # When a rebalance suspends a stream, Faust drops the records it had fetched for it
            # and counts on this seek to read them again. aiokafka seeks only where an offset
            # above 0 was committed, so a stream partition never committed kept its fetch
            # position and those records were never processed (a survivor of a kill -9 lost a
            # 429-reading stage message). Such a partition goes back to where the reset policy
            # starts it. Table changelogs are never committed by design and are left alone:
            # read again from their start, they put old values back into restored tables.
            consumer = self._ensure_consumer()
            # aiokafka's seek_to_committed, one partition at a time, noting for each the fetch
            # it came after, in this thread where fetches return (:meth:`_fetch_records`): a
            # batch fetched before a partition's seek is stale for that partition only. The
            # seeks interleave with the requests for committed offsets, and a fetch returning
            # in between holds records from the new position of the partitions already seeked
            # (to deliver: their position has moved past them) and from the old position of the
            # others (to drop: their seek fetches them again).
            owner: Any = self.consumer
            seeked: dict[Any, int] = owner._opel_seeked
            changelogs = self.app.tables.changelog_topics
            from_start = self.app.conf.consumer_auto_offset_reset == "earliest"
            committed: dict[Any, int | None] = {}
            for tp in consumer.assignment():
                offset = committed[tp] = await consumer.committed(tp)
                if offset is not None and offset > 0:
                    consumer.seek(tp, offset)
                    seeked[tp] = owner._opel_fetches
                elif from_start and tp.topic not in changelogs:
                    seeked[tp] = owner._opel_fetches  # before the reset drops what it had
                    await consumer.seek_to_beginning(tp)
            return cast(Mapping[TP, int], committed)

    return ConsumerThread


class StageBarrier:
    """Keeps a transaction commit from landing inside a stage's event (see the module's doc).

    One lock per stage, so the three stages still overlap their waits for Kafka; the commit
    takes them all, always in the same order.
    """

    def __init__(self, stages: Iterable[str]) -> None:
        self._locks = {name: asyncio.Lock() for name in stages}

    def stage(self, name: str) -> asyncio.Lock:
        return self._locks[name]

    @contextlib.asynccontextmanager
    async def all(self) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for name in sorted(self._locks):
                await stack.enter_async_context(self._locks[name])
            yield


class Table(faust.Table[Any, Any]):
    """A table whose changelog records can be waited for, in exactly_once mode.

    A table write only queues its changelog record in Faust's producer buffer; a background task
    sends it, and ``ProducerBuffer.flush`` returns once the queue is empty, which can be while
    that task still holds the record (or after its 0.1 s wait). A stage must not release the
    barrier before the record is in its transaction, so it waits for the record itself
    (:meth:`changelog_written`).
    """

    _opel_unsent: list[Any] | None = None
    _opel_before: dict[str, dict[Any, Any]] | None = None
    """Transactional id -> key -> the key's value in the store before that open transaction."""

    def send_changelog(self, partition: Any, key: Any, *args: Any, **kwargs: Any) -> Any:
        fut = super().send_changelog(partition, key, *args, **kwargs)
        if self.app.in_transaction:
            if self._opel_unsent is None:
                self._opel_unsent = []
            self._opel_unsent.append(fut)
            # Called before the store changes (ManagedUserDict sets data after on_key_set).
            topic = self.changelog_topic.get_topic_name()
            before = self._opel_before_of(transaction_of(self.app, topic, fut.message.partition))
            if key not in before:
                before[key] = self.data.get(key, _ABSENT)
        return fut

    def _opel_before_of(self, tid: str) -> dict[Any, Any]:
        if self._opel_before is None:
            self._opel_before = {}
        return self._opel_before.setdefault(tid, {})

    def committed(self, tids: Iterable[str]) -> None:
        """The transactions ``tids`` committed: their writes stand."""
        if self._opel_before:
            for tid in tids:
                self._opel_before.pop(tid, None)

    def roll_back(self) -> int:
        """Put back, in the store only, every key written in a transaction that never committed
        (a rebalance aborted it); the number of keys."""
        count = 0
        for before in (self._opel_before or {}).values():
            for key, value in before.items():
                if value is _ABSENT:
                    self.data.pop(key, None)
                else:
                    self.data[key] = value
                count += 1
        self._opel_before = None
        return count

    async def changelog_written(self) -> None:
        """Return once every changelog record of the writes so far is acknowledged (in exactly_once
        mode: written into the transaction, to be committed or aborted with it)."""
        if self._opel_unsent:
            # Another stage may wait for the same records: each keeps them until they are done.
            await asyncio.gather(*list(self._opel_unsent))
            self._opel_unsent = [fut for fut in self._opel_unsent if not fut.done()]


class TransactionStartError(RuntimeError):
    """A partition's transactional producer could not start: the worker cannot process it."""


class Producer(driver.Producer):
    start_patience: float = 60.0
    """Seconds a partition's transactional producer may take to start and begin (with retries)."""

    async def begin_transaction(self, transactional_id: str) -> None:
        """Faust's, except that a producer that fails to start is stopped and started again.

        Faust logs the failure and goes on without a producer for the partition, so its stage
        retried "no transactional producer" until the next rebalance, which may never come: after
        a 60 s pause a fenced Apache Kafka node lists no broker for a moment, and the producers
        started then never existed (the worker hung; test_oracle's pause in CI). A start that
        still fails after ``start_patience`` raises :class:`TransactionStartError`, and the
        worker stops (:meth:`TransactionManager.on_rebalance`).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_patience
        delay = 0.25
        while True:
            try:
                await self._begin_once(transactional_id)
                return
            except ProducerFenced:
                # Another worker owns the partition now; the rebalance that says so is on its way.
                log.info("transactional producer %s fenced", transactional_id)
                fenced = self._transaction_producers.pop(transactional_id, None)
                if fenced is not None:
                    await fenced.stop()
                return
            except Exception as exc:
                if loop.time() + delay > deadline:
                    raise TransactionStartError(
                        f"transactional producer {transactional_id} did not start within "
                        f"{self.start_patience:.0f} s: {type(exc).__name__}: {exc}"
                    ) from exc
                log.warning(
                    "transactional producer %s did not start (%s: %s); again in %.2f s",
                    transactional_id,
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 4.0)

    async def _begin_once(self, transactional_id: str) -> None:
        producer = self._transaction_producers.get(transactional_id)
        if producer is None:
            producer = self._new_producer(transactional_id=transactional_id)
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._transaction_producers[transactional_id] = producer
            self._trn_locks[transactional_id] = asyncio.Lock()
        async with self._trn_locks[transactional_id]:
            self._ensure_producer()
            if not producer._txn_manager.is_in_transaction():
                await producer.begin_transaction()

    def _settings_extra(self) -> Mapping[str, Any]:
        # Faust asks for producer ids only in its exactly-once mode; opel wants them wherever
        # the broker gives them, so a retried changelog, tick or dead letter is not written twice.
        if not (self.app.in_transaction or getattr(self.app, "opel_idempotent", False)):
            return {}
        settings: dict[str, Any] = {"acks": "all", "enable_idempotence": True}
        if self.app.in_transaction:
            settings["transaction_timeout_ms"] = TRANSACTION_TIMEOUT_MS
        return settings


_ABSENT: Final = object()


def transaction_of(app: Any, topic: str, partition: int | None) -> str:
    """The transaction Faust sends a record of ``topic``/``partition`` in, and commits a source
    partition's offsets with (``TransactionManager.send`` and ``commit``)."""
    return f"{app.conf.id}-{app.assignor.group_for_topic(topic)}-{partition}"


class TransactionManager(FaustTransactionManager):
    async def commit(self, offsets: Mapping[TP, int], start_new_transaction: bool = True) -> bool:
        # Faust ends every transaction when it stops (commit_and_end_transactions) and may commit
        # again after that, which aiokafka refuses (IllegalOperation: not in the middle of a
        # transaction) and which kept a stopping worker from exiting. Nothing can have been sent
        # outside a transaction, so the offsets go in a transaction of their own.
        producers = cast(Any, self.producer)._transaction_producers
        tids = {transaction_of(self.app, tp.topic, tp.partition) for tp in offsets}
        for transactional_id in tids:
            producer = producers.get(transactional_id)
            if producer is not None and not producer._txn_manager.is_in_transaction():
                await producer.begin_transaction()
        committed: bool = await super().commit(offsets, start_new_transaction)
        if committed and not self.app.crashed:  # a fenced producer crashes the app, and returns True
            for table in self.app.tables.values():
                if isinstance(table, Table):
                    table.committed(tids)
        return committed

    async def on_rebalance(self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP]) -> None:
        await self.abort_kept_transactions(assigned, revoked)
        try:
            await super().on_rebalance(assigned, revoked, newly_assigned)
        except TransactionStartError as exc:
            # Without its producer a partition's events can never be published: stop the worker
            # (status 1, OpelApp.fatal) rather than retry them for ever; its successor starts afresh.
            log.error("%s; the worker stops", exc)
            await self.app.crash(exc)

    async def abort_kept_transactions(self, assigned: set[TP], revoked: set[TP]) -> list[str]:
        """End, unfinished, the open transactions of partitions this worker keeps through a rebalance.

        Faust stops the producers of revoked partitions only (their successor's InitProducerId
        aborts what they left open). A partition kept through a rebalance (a member whose
        session expired in a broker pause rejoins with the same partitions) kept its producer
        and its open transaction, and Faust's begin_transaction then carried on in it: the
        transaction went on to commit the outputs and changelog writes of events that Faust
        reads again from the committed offset, while :meth:`OpelApp.roll_back_aborted` had put
        the tables back as for an aborted one (seen on Apache Kafka after a 60 s pause: the
        transitions differed from the core's). Stopping the producer here makes the new one,
        which Faust starts at once, fence it and abort its transaction, as for a revoked
        partition. The transactional ids stopped.
        """
        producer = cast(Any, self.producer)
        kept = self._tps_to_transactional_ids(set(assigned)) - self._tps_to_transactional_ids(set(revoked))
        stopped = []
        for transactional_id in sorted(kept):
            open_one = producer._transaction_producers.get(transactional_id)
            if open_one is not None and open_one._txn_manager.is_in_transaction():
                await producer.stop_transaction(transactional_id)
                stopped.append(transactional_id)
        if stopped:
            log.info("rebalance: aborting the open transactions of %d kept partitions", len(stopped))
        return stopped


def source_transaction(app: faust.App, topic: str, partition: int) -> Any:
    """The aiokafka transactional producer of the source partition ``topic``/``partition``.

    It is the one Faust commits that partition's offsets with (:func:`transaction_of`). Faust
    starts it, with a transaction open, when the partition is assigned; a revoked or fenced
    partition has none, which is :class:`NoTransactionError`.
    """
    transactional_id = transaction_of(app, topic, partition)
    producer = cast(Any, app.producer)._transaction_producers.get(transactional_id)
    if producer is None:
        raise NoTransactionError(f"no transactional producer {transactional_id} (partition not assigned?)")
    return producer


class NoTransactionError(RuntimeError):
    """The source partition of an event has no transaction to send into (it moved away)."""

    retriable = True  # a later rebalance gives the partition its producer again


def _transport_class(wait_ms: int) -> type[Any]:
    thread = _thread_class(wait_ms)

    class Consumer(driver.Consumer):
        def _new_consumer_thread(self) -> Any:
            return thread(self, loop=self.loop, beacon=self.beacon)

        async def force_commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
            barrier: StageBarrier | None = getattr(self.app, "opel_barrier", None)
            if not self.app.in_transaction or barrier is None:
                done: bool = await super().force_commit(topics, start_new_transaction=start_new_transaction)
                return done
            # The barrier is taken before Faust reads which offsets are safe to commit: taken
            # later, an event could finish in between, its outputs in the transaction and its
            # offset not.
            async with barrier.all():
                done = await super().force_commit(topics, start_new_transaction=start_new_transaction)
                return done

        def ack(self, message: Any) -> bool:
            # Faust's streams ack what they skip: an event they take while a rebalance has
            # suspended the flow, or one fetched in an earlier generation. Both are read again
            # from the committed offset, but counted here the ack is committed (Faust commits
            # as the partitions are revoked) and the copy read again starts after it: the
            # event is never processed (a worker restarted on Apache Kafka lost a 435-reading
            # stage message this way). So a stage event counts only once processed (the
            # stages say so, OpelApp.processed), and none from before the current generation.
            app = cast(OpelApp, self.app)
            if message.generation_id != app.consumer_generation_id or (
                message.topic in app.opel_stage_topics and message not in app.opel_processed
            ):
                with ack_lock:
                    message.acked = True
                    self._unacked_messages.discard(message)
                    notify(self._waiting_for_ack)
                return False
            acked: bool = super().ack(message)
            return acked

        _opel_fetches = 0
        """Batches fetched so far, counted by the consumer thread as each returns. The fetch loop
        asks for the next batch only once it is done with the last, so this is also the number
        of the batch being delivered."""
        _opel_seeked: dict[Any, int]
        """Partition -> the number of the last batch fetched before its last seek."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._opel_seeked = {}

        async def perform_seek(self) -> None:
            # Faust resumes the flow right after this seek (tables/recovery.py), and resuming
            # clears every stream's queue. Held from here, nothing is delivered between the seek
            # and that resume, so nothing the seek reset the read offset for can be cleared
            # after it. With the flow already stopped (a seek from getmany) there is nothing to
            # hold, and no resume of ours to owe.
            flow = self.app.flow_control
            hold = self.flow_active and flow.is_active()
            if hold:
                flow.suspend()
            try:
                await super().perform_seek()
            except BaseException:
                if hold:
                    flow.resume()
                raise

        def _opel_stale(self, tp: Any) -> bool:
            """Whether ``tp`` was seeked after the batch being delivered was fetched."""
            seeked = self._opel_seeked.get(tp)
            return seeked is not None and seeked >= self._opel_fetches

        async def _opel_deliver(self, tp: Any, message: Any) -> bool:
            """Hand ``message`` to the streams unless its partition was seeked after its fetch."""
            # The check and the conductor's put run without a pause between them (the flow is
            # active, so the conductor's own acquire returns at once): no seek falls in between.
            await self.app.flow_control.acquire()
            if self._opel_stale(tp):
                return False
            await self.callback(message)
            return True

        async def _drain_messages(self, fetcher: Any) -> None:  # noqa: PLR0915  # pragma: no cover (the fetcher's loop, Faust's own, kept comparable)
            # Faust 0.15's own loop, with two changes. The records a fetch skips (transaction
            # markers, aborted records) are recorded as a gap after an offset 0 too. Faust tests
            # the last read offset for truth (``gap > 1 and r_offset``), so a partition whose
            # first record was at 0 and whose next was past a marker never committed again:
            # under exactly-once its transaction never ended, and read_committed readers of
            # everything it wrote (the county stage, the audit) stopped there for good (the
            # three-node worker kill -9 on Apache Kafka). And the rest of a batch fetched before
            # a seek is dropped, not delivered (see the module's doc).
            deliver = self._opel_deliver
            stale = self._opel_stale

            getmany = self.getmany
            consumer_should_stop = self._stopped.is_set
            fetcher_should_stop = fetcher._stopped.is_set
            get_read_offset = self._read_offset.__getitem__
            set_read_offset = self._read_offset.__setitem__
            set_flag = self.diag.set_flag
            unset_flag = self.diag.unset_flag
            commit_every = self._commit_every
            acks_enabled_for = self.app.topics.acks_enabled_for
            num_since_yield = 0
            try:
                while not (consumer_should_stop() or fetcher_should_stop()):
                    set_flag(CONSUMER_FETCHING)
                    ait = cast(AsyncIterator[Any], getmany(timeout=1.0))
                    await self.sleep(0)
                    if not self.should_stop:
                        async for tp, message in ait:
                            num_since_yield += 1
                            if num_since_yield > 100:
                                await asyncio.sleep(0)
                                num_since_yield = 0
                            if stale(tp):
                                continue  # fetched before its seek: fetched again from there
                            offset = message.offset
                            r_offset = get_read_offset(tp)
                            if r_offset is None or offset >= r_offset:
                                if (
                                    r_offset is not None
                                    and offset - r_offset > 1
                                    and acks_enabled_for(message.topic)
                                ):
                                    await self._add_gap(tp, r_offset + 1, offset)
                                if commit_every is not None and self._n_acked >= commit_every:
                                    self._n_acked = 0
                                    await self.commit()
                                await self.wait_first(deliver(tp, message), self.suspend_flow.wait())
                                if stale(tp):
                                    continue  # not delivered, or its copy precedes the seek's
                                set_read_offset(tp, offset)
                        unset_flag(CONSUMER_FETCHING)
            except self.consumer_stopped_errors:
                if self.transport.app.should_stop:
                    self.log.info("Broker stopped consumer, shutting down...")
                    return
                raise
            except asyncio.CancelledError:
                if self.transport.app.should_stop:
                    self.log.info("Consumer shutting down for user cancel.")
                    return
                raise
            except Exception as exc:
                self.log.exception("Drain messages raised: %r", exc)
                raise
            finally:
                unset_flag(CONSUMER_FETCHING)

        async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
            if self.app.crashed:
                return False  # a crashed service may have dropped a write of these events
            result: bool = await super()._commit_offsets(offsets, start_new_transaction)
            return result

    class Transport(driver.Transport):
        pass

    Transport.Consumer = Consumer
    Transport.Producer = Producer
    Transport.TransactionManager = TransactionManager
    return Transport


class OpelApp(faust.App):
    """``faust.App`` with a configurable consumer fetch wait (``fetch_max_wait_ms`` keyword); with
    ``exactly_once``, Faust's transactions and the barrier of the ``stages``; ``idempotent`` makes
    Faust's own producer ask for a producer id."""

    def __init__(
        self,
        *args: Any,
        fetch_max_wait_ms: int = 100,
        exactly_once: bool = False,
        idempotent: bool = False,
        stages: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        self._opel_transport = _transport_class(fetch_max_wait_ms)
        self.opel_idempotent = idempotent or exactly_once
        self.opel_barrier = StageBarrier(stages)
        self.opel_stage_topics: frozenset[str] = frozenset()
        """The topics whose events count as acknowledged only once processed (see ``ack``)."""
        self.opel_processed: weakref.WeakSet[Any] = weakref.WeakSet()
        if exactly_once:
            kwargs["processing_guarantee"] = "exactly_once"
        kwargs.setdefault("Table", Table)
        super().__init__(*args, **kwargs)
        # Faust turns its transactions on only in a process its own Worker started
        # (App.in_transaction); the opel worker starts the app itself.
        self.in_worker = exactly_once
        self.on_rebalance_complete.connect(self._on_tables_restored)  # type: ignore[arg-type]

    async def _on_tables_restored(self, sender: Any, **kwargs: Any) -> None:
        self.roll_back_aborted()

    def roll_back_aborted(self) -> int:
        """Undo, in the tables' stores, the writes of transactions a rebalance aborted (see the
        module's doc); sent with Faust's ``on_rebalance_complete``, once the tables are restored
        and before the streams resume. The number of keys put back."""
        count = 0
        for table in self.tables.values():
            if isinstance(table, Table):
                count += table.roll_back()
        if count:
            log.info("put back %d table keys written in transactions the rebalance aborted", count)
        return count

    def processed(self, event: Any) -> None:
        """A stage has processed ``event`` (or dead-lettered it): its ack may now count."""
        self.opel_processed.add(event.message)

    def _new_transport(self) -> Any:
        return self._opel_transport(self.conf.broker_consumer, self)

    async def changelogs_written(self) -> None:
        """Wait for the changelog records of every table write so far (:meth:`Table.changelog_written`)."""
        for table in self.tables.values():
            if isinstance(table, Table):
                await table.changelog_written()

    def fatal(self) -> BaseException | None:
        """Why one of the app's services crashed (it cannot recover by itself), or None.

        Faust marks the whole app crashed when a service without a supervisor fails (its
        producer buffer, its consumer) but keeps its tasks running, so nothing else notices.
        """
        reason: BaseException | None = self.crash_reason if self.crashed else None
        return reason
