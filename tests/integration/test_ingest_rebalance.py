"""A rebalance while ingest holds a poll: the poll is read again, never merged ahead of held readings.

Ingest merges an area's sources in event time and holds a reading until every live source has
passed its time. A rebalance makes the merge forget what it held (the partitions may move) and
sends the positions back to the last commit, which never passes a held reading. A poll fetched
before the rebalance but handled after it used to be merged as if nothing had happened: its
later readings went ahead of the held one, read again behind them, and the area stage judged the
held reading stale (seen on Apache Kafka after a 60 s broker pause: test_oracle's pause case).

Here a second consumer joins and leaves the ingest's group while the ingest holds such a poll:
a real rebalance, at the moment that matters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from streams import topics
from streams.broker import EmbeddedBroker
from streams.ingest import INPUTS

from .oracle_support import message
from .service import fresh_broker, produce, read_all, wait_for, worker, worker_settings

pytestmark = pytest.mark.slow

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)


def at(minutes: int) -> str:
    return (START + timedelta(minutes=minutes)).isoformat()


def reading(indicator: str, value: int, minutes: int) -> tuple[str, bytes, bytes]:
    """An east_kent reading, on the topic its indicator belongs on."""
    return message({"indicator": indicator, "area": "east_kent", "value": value, "observed_at": at(minutes)})


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = fresh_broker(tmp_path)
    yield broker
    broker.stop()


async def decisions(bootstrap: str, indicator: str) -> dict[datetime, str]:
    """observed_at -> audit decision, for ``indicator`` of east_kent."""
    found = {}
    for _, value in await read_all(bootstrap, topics.AUDIT):
        given = value.get("input") or {}
        if given.get("indicator") == indicator and given.get("area") == "east_kent":
            found[when(str(given["observed_at"]))] = value["decision"]
    return found


async def test_a_poll_taken_before_a_rebalance_is_read_again_in_event_time(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    bootstrap = own_broker.bootstrap
    settings = worker_settings(own_broker, tmp_path, source_idle=60)
    async with worker(settings) as running:
        ingest: Any = running.ingest
        # The referrals reading of minute 10 is held: capacity has only reached minute 0. (Capacity
        # goes first: a source that has sent the area nothing is not waited for.)
        await produce(bootstrap, [reading("stp_staffing_pct", 80, 0)])
        assert await wait_for(lambda: decisions(bootstrap, "stp_staffing_pct"))
        await produce(bootstrap, [reading("referrals", 5, 10)])
        await asyncio.sleep(1)  # the ingest holds it and has committed up to it
        assert not await decisions(bootstrap, "referrals"), "the referrals reading is held"

        original = ingest._poll
        rebalanced: list[int] = []

        async def poll_then_rebalance() -> Any:
            polled = await original()
            if polled and not rebalanced:
                rebalanced.append(ingest._generation)
                await join_and_leave(bootstrap, f"{settings.app_id}-ingest", ingest)
            return polled

        ingest._poll = poll_then_rebalance
        await asyncio.sleep(1)  # the poll under way when it was set has returned
        await produce(
            bootstrap,
            [reading("stp_staffing_pct", 81, 20), reading("referrals", 6, 30)],
        )

        async def decided() -> dict[datetime, str] | None:
            found = await decisions(bootstrap, "referrals")
            return found if when(at(10)) in found else None

        referrals = await wait_for(decided, timeout=90)
        assert rebalanced, "the rebalance came while the ingest held a poll"
        assert ingest._generation > rebalanced[0]
    # Merged behind the stale poll's reading of minute 30, it used to be judged stale.
    assert referrals[when(at(10))] == "assessed", referrals


async def join_and_leave(bootstrap: str, group: str, ingest: Any) -> None:
    """A second member joins the ingest's group and leaves it; returns once the ingest has all its
    partitions back."""
    before = ingest._generation
    intruder = AIOKafkaConsumer(
        *INPUTS,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        partition_assignment_strategy=(RangePartitionAssignor,),
    )
    await intruder.start()
    try:
        await wait_for(lambda: _true(ingest._generation >= before + 2), timeout=60, every=0.1)
    finally:
        await intruder.stop()
    await wait_for(lambda: _true(ingest._generation >= before + 4), timeout=60, every=0.1)


async def _true(value: bool) -> bool | None:
    return True if value else None
