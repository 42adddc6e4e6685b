"""Integration-test fixtures: a real (embedded Tansu) Kafka-compatible broker.

Everything collected under ``tests/integration`` is marked ``integration``; deselect it with
``pytest -m "not integration"``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker
from streams.topics import all_topics

PARTITIONS = 4
"""Partition count of every OPEL topic on the session broker (Faust ``topic_partitions``)."""

_HERE = Path(__file__).resolve().parent
log = logging.getLogger(__name__)

BrokerFactory = Callable[..., EmbeddedBroker]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.resolve().is_relative_to(_HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A started embedded broker with all OPEL topics created (``PARTITIONS`` partitions each)."""
    b = EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log")
    b.start(timeout=30)
    try:
        b.create_topics(all_topics(PARTITIONS))
        log.info("session broker on %s ready in %.3f s (log: %s)", b.bootstrap, b.startup_seconds, b.log_path)
        yield b
    finally:
        b.stop()


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[BrokerFactory]:
    """Start extra brokers inside a test; all of them are stopped when the test ends."""
    started: list[EmbeddedBroker] = []

    def make(port: int | None = None) -> EmbeddedBroker:
        b = EmbeddedBroker(port=port, log_path=tmp_path / f"tansu-{len(started)}.log")
        started.append(b)
        b.start(timeout=30)
        return b

    yield make
    for b in started:
        b.stop()
