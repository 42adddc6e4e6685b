"""kill -9 in the middle of a 20,000-reading stream: the restarted worker tells the same story."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.progress import announce

from streams import topics
from streams.broker import EmbeddedBroker

from .service import fresh_broker, latest_status, produce, read_all, reading, wait_for

pytestmark = pytest.mark.slow

AREAS = ("dgs", "east_kent", "swale", "west_kent")
INDICATORS = {"stp_staffing_pct": (20, 100), "health_caseload": (0, 200), "social_caseload": (0, 120)}
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
COUNT = int(os.environ.get("OPEL_CRASH_TEST_COUNT", "20000"))


def stream() -> list[tuple[str, bytes, bytes]]:
    """A random but fixed walk of readings; every area's clock moves together, one step a reading."""
    rng = random.Random(20_000)
    values = {(i, a): rng.uniform(*bounds) for i, bounds in INDICATORS.items() for a in AREAS}
    out = []
    for n in range(COUNT - len(AREAS)):
        area = AREAS[n % len(AREAS)]
        indicator = rng.choice(list(INDICATORS))
        low, high = INDICATORS[indicator]
        value = min(high, max(low, values[(indicator, area)] + rng.uniform(-8, 8)))
        values[(indicator, area)] = value
        out.append(reading(indicator, area, round(value), (START + timedelta(seconds=n)).isoformat()))
    # A closing reading per area at one shared time moves every area's watermark past the end.
    end = (START + timedelta(seconds=COUNT)).isoformat()
    out += [reading("stp_staffing_pct", area, 90, end) for area in AREAS]
    return out


def start_worker(broker: EmbeddedBroker, data: Path, app_id: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        OPEL_BROKER_URL=broker.url,
        OPEL_APP_ID=app_id,
        OPEL_DATA_DIR=str(data),
        OPEL_PARTITIONS="4",
        OPEL_TICK_INTERVAL="1",
        OPEL_IDLE_GRACE="120",
        OPEL_STEP_DOWN_DWELL="PT20M",
        OPEL_LOG_LEVEL=os.environ.get("OPEL_CRASH_LOG_LEVEL", "warning"),
    )
    log = (data / "worker.log").open("ab")
    announce(f"starting worker {app_id}")
    return subprocess.Popen([sys.executable, "-m", "streams.worker"], env=env, stdout=log, stderr=log)


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[tuple[EmbeddedBroker, EmbeddedBroker]]:
    a, b = fresh_broker(tmp_path / "a"), fresh_broker(tmp_path / "b")
    yield a, b
    a.stop()
    b.stop()


def _time(text: str | None) -> datetime | None:
    """Written times are RFC 3339 text; compare them as instants, not strings."""
    return None if text is None else datetime.fromisoformat(text)


async def finished(bootstrap: str, expected_end: str) -> Any:
    """Every area has its closing reading, and the county has stopped changing."""
    status = await latest_status(bootstrap)
    end = datetime.fromisoformat(expected_end)
    if not all(_time(status.get(f"area/{a}", {}).get("observed_at")) == end for a in AREAS):
        return None
    await asyncio.sleep(3)
    again = await latest_status(bootstrap)
    return again if again == status else None


async def run(
    broker: EmbeddedBroker, data: Path, *, kill_after: int | None, target: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run a worker over the stream; with ``target``, wait until the statuses equal it."""
    data.mkdir(parents=True, exist_ok=True)
    proc = start_worker(broker, data, "opel-crash")
    messages = stream()
    # With a kill planned, only the first half has arrived when the worker dies; the rest arrives
    # while it is down, so the kill lands mid-stream and the restart must pick up from recovered state.
    split = len(messages) // 2 if kill_after is not None else len(messages)
    await produce(broker.bootstrap, messages[:split])
    try:
        end = (START + timedelta(seconds=COUNT)).isoformat()
        if kill_after is not None:
            mark = (START + timedelta(seconds=kill_after)).isoformat()

            async def progressed() -> bool:
                status = await latest_status(broker.bootstrap)
                return any(
                    (_time(v.get("observed_at")) or START) >= datetime.fromisoformat(mark)
                    for v in status.values()
                )

            await wait_for(progressed, timeout=120, every=0.1)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            await produce(broker.bootstrap, messages[split:])
            proc = start_worker(broker, data, "opel-crash")
        if target is None:
            return await wait_for(lambda: finished(broker.bootstrap, end), timeout=240, every=2)  # type: ignore[no-any-return]

        async def converged() -> Any:
            status = await latest_status(broker.bootstrap)
            return status if status == target else None

        try:
            return await wait_for(converged, timeout=240, every=2)  # type: ignore[no-any-return]
        except AssertionError:
            return await latest_status(broker.bootstrap)  # the assertion below shows the difference
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def by_id(events: list[tuple[str | None, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _, event in events:
        previous = out.setdefault(event["id"], event)
        assert previous == event, f"escalation {event['id']} re-emitted with different content"
    return out


async def test_kill_9_mid_stream_gives_the_same_statuses_and_escalations(
    brokers: tuple[EmbeddedBroker, EmbeddedBroker], tmp_path: Path
) -> None:
    clean_broker, crash_broker = brokers
    clean = await run(clean_broker, tmp_path / "clean", kill_after=None)
    crashed = await run(crash_broker, tmp_path / "crash", kill_after=COUNT // 3, target=clean)
    assert crashed == clean
    clean_events = by_id(await read_all(clean_broker.bootstrap, topics.ESCALATIONS))
    crash_events = by_id(await read_all(crash_broker.bootstrap, topics.ESCALATIONS))
    assert len(clean_events) > 50
    assert set(crash_events) == set(clean_events)
    for event_id, event in clean_events.items():
        assert crash_events[event_id] == event
    assert json.dumps(clean, sort_keys=True) == json.dumps(crashed, sort_keys=True)
