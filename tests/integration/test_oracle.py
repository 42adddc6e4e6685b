"""The oracle checks the service (issue 10): whatever the faults and the arrival order, the
escalation events on opel.escalations.v1 are the transitions of the pure core run over the same
readings in event-time order (opel.replay), with zero differences in subject, levels, time and id.

Each case runs its own embedded broker and worker subprocess(es) with a 30 min step-down dwell,
over readings whose values cross the catalogue's bands often.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opel.models import Reading
from opel.replay import diff_transitions, format_diff, transitions
from streams import topics
from streams.broker import EmbeddedBroker

from .oracle_support import (
    Message,
    compare,
    deadletters,
    kill_9,
    message,
    messages,
    now_minute,
    oracle_transitions,
    produce,
    settle,
    start_worker,
    stop_worker,
    stream,
    wait_until_progressed,
    where_it_stands,
    where_readings_went,
)
from .service import fresh_broker, latest_status, wait_for

pytestmark = pytest.mark.slow

EVERY = timedelta(minutes=10)
DAY = 144  # ten-minute slots


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[list[EmbeddedBroker]]:
    """Start brokers inside a test with ``brokers.append(fresh_broker(...))``; all are stopped."""
    started: list[EmbeddedBroker] = []
    yield started
    for broker in started:
        if broker.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(broker.pid, signal.SIGCONT)  # in case a test ended before resuming it
        broker.stop()


def a_day(seed: int) -> tuple[list[Reading], datetime]:
    end = now_minute() - timedelta(minutes=5)
    return stream(seed, end=end, slots=DAY, every=EVERY), end


def third_of(readings: list[Reading]) -> datetime:
    return readings[len(readings) // 3].observed_at


async def test_kill_9_mid_stream(brokers: list[EmbeddedBroker], tmp_path: Path) -> None:
    readings, end = a_day(1)
    want = oracle_transitions(readings)
    batch = messages(readings)
    broker = fresh_broker(tmp_path / "broker")
    brokers.append(broker)
    proc = start_worker(broker, tmp_path / "worker", "opel-oracle-kill")
    try:
        # Half has arrived when the worker dies a third of the way in; the rest arrives while it
        # is down, so the restarted worker meets a backlog on both input topics.
        await produce(broker.bootstrap, batch[: len(batch) // 2])
        await wait_until_progressed(broker.bootstrap, third_of(readings))
        kill_9(proc)
        await produce(broker.bootstrap, batch[len(batch) // 2 :])
        proc = start_worker(broker, tmp_path / "worker", "opel-oracle-kill")
        events = await settle(broker.bootstrap, want, end)
    finally:
        stop_worker(proc)
    assert len(want) > 200
    problems = compare(want, events)
    assert not problems, problems


async def test_broker_pause_of_60_s_mid_stream(brokers: list[EmbeddedBroker], tmp_path: Path) -> None:
    readings, end = a_day(2)
    want = oracle_transitions(readings)
    batch = messages(readings)
    broker = fresh_broker(tmp_path / "broker")
    brokers.append(broker)
    assert broker.pid is not None
    proc = start_worker(broker, tmp_path / "worker", "opel-oracle-pause")
    try:
        await produce(broker.bootstrap, batch[: len(batch) // 2])
        await wait_until_progressed(broker.bootstrap, third_of(readings))
        # The producer keeps trying through the pause; the worker is mid-stream when it starts.
        rest = asyncio.create_task(produce(broker.bootstrap, batch[len(batch) // 2 :]))
        os.kill(broker.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(60)
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        await rest
        events = await settle(broker.bootstrap, want, end)
        problems = compare(want, events)
        went = await where_readings_went(broker.bootstrap, readings) if problems else ""
    finally:
        stop_worker(proc)
    assert proc.returncode in (0, -signal.SIGTERM), "the worker survived the pause and stopped cleanly"
    assert not problems, f"{problems}\nwhere the readings went:\n{went}"


async def test_two_workers_one_killed_mid_stream(brokers: list[EmbeddedBroker], tmp_path: Path) -> None:
    readings, end = a_day(3)
    want = oracle_transitions(readings)
    batch = messages(readings)
    broker = fresh_broker(tmp_path / "broker")
    brokers.append(broker)
    workers = [start_worker(broker, tmp_path / name, "opel-oracle-pair") for name in ("one", "two")]
    try:
        await produce(broker.bootstrap, batch[: len(batch) // 2])
        await wait_until_progressed(broker.bootstrap, third_of(readings))
        kill_9(workers[0])  # the survivor takes over its partitions after the session time-out
        await produce(broker.bootstrap, batch[len(batch) // 2 :])
        events = await settle(broker.bootstrap, want, end)
        stands = await where_it_stands(broker.bootstrap)
        problems = compare(want, events)
        went = await where_readings_went(broker.bootstrap, readings) if problems else ""
        assert workers[1].poll() is None, "the second worker is still running"
    finally:
        for proc in workers:
            stop_worker(proc)
    assert not problems, f"{problems}\nwhere the service stands:\n{stands}\nwhere the readings went:\n{went}"


def arrival_orders(batch: list[Message]) -> dict[str, list[Message]]:
    capacity = [m for m in batch if m[0] == topics.CAPACITY]
    referrals = [m for m in batch if m[0] == topics.REFERRALS]
    assert capacity
    assert referrals
    assert len(capacity) + len(referrals) == len(batch)
    return {
        "event-time": batch,
        "capacity-first": capacity + referrals,
        "referrals-first": referrals + capacity,
    }


async def test_two_day_backlog_in_three_arrival_orders(brokers: list[EmbeddedBroker], tmp_path: Path) -> None:
    end = now_minute() - timedelta(minutes=5)
    readings = stream(4, end=end, slots=2 * DAY, every=EVERY)
    want = oracle_transitions(readings)
    orders = arrival_orders(messages(readings))
    running = {}
    try:
        for name, batch in orders.items():
            broker = fresh_broker(tmp_path / name / "broker")
            brokers.append(broker)
            await produce(broker.bootstrap, batch)  # the whole backlog is there before the worker
            running[name] = (broker, start_worker(broker, tmp_path / name / "worker", f"opel-oracle-{name}"))
        settled = await asyncio.gather(*(settle(b.bootstrap, want, end) for b, _ in running.values()))
    finally:
        for _, proc in running.values():
            stop_worker(proc)
    got = {name: transitions(events) for name, events in zip(running, settled, strict=True)}
    problems = [
        f"{name} vs event-time:\n{format_diff(diff_transitions(got['event-time'], got[name], names=names))}"
        for name in orders
        if got[name] != got["event-time"]
        for names in [("event-time", name)]
    ]
    problems += [
        f"{name}:\n{found}"
        for name, events in zip(running, settled, strict=True)
        if (found := compare(want, events, name))
    ]
    assert len(want) > 300
    assert not problems, "\n".join(problems)


async def test_a_reading_stamped_2099_is_dead_lettered_and_moves_nothing(
    brokers: list[EmbeddedBroker], tmp_path: Path
) -> None:
    end = now_minute() - timedelta(minutes=5)
    readings = stream(5, end=end, slots=36, every=EVERY)
    want = oracle_transitions(readings)
    batch = messages(readings)
    # In the middle of the stream, west_kent's social caseload claims a level-4 value in 2099.
    middle = next(
        n
        for n, r in enumerate(readings)
        if n >= len(readings) // 2 and (r.indicator, r.area) == ("social_caseload", "west_kent")
    )
    future = {
        "indicator": "social_caseload",
        "area": "west_kent",
        "value": 130,
        "observed_at": "2099-06-01T12:00:00+00:00",
    }
    batch.insert(middle + 1, message(future))
    last = [r for r in readings if (r.indicator, r.area) == ("social_caseload", "west_kent")][-1]
    broker = fresh_broker(tmp_path / "broker")
    brokers.append(broker)
    proc = start_worker(broker, tmp_path / "worker", "opel-oracle-2099")
    try:
        await produce(broker.bootstrap, batch)
        events = await settle(broker.bootstrap, want, end)

        async def caught_up() -> dict[str, Any] | None:
            # The last readings of a topic may wait OPEL_SOURCE_IDLE in ingest's event-time
            # merge (docs/semantics.md, "Time") before they reach the status.
            status = await latest_status(broker.bootstrap)
            held_at = status.get("indicator/social_caseload/west_kent", {}).get("observed_at")
            return status if held_at and datetime.fromisoformat(held_at) >= last.observed_at else None

        with contextlib.suppress(AssertionError):  # if it never does, the check below says how
            await wait_for(caught_up, timeout=60, every=1)
        status = await latest_status(broker.bootstrap)
        dead = await deadletters(broker.bootstrap)
    finally:
        stop_worker(proc)
    problems = []
    refused = [d for d in dead if d.value is not None and "2099" in d.value]
    if not any(d.field == "observed_at" or "observed_at" in d.error for d in refused):
        problems.append(f"no dead letter naming observed_at for the 2099 reading (found {refused!r})")
    held = status.get("indicator/social_caseload/west_kent", {})
    held_at = held.get("observed_at")
    if (held.get("value"), held_at and datetime.fromisoformat(held_at)) != (last.value, last.observed_at):
        problems.append(
            "the next valid readings did not update the status: it holds "
            f"{json.dumps(held.get('value'))} at {held.get('observed_at')}, "
            f"the last reading was {last.value} at {last.observed_at.isoformat()}"
        )
    found = compare(want, events)
    if found:
        problems.append(found)
    assert not problems, "\n".join(problems)
