"""1,000 bad messages among good ones: every bad one dead-lettered with a reason, every good one processed."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams import topics
from streams.broker import EmbeddedBroker

from .service import fresh_broker, produce, read_all, reading, wait_for, worker, worker_settings

pytestmark = pytest.mark.slow

START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
AREAS = ("dgs", "east_kent", "swale", "west_kent")


def bad_message(n: int, rng: random.Random) -> tuple[str, bytes | None, bytes, str]:
    """A bad message and the dead-letter reason it must get."""
    at = (START + timedelta(seconds=n)).isoformat()
    kind = n % 11
    body: dict[str, Any]
    if kind == 0:
        return topics.CAPACITY, b"dgs", b'{"indicator": "stp_staffing_pct", "area": ', "bad_json"
    if kind == 1:
        body = {"indicator": "stp_staffing_pct", "area": "dgs", "value": "sixty", "observed_at": at}
        return topics.CAPACITY, b"dgs", json.dumps(body).encode(), "invalid"
    if kind == 2:
        body = {"indicator": "beds_free", "area": "dgs", "value": 3, "observed_at": at}
        return topics.CAPACITY, b"dgs", json.dumps(body).encode(), "unknown_indicator"
    if kind == 3:
        body = {"indicator": "health_caseload", "area": "medway", "value": 3, "observed_at": at}
        return topics.REFERRALS, b"medway", json.dumps(body).encode(), "unknown_area"
    if kind == 4:
        return topics.CAPACITY, b"dgs", b"x" * 900_000, "too_large"
    if kind == 5:
        body = {
            "indicator": "social_caseload",
            "area": "swale",
            "value": -rng.randint(1, 50),
            "observed_at": at,
        }
        return topics.REFERRALS, b"swale", json.dumps(body).encode(), "invalid"
    if kind == 6:
        body = {"site": "st_elsewhere", "observed_at": at, "parameters": {}}
        return topics.ACUTE, b"st_elsewhere", json.dumps(body).encode(), "unknown_site"
    if kind == 8:
        body = {"indicator": "stp_staffing_pct", "area": "dgs", "value": 50, "observed_at": at}
        return topics.CAPACITY, b"k" * 100_000, json.dumps(body).encode(), "too_large"
    if kind == 9:
        body = {
            "indicator": "social_caseload",
            "area": "west_kent",
            "value": 9,
            "observed_at": "2099-01-01T00:00:00Z",
        }
        return topics.REFERRALS, b"west_kent", json.dumps(body).encode(), "future_timestamp"
    if kind == 10:
        body = {"indicator": "stp_staffing_pct", "area": "dgs", "value": 50, "observed_at": 1764666000}
        return topics.CAPACITY, b"dgs", json.dumps(body).encode(), "invalid"
    return topics.CAPACITY, b"dgs", b"[1, 2, 3]", "not_an_object"


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = fresh_broker(tmp_path)
    yield broker
    broker.stop()


async def test_poison_messages_never_stop_the_partition(own_broker: EmbeddedBroker, tmp_path: Path) -> None:
    rng = random.Random(1000)
    messages: list[tuple[str, bytes | None, bytes]] = []
    expected: Counter[str] = Counter()
    good = 0
    for n in range(3000):
        if n % 3 == 0:
            topic, key, value, reason = bad_message(n, rng)
            messages.append((topic, key, value))
            expected[reason] += 1
        else:
            area = AREAS[n % 4]
            at = (START + timedelta(seconds=n)).isoformat()
            messages.append(reading("health_caseload", area, rng.randint(0, 150), at))
            good += 1
    assert sum(expected.values()) == 1000
    async with worker(worker_settings(own_broker, tmp_path)):
        await produce(own_broker.bootstrap, messages)

        async def all_dead() -> Any:
            letters = [v for _, v in await read_all(own_broker.bootstrap, topics.DEADLETTER)]
            return letters if len(letters) >= 1000 else None

        letters = await wait_for(all_dead, timeout=180, every=2)

        async def all_good() -> Any:
            audit = [v for _, v in await read_all(own_broker.bootstrap, topics.AUDIT)]
            done = sum(1 for a in audit if a["decision"] in ("assessed", "not_assessed"))
            return audit if done >= good else None

        await wait_for(all_good, timeout=180, every=2)
    assert Counter(v["reason"] for v in letters) == expected
    for letter in letters:
        assert letter["error"], letter
        assert letter["topic"] in topics.INPUT_TOPICS
        assert letter["offset"] >= 0
    big = [v for v in letters if v["reason"] == "too_large" and v["field"] is None]
    assert big
    assert all(v["size"] == 900_000 and v["truncated"] for v in big)
    keys = [v for v in letters if v["reason"] == "too_large" and v["field"] == "key"]
    assert keys
    assert all(len(v["key"]) == 4096 for v in keys)
    future = [v for v in letters if v["reason"] == "future_timestamp"]
    assert future
    assert all(v["field"] == "observed_at" and "2099" in v["error"] for v in future)
