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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import faust
from aiokafka import TopicPartition
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

from streams.end_offsets import confirmed_ends_with_new_consumer


def _thread_class(wait_ms: int) -> type[Any]:
    class ConsumerThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            # aiokafka reads this when it builds its fetcher in start(), after construction.
            consumer._fetch_max_wait_ms = wait_ms
            return consumer

        async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
            if self.consumer.in_transaction:
                return await super()._highwaters(partitions)
            conf = self.app.conf
            transport = cast(driver.Transport, self.transport)
            ends = await confirmed_ends_with_new_consumer(
                [TopicPartition(tp.topic, tp.partition) for tp in partitions],
                bootstrap_servers=driver.server_list(transport.url, transport.default_port),
                client_id=conf.broker_client_id,
                request_timeout_ms=int(conf.broker_request_timeout * 1000.0),
                **driver.credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
            )
            return {tp: ends[TopicPartition(tp.topic, tp.partition)] for tp in partitions}

    return ConsumerThread


def _transport_class(wait_ms: int) -> type[Any]:
    thread = _thread_class(wait_ms)

    class Consumer(driver.Consumer):
        def _new_consumer_thread(self) -> Any:
            return thread(self, loop=self.loop, beacon=self.beacon)

        async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
            if self.app.crashed:
                return False  # a crashed service may have dropped a write of these events
            result: bool = await super()._commit_offsets(offsets, start_new_transaction)
            return result

    class Transport(driver.Transport):
        pass

    Transport.Consumer = Consumer
    return Transport


class OpelApp(faust.App):
    """``faust.App`` with a configurable consumer fetch wait (``fetch_max_wait_ms`` keyword)."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int = 100, **kwargs: Any) -> None:
        self._opel_transport = _transport_class(fetch_max_wait_ms)
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        return self._opel_transport(self.conf.broker_consumer, self)

    def fatal(self) -> BaseException | None:
        """Why one of the app's services crashed (it cannot recover by itself), or None.

        Faust marks the whole app crashed when a service without a supervisor fails (its
        producer buffer, its consumer) but keeps its tasks running, so nothing else notices.
        """
        reason: BaseException | None = self.crash_reason if self.crashed else None
        return reason
