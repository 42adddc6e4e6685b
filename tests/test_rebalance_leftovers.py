"""What a rebalance must not leave behind (streams.faust_transport): under exactly-once, the table
writes of a transaction it aborted (put back in the worker's own store once the tables are
restored, forgotten when the transaction commits); and the acks of messages fetched before it
(never counted for a commit). The end-to-end case is the three-node worker kill in
tests/integration/test_kafka_failover.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from faust.types import TP, Message

from streams.faust_transport import _ABSENT, OpelApp, Table, TransactionManager, _thread_class


def a_table() -> tuple[OpelApp, Any]:
    app = OpelApp("opel-test-aborted", broker="kafka://127.0.0.1:1", store="memory://", exactly_once=True)
    table = app.Table("books", default=None, partitions=2)
    assert isinstance(table, Table)
    return app, table


def written_in(table: Any, tid: str, key: str, value: Any) -> None:
    """What Table.send_changelog records before the store changes, then the store's change."""
    before = table._opel_before_of(tid)
    if key not in before:
        before[key] = table.data.get(key, _ABSENT)
    table.data[key] = value


async def test_a_rebalance_puts_back_what_an_aborted_transaction_wrote() -> None:
    app, table = a_table()
    table.data["dgs|meta"] = [1, "committed", None]
    written_in(table, "t-0", "dgs|meta", [2, "aborted", None])
    written_in(table, "t-0", "dgs|meta", [3, "aborted again", None])  # the first value before is kept
    written_in(table, "t-1", "swale|meta", [1, "new, aborted", None])
    await app.on_rebalance_complete.send()
    assert table.data["dgs|meta"] == [1, "committed", None]
    assert "swale|meta" not in table.data
    assert app.roll_back_aborted() == 0  # nothing left to put back


async def test_a_committed_transaction_is_not_put_back() -> None:
    app, table = a_table()
    table.data["dgs|meta"] = [1, "old", None]
    written_in(table, "t-0", "dgs|meta", [2, "committed", None])
    written_in(table, "t-1", "swale|meta", [1, "aborted", None])
    table.committed({"t-0"})
    assert app.roll_back_aborted() == 1
    assert table.data["dgs|meta"] == [2, "committed", None]
    assert "swale|meta" not in table.data


def a_message(generation: int, offset: int, topic: str = "opel.internal.area.v1") -> Message:
    return Message(
        topic=topic,
        partition=1,
        offset=offset,
        timestamp=0.0,
        timestamp_type=0,
        headers=[],
        key=b"swale",
        value=b"{}",
        checksum=None,
        tp=TP(topic, 1),
        generation_id=generation,
    )


def test_an_ack_from_before_the_last_rebalance_never_counts_for_a_commit() -> None:
    """A message fetched in an earlier generation is read again from the committed offset after
    the rebalance; its ack (Faust's streams ack what they skip) must not move the commit past
    the copy read again, or a worker dying before processing that copy loses it."""
    app = OpelApp("opel-test-acks", broker="kafka://127.0.0.1:1", store="memory://")
    conductor: Any = app.topics
    conductor._acking_topics.add("opel.internal.area.v1")  # as an agent reading it does
    app.consumer_generation_id = 7
    consumer: Any = app.consumer
    tp = TP("opel.internal.area.v1", 1)
    stale = a_message(6, 5)
    assert consumer.ack(stale) is False
    assert stale.acked  # nothing waits for it
    assert consumer._new_offset(tp) is None  # and nothing is committed for it
    assert consumer.ack(a_message(7, 0)) is True
    assert consumer._new_offset(tp) == 1


def test_a_stage_event_counts_only_once_processed() -> None:
    """Events a stream takes while a rebalance suspends the flow are skipped, and Faust acks
    them; counted, the commit made as the partitions are revoked would include them, and the
    reading again after the rebalance would start past them. Only what a stage processed counts."""
    app = OpelApp("opel-test-skips", broker="kafka://127.0.0.1:1", store="memory://")
    conductor: Any = app.topics
    conductor._acking_topics.add("opel.internal.area.v1")
    app.opel_stage_topics = frozenset({"opel.internal.area.v1"})
    app.consumer_generation_id = 3
    consumer: Any = app.consumer
    tp = TP("opel.internal.area.v1", 1)
    done, skipped, also_skipped = a_message(3, 0), a_message(3, 1), a_message(3, 2)
    app.processed(type("Event", (), {"message": done})())
    assert consumer.ack(done) is True
    assert consumer.ack(skipped) is False
    assert consumer.ack(also_skipped) is False
    assert skipped.acked  # nothing waits for them
    assert consumer._new_offset(tp) == 1  # the revoke's commit: up to what was processed
    app.consumer_generation_id = 4  # the next generation reads 1 and 2 again
    for offset in (1, 2):
        again = a_message(4, offset)
        app.processed(type("Event", (), {"message": again})())
        assert consumer.ack(again) is True
    assert consumer._new_offset(tp) == 3


async def test_records_skipped_after_offset_0_are_a_gap_and_the_partition_commits_on() -> None:
    """A fetch skips transaction markers: read offsets 0, then 3. Faust tested the last read
    offset for truth and recorded no gap after 0, so the partition never committed again (under
    exactly-once its transaction never ended and its readers stopped)."""
    app = OpelApp("opel-test-gap", broker="kafka://127.0.0.1:1", store="memory://")
    conductor: Any = app.topics
    conductor._acking_topics.add("opel.internal.area.v1")
    consumer: Any = app.consumer
    tp = TP("opel.internal.area.v1", 1)
    delivered = [a_message(0, 0), a_message(0, 3)]
    fetcher: Any = type("Fetcher", (), {"_stopped": asyncio.Event()})()

    async def getmany(timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        while delivered:
            yield tp, delivered.pop(0)
        fetcher._stopped.set()

    async def callback(message: Message) -> None:
        consumer.ack(message)

    consumer.getmany = getmany
    consumer.callback = callback
    app.flow_control.resume()  # as the worker runs
    await asyncio.wait_for(consumer._drain_messages(fetcher), 10)
    assert consumer._new_offset(tp) == 4


async def test_a_seek_drops_what_was_fetched_before_it_of_the_partitions_it_moved() -> None:
    """After a rebalance Faust seeks to the committed offset while a batch fetched earlier is
    still being delivered. Delivered on, that batch moved the read offset past the records the
    seek fetches again, and Faust's resume then cleared them from the queues: a survivor of a
    worker kill -9 skipped stage messages for good. After the seek, delivery of that partition
    starts again at the seek's position, in order; a partition the seek did not move keeps
    what was fetched of it (nothing would fetch it again)."""
    app = OpelApp("opel-test-seek", broker="kafka://127.0.0.1:1", store="memory://")
    consumer: Any = app.consumer
    tp, other = TP("opel.internal.area.v1", 1), TP("opel.internal.area.v1-books-changelog", 1)
    # The second batch is the fetch from the committed offset of tp, 1.
    batches = [[(tp, 0), (tp, 1), (tp, 2), (other, 0), (other, 1)], [(tp, 1), (tp, 2), (tp, 3)]]
    delivered: list[tuple[int, int]] = []
    fetcher: Any = type("Fetcher", (), {"_stopped": asyncio.Event()})()

    async def getmany(timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        if not batches:
            fetcher._stopped.set()
            return
        consumer._opel_fetches += 1  # as the consumer thread numbers a batch
        for at, offset in batches.pop(0):
            yield at, a_message(0, offset, topic=at.topic)

    async def callback(message: Message) -> None:
        delivered.append((message.partition if message.topic == tp.topic else -1, message.offset))
        if message.tp == tp and message.offset == 1 and tp not in consumer._opel_seeked:
            consumer._opel_seeked[tp] = consumer._opel_fetches  # the thread's seek of tp
            consumer._read_offset[tp] = 1  # and Faust's read offset after it

    consumer.getmany = getmany
    consumer.callback = callback
    app.flow_control.resume()  # as the worker runs
    await asyncio.wait_for(consumer._drain_messages(fetcher), 10)
    assert delivered == [(1, 0), (1, 1), (-1, 0), (-1, 1), (1, 1), (1, 2), (1, 3)]


async def test_the_flow_is_held_from_a_seek_until_faust_resumes_it() -> None:
    """Faust resumes the flow (clearing every stream's queue) just after its seek; nothing may be
    delivered in between. A seek made with the flow already stopped leaves it alone."""
    app = OpelApp("opel-test-hold", broker="kafka://127.0.0.1:1", store="memory://")
    consumer: Any = app.consumer
    seeks: list[str] = []

    async def seek_to_committed() -> dict[TP, int]:
        seeks.append("seek")
        return {}

    consumer.seek_to_committed = seek_to_committed
    app.flow_control.resume()
    consumer.resume_flow()
    await consumer.perform_seek()
    assert seeks == ["seek"]
    assert not app.flow_control.is_active()
    app.flow_control.resume()  # Faust's own resume ends the hold

    consumer.stop_flow()  # the seek getmany makes while the flow is stopped
    await consumer.perform_seek()
    assert app.flow_control.is_active()

    async def broken() -> dict[TP, int]:
        raise TimeoutError

    consumer.resume_flow()
    consumer.seek_to_committed = broken
    with contextlib.suppress(TimeoutError):
        await consumer.perform_seek()
    assert app.flow_control.is_active(), "a seek that failed does not leave the flow held"


async def test_a_fetch_between_two_partitions_seeks_is_stale_for_the_second_only() -> None:
    """The consumer thread seeks partition by partition, asking Kafka for each committed offset
    first. A fetch that returns in between holds records from the new position of the partition
    already seeked (to deliver) and from the old position of the other (to drop). A fetch after
    both seeks is stale for neither."""
    app = OpelApp("opel-test-mid-seek", broker="kafka://127.0.0.1:1", store="memory://")
    owner: Any = app.consumer
    owner.resume_flow()
    first, second = TP("opel.internal.area.v1", 0), TP("opel.internal.area.v1", 1)
    asked, answer = asyncio.Event(), asyncio.Event()
    seeks: list[tuple[TP, int]] = []

    class Fetcher:
        _closed = False
        _subscriptions = type("Subscriptions", (), {"fetch_context": contextlib.nullcontext})()

        async def fetched_records(self, *args: Any, **kwargs: Any) -> dict[TP, list[int]]:
            return {first: [3], second: [8]}

    class Kafka:
        _closed = False
        _fetcher = Fetcher()

        def assignment(self) -> list[TP]:
            return [first, second]

        async def committed(self, tp: TP) -> int:
            if tp == second:
                asked.set()
                await answer.wait()
            return 3

        def seek(self, tp: TP, offset: int) -> None:
            seeks.append((tp, offset))

    thread: Any = object.__new__(_thread_class(100))
    thread.consumer, thread.app, thread._consumer = owner, app, Kafka()
    seek = asyncio.create_task(thread._seek_to_committed_or_start())
    await asked.wait()
    assert await thread._fetch_records(Kafka(), {first, second}, timeout=0.1)
    answer.set()
    assert await seek == {first: 3, second: 3}
    assert seeks == [(first, 3), (second, 3)]
    assert not owner._opel_stale(first), "fetched after its seek: from the new position"
    assert owner._opel_stale(second), "fetched before its seek: from the old position"
    await thread._fetch_records(Kafka(), {first, second}, timeout=0.1)
    assert not owner._opel_stale(first)
    assert not owner._opel_stale(second)


class _Producers:
    """Faust's producer as the transaction manager sees it: transactional producers by id."""

    def __init__(self, open_by_tid: dict[str, bool]) -> None:
        self._transaction_producers = {
            tid: SimpleNamespace(_txn_manager=SimpleNamespace(is_in_transaction=lambda o=o: o))
            for tid, o in open_by_tid.items()
        }
        self.stopped: list[str] = []

    async def stop_transaction(self, transactional_id: str) -> None:
        self._transaction_producers.pop(transactional_id, None)
        self.stopped.append(transactional_id)


async def test_a_rebalance_aborts_the_open_transactions_of_the_partitions_it_keeps() -> None:
    # A worker whose group session expired in a broker pause rejoins with the same partitions:
    # none is revoked, so Faust would carry on in the open transactions of before the rebalance
    # while the tables are put back as if they had been aborted.
    producers = _Producers({"t-0": True, "t-1": False, "t-2": True})
    manager: Any = TransactionManager.__new__(TransactionManager)  # no Faust service needed
    manager.producer = producers
    manager._tps_to_transactional_ids = lambda tps: {f"t-{tp.partition}" for tp in tps}
    area = "opel.internal.area.v1"
    kept = {TP(area, 0), TP(area, 1)}
    stopped = await manager.abort_kept_transactions(kept | {TP(area, 2)}, {TP(area, 2)})
    # t-0 is kept with a transaction open: stopped, so the producer Faust starts next fences it
    # and its transaction is aborted. t-1 has none open; t-2 is revoked (Faust stops it itself).
    assert stopped == producers.stopped == ["t-0"]
    assert set(producers._transaction_producers) == {"t-1", "t-2"}
