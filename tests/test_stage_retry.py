"""A stage never skips: transient failures are retried, only unprocessable messages are dead-lettered.

Everything here runs without Kafka: the retry is a small function (:func:`streams.app.until_done`),
a stage message is handled by :func:`streams.app.handle_event` with a fake publisher, a dict
for the table and a fake stage.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
    UnknownTopicOrPartitionError,
)
from pydantic import ValidationError

from opel.contracts.audit import audit_record
from opel.contracts.stage import StageMessage, TickItem
from opel.contracts.status import AnyStatus
from opel.errors import InputError
from opel.stages.context import Context, Emit
from streams import app as stage_app
from streams import metrics, topics
from streams.app import (
    Backoff,
    Outputs,
    Record,
    Unacknowledged,
    handle_event,
    is_permanent,
    is_transient,
    tick_once,
    until_done,
)
from streams.metrics import REGISTRY

NOW = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
TOPIC = topics.AREA_EVENTS


# --------------------------------------------------------------------------- fakes


class FlakyOutputs:
    """Fails ``failures`` times with ``error``, then acknowledges; remembers every attempt."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error if error is not None else RequestTimedOutError()
        self.attempts: list[list[Record]] = []

    async def send_all(self, records: Iterable[Record]) -> None:
        self.attempts.append(list(records))
        if len(self.attempts) <= self.failures:
            raise self.error

    @property
    def acknowledged(self) -> list[Record]:
        return self.attempts[-1] if len(self.attempts) > self.failures else []


class FakeStore:
    context = cast(Context, SimpleNamespace(county="kent"))

    def __init__(self) -> None:
        self.reloads = 0

    def reload(self) -> list[Any]:
        self.reloads += 1
        return []


class Sleeps:
    """A sleep that records its delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class DeadLetters:
    def __init__(self) -> None:
        self.letters: list[tuple[Any, Exception]] = []

    async def __call__(self, event: Any, exc: Exception) -> None:
        self.letters.append((event, exc))


def stage_event(value: bytes | None = None, *, key: bytes = b"dgs", offset: int = 610) -> Any:
    if value is None:
        value = StageMessage(items=(TickItem(now=NOW),), seen=NOW, ts=None).to_json()
    message = SimpleNamespace(topic=TOPIC, partition=2, offset=offset, timestamp=0)
    return SimpleNamespace(key=key, value=value, message=message)


def emitting(n_audit: int = 3, changed: bool = True) -> Any:
    """A pure stage that appends one step to the book and audits ``n_audit`` records."""
    calls: list[Any] = []

    def stage(
        stored: Any, key: str, message: StageMessage, ctx: Context
    ) -> tuple[Any, Emit, Mapping[str, AnyStatus]]:
        calls.append(stored)
        emit = Emit(changed=changed)
        emit.audit.extend(
            audit_record("assessed", f"area/{key}", message.seen, reason=str(i)) for i in range(n_audit)
        )
        return (stored or 0) + 1, emit, {}

    stage.calls = calls  # type: ignore[attr-defined]
    return stage


def failing(exc: Exception) -> Any:
    def stage(
        stored: Any, key: str, message: StageMessage, ctx: Context
    ) -> tuple[Any, Emit, Mapping[str, AnyStatus]]:
        raise exc

    return stage


def counter(name: str, labels: dict[str, str]) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return value or 0.0


# --------------------------------------------------------------------------- back-off


def test_backoff_starts_at_a_tenth_of_a_second_doubles_and_stops_at_five() -> None:
    backoff = Backoff()
    rng = random.Random(7)
    delays = [backoff.delay(n, rng) for n in range(12)]
    bases = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]
    for delay, base in zip(delays, bases, strict=True):
        assert base * 0.5 <= delay <= base
    assert backoff.delay(10_000, rng) <= 5.0  # no overflow however long the outage


def test_backoff_jitter_spreads_workers_apart() -> None:
    backoff = Backoff()
    assert len({round(backoff.delay(8, random.Random(seed)), 6) for seed in range(20)}) > 10


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize(
    "exc",
    [
        KafkaTimeoutError(),
        RequestTimedOutError(),
        NotLeaderForPartitionError(),
        KafkaConnectionError("gone"),
        UnknownTopicOrPartitionError(),  # retriable = True
        TimeoutError(),
        ConnectionResetError(),
        Unacknowledged(RequestTimedOutError(), []),
    ],
)
def test_broker_time_outs_and_retriable_errors_are_transient_never_permanent(exc: Exception) -> None:
    assert is_transient(exc)
    assert not is_permanent(exc)


def test_any_error_marked_retriable_is_transient() -> None:
    class FlakyError(Exception):
        retriable = True

    assert is_transient(FlakyError())


def validation_error() -> ValidationError:
    try:
        StageMessage.model_validate_json(b'{"items": "nope"}')
    except ValidationError as exc:
        return exc
    raise AssertionError("expected a ValidationError")


@pytest.mark.parametrize(
    "exc",
    [
        validation_error(),
        InputError("observed_at", "not a time"),
        ValueError("bad"),
        KeyError("dgs"),
        MessageSizeTooLargeError(),
        Unacknowledged(MessageSizeTooLargeError(), []),
    ],
)
def test_unprocessable_messages_are_permanent(exc: Exception) -> None:
    assert is_permanent(exc)
    assert not is_transient(exc)


# --------------------------------------------------------------------------- until_done


async def test_until_done_retries_transient_failures_with_growing_back_off() -> None:
    errors = [KafkaTimeoutError(), RequestTimedOutError(), KafkaConnectionError("x"), TimeoutError()]
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        if errors:
            raise errors.pop(0)

    sleeps = Sleeps()
    retries = await until_done(step, "test step", sleep=sleeps, rng=random.Random(1))
    assert (retries, calls) == (4, 5)
    assert len(sleeps.delays) == 4
    for delay, base in zip(sleeps.delays, (0.1, 0.2, 0.4, 0.8), strict=True):
        assert base * 0.5 <= delay <= base


async def test_until_done_raises_a_permanent_error_at_once() -> None:
    sleeps = Sleeps()

    async def step() -> None:
        raise KeyError("no such scope")

    with pytest.raises(KeyError):
        await until_done(step, "test step", sleep=sleeps)
    assert sleeps.delays == []


async def test_until_done_retries_an_unclassified_error_loudly(caplog: pytest.LogCaptureFixture) -> None:
    failures = [RuntimeError("producer in a state nobody expected")]

    async def step() -> None:
        if failures:
            raise failures.pop()

    with caplog.at_level(logging.WARNING, logger="streams.app"):
        assert await until_done(step, "test step", sleep=Sleeps()) == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors
    assert errors[0].exc_info is not None
    assert "test step" in errors[0].getMessage()


async def test_until_done_stops_promptly_when_cancelled() -> None:
    attempts = 0

    async def step() -> None:
        nonlocal attempts
        attempts += 1
        raise RequestTimedOutError()

    task = asyncio.create_task(
        until_done(step, "test step", backoff=Backoff(first=30.0, cap=60.0, jitter=0.0))
    )
    while attempts == 0:
        await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert loop.time() - started < 1.0
    assert attempts == 1


# --------------------------------------------------------------------------- handle_event


async def test_a_time_out_republishes_the_same_records_then_stores_the_book(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outputs = FlakyOutputs(failures=3)
    table: dict[str, Any] = {"dgs": 41}
    dead = DeadLetters()
    sleeps = Sleeps()
    stage = emitting()
    before = counter("opel_stage_retries_total", {"stage": "area", "step": "publish"})
    with caplog.at_level(logging.WARNING, logger="streams.app"):
        done = await handle_event(
            stage_event(),
            table,
            stage,
            "area",
            store=FakeStore(),
            outputs=outputs,
            deadletter=dead,
            sleep=sleeps,
        )
    assert done
    assert dead.letters == []
    assert len(outputs.attempts) == 4
    assert all(attempt == outputs.attempts[0] for attempt in outputs.attempts)
    assert len(outputs.attempts[0]) == 3
    assert stage.calls == [41]  # the pure stage ran once; the retries re-sent its records
    assert table == {"dgs": 42}
    assert len(sleeps.delays) == 3
    assert counter("opel_stage_retries_total", {"stage": "area", "step": "publish"}) == before + 3
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"{TOPIC}:2@610" in m and "RequestTimedOutError" in m for m in warned)


async def test_the_book_is_not_written_before_the_records_are_acknowledged() -> None:
    table: dict[str, Any] = {}
    seen: list[dict[str, Any]] = []

    class Watching(FlakyOutputs):
        async def send_all(self, records: Iterable[Record]) -> None:
            seen.append(dict(table))
            await super().send_all(records)

    await handle_event(
        stage_event(),
        table,
        emitting(),
        "area",
        store=FakeStore(),
        outputs=Watching(failures=2),
        deadletter=DeadLetters(),
        sleep=Sleeps(),
    )
    assert seen == [{}, {}, {}]
    assert table == {"dgs": 1}


async def test_a_partial_acknowledgement_resends_only_what_is_missing() -> None:
    class HalfAcked(FlakyOutputs):
        async def send_all(self, records: Iterable[Record]) -> None:
            batch = list(records)
            self.attempts.append(batch)
            if len(self.attempts) == 1:
                raise Unacknowledged(RequestTimedOutError(), batch[2:])

    outputs = HalfAcked(failures=1)
    table: dict[str, Any] = {}
    assert await handle_event(
        stage_event(),
        table,
        emitting(n_audit=5),
        "area",
        store=FakeStore(),
        outputs=outputs,
        deadletter=DeadLetters(),
        sleep=Sleeps(),
    )
    assert [len(a) for a in outputs.attempts] == [5, 3]
    assert outputs.attempts[1] == outputs.attempts[0][2:]
    assert table == {"dgs": 1}


async def test_a_failing_table_write_is_retried() -> None:
    class FlakyTable(dict[str, Any]):
        failures = 2

        def __setitem__(self, key: str, value: Any) -> None:
            if self.failures:
                self.failures -= 1
                raise KafkaTimeoutError()
            super().__setitem__(key, value)

    table = FlakyTable()
    outputs = FlakyOutputs(failures=0)
    before = counter("opel_stage_retries_total", {"stage": "county", "step": "commit"})
    assert await handle_event(
        stage_event(key=b"kent"),
        table,
        emitting(),
        "county",
        store=FakeStore(),
        outputs=outputs,
        deadletter=DeadLetters(),
        sleep=Sleeps(),
    )
    assert table == {"kent": 1}
    assert len(outputs.attempts) == 1  # the publish is not repeated for a table retry
    assert counter("opel_stage_retries_total", {"stage": "county", "step": "commit"}) == before + 2


async def test_an_unchanged_book_is_not_written() -> None:
    table: dict[str, Any] = {}
    assert await handle_event(
        stage_event(),
        table,
        emitting(changed=False),
        "area",
        store=FakeStore(),
        outputs=FlakyOutputs(failures=1),
        deadletter=DeadLetters(),
        sleep=Sleeps(),
    )
    assert table == {}


@pytest.mark.parametrize(
    "exc",
    [
        InputError("items[0].value", "not a number"),
        ValueError("bad band"),
        KeyError("medway"),
        TypeError("a bug"),
    ],
)
async def test_a_stage_that_cannot_take_the_message_dead_letters_it_loudly(
    exc: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    outputs = FlakyOutputs(failures=0)
    table: dict[str, Any] = {"dgs": 5}
    dead = DeadLetters()
    before = counter("opel_stage_unprocessable_total", {"stage": "area"})
    with caplog.at_level(logging.ERROR, logger="streams.app"):
        done = await handle_event(
            stage_event(offset=611),
            table,
            failing(exc),
            "area",
            store=FakeStore(),
            outputs=outputs,
            deadletter=dead,
            sleep=Sleeps(),
        )
    assert not done
    assert [e for _, e in dead.letters] == [exc]
    assert outputs.attempts == []
    assert table == {"dgs": 5}
    assert counter("opel_stage_unprocessable_total", {"stage": "area"}) == before + 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    text = errors[0].getMessage()
    assert f"{TOPIC}:2@611" in text
    assert type(exc).__name__ in text
    assert errors[0].exc_info is not None


async def test_a_payload_that_does_not_decode_is_dead_lettered() -> None:
    dead = DeadLetters()
    outputs = FlakyOutputs(failures=0)
    assert not await handle_event(
        stage_event(b'{"items": [{"kind": "tick"}]'),
        {},
        emitting(),
        "system",
        store=FakeStore(),
        outputs=outputs,
        deadletter=dead,
        sleep=Sleeps(),
    )
    assert len(dead.letters) == 1
    assert isinstance(dead.letters[0][1], ValidationError)
    assert outputs.attempts == []


async def test_outputs_that_can_never_fit_are_dead_lettered_not_retried() -> None:
    dead = DeadLetters()
    outputs = FlakyOutputs(failures=10, error=MessageSizeTooLargeError())
    table: dict[str, Any] = {}
    sleeps = Sleeps()
    assert not await handle_event(
        stage_event(),
        table,
        emitting(),
        "area",
        store=FakeStore(),
        outputs=outputs,
        deadletter=dead,
        sleep=sleeps,
    )
    assert len(outputs.attempts) == 1
    assert sleeps.delays == []
    assert len(dead.letters) == 1
    assert table == {}


@pytest.mark.parametrize("error", [KafkaTimeoutError(), RequestTimedOutError(), NotLeaderForPartitionError()])
async def test_a_broker_time_out_is_never_a_dead_letter(error: Exception) -> None:
    dead = DeadLetters()
    outputs = FlakyOutputs(failures=25, error=error)
    table: dict[str, Any] = {}
    assert await handle_event(
        stage_event(),
        table,
        emitting(),
        "area",
        store=FakeStore(),
        outputs=outputs,
        deadletter=dead,
        sleep=Sleeps(),
    )
    assert dead.letters == []
    assert table == {"dgs": 1}


async def test_stopping_the_worker_ends_a_retry_without_dead_letter_or_table_write() -> None:
    dead = DeadLetters()
    outputs = FlakyOutputs(failures=10**9)
    table: dict[str, Any] = {}
    task = asyncio.create_task(
        handle_event(
            stage_event(),
            table,
            emitting(),
            "area",
            store=FakeStore(),
            outputs=outputs,
            deadletter=dead,
            backoff=Backoff(first=0.01, cap=0.05),
        )
    )
    while len(outputs.attempts) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1.0)
    assert dead.letters == []
    assert table == {}


async def test_a_reload_is_done_once_however_many_retries() -> None:
    store = FakeStore()
    value = StageMessage(items=(TickItem(now=NOW),), seen=NOW, reload=True).to_json()
    await handle_event(
        stage_event(value),
        {},
        emitting(),
        "area",
        store=store,
        outputs=FlakyOutputs(failures=3),
        deadletter=DeadLetters(),
        sleep=Sleeps(),
    )
    assert store.reloads == 1


# --------------------------------------------------------------------------- Outputs.send_all


class FakeBatch:
    def __init__(self, room: int) -> None:
        self.room = room
        self.records: list[tuple[bytes | None, bytes]] = []

    def append(self, *, timestamp: Any, key: bytes | None, value: bytes) -> object | None:
        if len(self.records) >= self.room:
            return None
        self.records.append((key, value))
        return object()

    def close(self) -> None:
        pass


class FakeProducer:
    """Acknowledges batches unless their (topic, partition, n-th batch) is in ``fail``."""

    def __init__(self, fail: set[tuple[str, int, int]], room: int = 2) -> None:
        self.fail = fail
        self.room = room
        self.sent: list[tuple[str, int, FakeBatch]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1}

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.room)

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> asyncio.Future[None]:
        nth = sum(1 for t, p, _ in self.sent if (t, p) == (topic, partition))
        self.sent.append((topic, partition, batch))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if (topic, partition, nth) in self.fail:
            future.set_exception(RequestTimedOutError())
        else:
            future.set_result(None)
        return future


async def unstarted_outputs() -> Outputs:
    """An Outputs whose real producer is closed unused; tests put a fake producer in its place."""
    outputs = Outputs("127.0.0.1:9")
    await outputs.producer.stop()
    return outputs


async def test_send_all_reports_what_to_resend_from_each_partitions_first_failed_batch() -> None:
    outputs = await unstarted_outputs()
    chooser = outputs._partitioner
    keys: dict[int, bytes] = {}
    for i in range(100):
        key = f"k{i}".encode()
        keys.setdefault(chooser(key, [0, 1], [0, 1]), key)
    assert set(keys) == {0, 1}
    # 3 records per partition, interleaved: a batch of 2 and a batch of 1 on each partition.
    records: list[Record] = [(topics.STATUS, keys[i % 2], f"v{i}".encode()) for i in range(6)]
    producer = FakeProducer(fail={(topics.STATUS, 1, 0)})
    outputs.producer = cast(Any, producer)
    with pytest.raises(Unacknowledged) as caught:
        await outputs.send_all(records)
    assert isinstance(caught.value.cause, RequestTimedOutError)
    # Partition 0 was acknowledged; partition 1 failed on its first batch: all of it again, in order.
    assert caught.value.remaining == [r for r in records if r[1] == keys[1]]
    assert is_transient(caught.value)


async def test_send_all_returns_once_everything_is_acknowledged() -> None:
    outputs = await unstarted_outputs()
    producer = FakeProducer(fail=set())
    outputs.producer = cast(Any, producer)
    records: list[Record] = [(topics.AUDIT, None, b"a"), (topics.STATUS, b"area/dgs", b"s")]
    await outputs.send_all(records)
    assert {r for _, _, batch in producer.sent for r in batch.records} == {(None, b"a"), (b"area/dgs", b"s")}


# --------------------------------------------------------------------------- ticks


async def test_a_tick_that_times_out_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    class Producer:
        async def send(self, *args: Any) -> asyncio.Future[None]:
            raise KafkaTimeoutError()

    catalogue = SimpleNamespace(areas={"dgs": None})
    ctx = SimpleNamespace(catalogue=catalogue, county="kent", acute=SimpleNamespace(systems={}))
    store = cast(Any, SimpleNamespace(context=ctx))
    with caplog.at_level(logging.WARNING, logger="streams.app"):
        await tick_once(SimpleNamespace(producer=Producer()), store, NOW)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "KafkaTimeoutError" in caplog.records[0].getMessage()


def test_retry_step_names_are_metric_labels() -> None:
    assert set(metrics.STAGE_STEPS) == {"compute", "publish", "commit"}
    assert Backoff(first=0.1, factor=2.0, cap=5.0, jitter=0.5) == stage_app.BACKOFF
