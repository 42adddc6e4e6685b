"""A partition's transactional producer that fails to start is started again, or the worker stops.

Faust logged such a failure and went on without the producer, and the partition's stage retried
"no transactional producer" until a rebalance that never came (after a 60 s broker pause, a
fenced Apache Kafka node lists no broker for a moment: every producer started then failed).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from faust.types import TP

from streams.faust_transport import Producer, TransactionManager, TransactionStartError


class _Aiokafka:
    """An aiokafka transactional producer as Faust's producer drives it."""

    def __init__(self, starts: bool) -> None:
        self.starts = starts
        self.started = self.stopped = self.began = False

    async def start(self) -> None:
        if not self.starts:
            raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]")
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def begin_transaction(self) -> None:
        self.began = True

    @property
    def _txn_manager(self) -> Any:
        began = self.began

        class Manager:
            def is_in_transaction(self) -> bool:
                return began

        return Manager()


def _producer(outcomes: list[bool], patience: float = 60.0) -> tuple[Any, list[_Aiokafka]]:
    made: list[_Aiokafka] = []

    def new_producer(transactional_id: str | None = None) -> _Aiokafka:
        made.append(_Aiokafka(outcomes[min(len(made), len(outcomes) - 1)]))
        return made[-1]

    producer: Any = Producer.__new__(Producer)  # no Faust service needed
    producer._transaction_producers = {}
    producer._trn_locks = {}
    producer._ensure_producer = lambda: None
    producer._new_producer = new_producer
    producer.start_patience = patience
    return producer, made


async def test_a_producer_that_fails_to_start_is_stopped_and_started_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    naps: list[float] = []

    async def nap(seconds: float) -> None:
        naps.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", nap)
    producer, made = _producer([False, False, True])
    await producer.begin_transaction("opel-1-2")
    assert [p.stopped for p in made] == [True, True, False], "each failed start is closed, not leaked"
    assert producer._transaction_producers == {"opel-1-2": made[2]}
    assert made[2].began
    assert naps == [0.25, 0.5]


async def test_a_producer_that_never_starts_raises_once_its_patience_is_spent() -> None:
    producer, made = _producer([False], patience=0.3)
    with pytest.raises(TransactionStartError, match=r"opel-1-2 did not start within 0 s: KafkaConnection"):
        await producer.begin_transaction("opel-1-2")
    assert "opel-1-2" not in producer._transaction_producers
    assert made
    assert all(p.stopped for p in made)


async def test_an_open_transaction_is_not_begun_again() -> None:
    producer, made = _producer([True])
    await producer.begin_transaction("opel-1-0")
    made[0].began = True
    await producer.begin_transaction("opel-1-0")  # Faust's maybe_begin_transaction for a kept partition
    assert len(made) == 1


async def test_a_rebalance_whose_producer_cannot_start_stops_the_worker() -> None:
    crashed: list[BaseException] = []

    class App:
        async def crash(self, exc: BaseException) -> None:
            crashed.append(exc)

    class Producers:
        def __init__(self) -> None:
            self._transaction_producers: dict[str, Any] = {}

        async def maybe_begin_transaction(self, transactional_id: str) -> None:
            raise TransactionStartError(f"transactional producer {transactional_id} did not start")

    manager: Any = TransactionManager.__new__(TransactionManager)
    manager.app, manager.producer = App(), Producers()
    manager._tps_to_transactional_ids = lambda tps: {f"t-{tp.partition}" for tp in tps}
    manager.log = type("Log", (), {"info": staticmethod(lambda *a, **k: None)})()
    tp = TP("opel.internal.area.v1", 0)
    await manager.on_rebalance({tp}, set(), {tp})
    assert len(crashed) == 1
    assert isinstance(crashed[0], TransactionStartError)
