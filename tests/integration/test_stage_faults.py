"""The broker stops answering mid-stream (SIGSTOP) for longer than the stages' request time-out.

Before, the area stage dead-lettered the message it was publishing (reason ``internal``,
``RequestTimedOutError``) and went on without it. Now it retries the same records until the
broker is back: no internal dead letter, every reading recorded, no transition twice.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import os
import random
import signal
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaError

from streams import topics, worker
from streams.app import Outputs
from streams.broker import EmbeddedBroker
from streams.metrics import REGISTRY

from .service import fresh_broker, latest_status, produce, read_all, reading, wait_for, worker_settings
from .service import worker as running_worker

pytestmark = pytest.mark.slow

AREAS = ("dgs", "east_kent", "swale", "west_kent")
INDICATORS = {"stp_staffing_pct": (20, 100), "health_caseload": (0, 200), "social_caseload": (0, 120)}
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=8)
COUNT = 16_000
REQUEST_TIMEOUT_MS = 3_000  # the stages' producer gives up on a request after this
PAUSE = 10.0  # seconds the broker is stopped: more than three request time-outs


def stream() -> list[tuple[str, bytes, bytes]]:
    """A fixed random walk; every area's clock moves together, one second a reading."""
    rng = random.Random(4_242)
    values = {(i, a): rng.uniform(*bounds) for i, bounds in INDICATORS.items() for a in AREAS}
    out = []
    for n in range(COUNT - len(AREAS)):
        area = AREAS[n % len(AREAS)]
        indicator = rng.choice(list(INDICATORS))
        low, high = INDICATORS[indicator]
        value = min(high, max(low, values[(indicator, area)] + rng.uniform(-8, 8)))
        values[(indicator, area)] = value
        out.append(reading(indicator, area, round(value), (START + timedelta(seconds=n)).isoformat()))
    out += [reading("stp_staffing_pct", area, 90, end_time().isoformat()) for area in AREAS]
    return out


def end_time() -> datetime:
    return START + timedelta(seconds=COUNT)


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def stage_retries() -> float:
    return sum(
        sample("opel_stage_retries_total", {"stage": stage, "step": step})
        for stage in ("area", "county", "system")
        for step in ("compute", "publish", "commit")
    )


def readings_done() -> float:
    return sum(
        sample("opel_readings_total", {"topic": topics.CAPACITY, "outcome": outcome})
        for outcome in ("assessed", "not_assessed", "duplicate", "stale")
    )


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = fresh_broker(tmp_path)
    yield broker
    broker.stop()


async def finished(bootstrap: str) -> Any:
    """Every area has its closing reading and the statuses have stopped changing.

    A broker that does not answer yet is not finished. Apache Kafka needs this, Tansu does not:
    the pause outlasts the node's broker session (9 s), so on waking its controller fences it,
    and for a moment its metadata lists no broker and a new client cannot bootstrap.
    """
    try:
        status = await latest_status(bootstrap)
    except KafkaError:
        return None
    if not all(
        datetime.fromisoformat(status.get(f"area/{a}", {}).get("observed_at") or "1970-01-01T00:00:00+00:00")
        == end_time()
        for a in AREAS
    ):
        return None
    await asyncio.sleep(2)
    try:
        again = await latest_status(bootstrap)
    except KafkaError:
        return None
    return again if again == status else None


async def test_a_broker_pause_longer_than_the_request_timeout_skips_nothing(
    own_broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "Outputs", functools.partial(Outputs, request_timeout_ms=REQUEST_TIMEOUT_MS))
    pid = own_broker.pid
    assert pid is not None
    messages = stream()
    retries_before, done_before = stage_retries(), readings_done()
    settings = worker_settings(own_broker, tmp_path, step_down_dwell="PT20M", source_idle="PT2S")
    async with running_worker(settings) as running:
        await produce(own_broker.bootstrap, messages)

        # Stop the broker while the stages are busy publishing: some readings are through,
        # most are not.
        async def busy() -> bool:
            return readings_done() - done_before >= 500

        await wait_for(busy, timeout=60, every=0.005)
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(PAUSE)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert readings_done() - done_before < len(messages), "the pause came after the stream"
        status = await wait_for(lambda: finished(own_broker.bootstrap), timeout=90, every=1)
    if running.delivery.mode == "at_least_once":
        assert stage_retries() > retries_before, "no stage publish failed: the pause was not felt"
    # Under exactly_once (Apache Kafka) a stage publishes inside its transaction, which the
    # producer retries itself and the stage's retry loop never sees: that the pause came
    # mid-stream (above) and that nothing below is missing or doubled is what is asked there.

    # No dead letter of any kind: every reading was valid, and a time-out is not a dead letter.
    letters = [v for _, v in await read_all(own_broker.bootstrap, topics.DEADLETTER)]
    assert [v for v in letters if v["reason"] == "internal"] == []
    assert letters == []

    # Every reading's effect is recorded: each one was audited by its area stage...
    audit = [v for _, v in await read_all(own_broker.bootstrap, topics.AUDIT)]
    audited = {
        (a["input"]["indicator"], a["input"]["area"], datetime.fromisoformat(a["input"]["observed_at"]))
        for a in audit
        if a.get("input") and "indicator" in a["input"] and "observed_at" in a["input"]
    }
    sent = [_parse(value) for _, _, value in messages]
    missing = [r for r in sent if r not in audited]
    assert missing == [], f"{len(missing)} readings never reached their area's book, e.g. {missing[:3]}"
    # ...and the final statuses hold each indicator's latest reading.
    latest: dict[tuple[str, str], tuple[datetime, Any]] = {}
    for (indicator, area, at), (_, _, value) in zip(sent, messages, strict=True):
        if (indicator, area) not in latest or at > latest[(indicator, area)][0]:
            latest[(indicator, area)] = (at, _value(value))
    for (indicator, area), (at, value) in latest.items():
        shown = status[f"indicator/{indicator}/{area}"]
        assert (datetime.fromisoformat(shown["observed_at"]), shown["value"]) == (at, value), (
            indicator,
            area,
        )

    # No escalation twice: one content per id and one id per transition. A batch whose request
    # timed out may still have been written when the broker woke up, and its retry writes it
    # again: such a record is an exact copy (same id, same bytes), which consumers drop by id
    # (at-least-once, docs/semantics.md "Failures"); a different event is never written twice.
    events = [v for _, v in await read_all(own_broker.bootstrap, topics.ESCALATIONS)]
    assert len(events) > 20
    by_id: dict[str, Any] = {}
    for event in events:
        assert by_id.setdefault(event["id"], event) == event, (
            f"escalation {event['id']} re-emitted differently"
        )
    transitions = Counter(
        (e["subject"], e["data"]["from_level"], e["data"]["to_level"], e["data"]["at"])
        for e in by_id.values()
    )
    assert [t for t, n in transitions.items() if n > 1] == []
    # Each scope's transitions chain: from_level is the previous to_level, nothing lost between.
    chains: dict[str, list[Any]] = {}
    for event in sorted(by_id.values(), key=lambda e: datetime.fromisoformat(e["data"]["at"])):
        chains.setdefault(event["subject"], []).append(event["data"])
    for subject, chain in chains.items():
        for before, after in itertools.pairwise(chain):
            assert after["from_level"] == before["to_level"], (subject, before, after)


def _parse(value: bytes) -> tuple[str, str, datetime]:
    body = json.loads(value)
    return body["indicator"], body["area"], datetime.fromisoformat(body["observed_at"])


def _value(value: bytes) -> Any:
    return json.loads(value)["value"]
