"""A Faust app whose consumer asks the broker to answer fetches sooner.

Faust 0.15 hard-codes ``fetch_max_wait_ms=1500`` for its consumer. Tansu (the embedded
broker) holds a fetch for the whole wait rather than answering when data arrives, so every
hop through a Faust stage cost up to 1.5 s and throughput was bounded by round trips, not
CPU (measured: docs/benchmarks.md). On Apache Kafka the setting only matters when a topic is
idle. :class:`OpelApp` keeps everything else of Faust's consumer and changes that one number,
set by ``OPEL_FETCH_MAX_WAIT_MS`` (default 100).
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver


def _thread_class(wait_ms: int) -> type[Any]:
    class ConsumerThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            # aiokafka reads this when it builds its fetcher in start(), after construction.
            consumer._fetch_max_wait_ms = wait_ms
            return consumer

    return ConsumerThread


def _transport_class(wait_ms: int) -> type[Any]:
    thread = _thread_class(wait_ms)

    class Consumer(driver.Consumer):
        def _new_consumer_thread(self) -> Any:
            return thread(self, loop=self.loop, beacon=self.beacon)

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
