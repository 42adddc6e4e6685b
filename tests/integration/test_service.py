"""The worker end to end on a real broker: readings in; status, escalations and audit out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams import topics
from streams.broker import EmbeddedBroker

from .service import (
    fresh_broker,
    latest_status,
    produce,
    read_all,
    reading,
    wait_for,
    worker,
    worker_settings,
)

NOW = datetime.now(UTC).replace(microsecond=0)


def at(minutes: float) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = fresh_broker(tmp_path)
    yield broker
    broker.stop()


async def test_readings_to_status_escalations_and_audit(own_broker: EmbeddedBroker, tmp_path: Path) -> None:
    bootstrap = own_broker.bootstrap
    async with worker(worker_settings(own_broker, tmp_path)):
        messages = [
            reading("stp_staffing_pct", area, 80, at(0))
            for area in ("dgs", "east_kent", "swale", "west_kent")
        ]
        messages.append(reading("stp_staffing_pct", "east_kent", 45, at(1)))
        await produce(bootstrap, messages)

        async def escalated() -> Any:
            status = await latest_status(bootstrap)
            return status if status.get("area/east_kent", {}).get("level") == 3 else None

        status = await wait_for(escalated)
        assert status["indicator/stp_staffing_pct/east_kent"]["value"] == 45
        assert status["indicator/stp_staffing_pct/east_kent"]["catalogue_version"] == "1.8"
        assert "45" in status["indicator/stp_staffing_pct/east_kent"]["explanation"]

        # The county merges areas in event-time order: east_kent's 09:01 change waits until the
        # other areas report past it, or until they have been silent for the idle grace (3 s here).
        async def county() -> Any:
            status = (await latest_status(bootstrap)).get("county/kent", {})
            return status if status.get("computed_level") == 2 else None

        county_status = await wait_for(county)
        assert county_status["level"] == 2
        assert "in some areas" in county_status["explanation"]
        events = [v for _, v in await read_all(bootstrap, topics.ESCALATIONS)]
        up = [e for e in events if e["subject"] == "area/east_kent" and e["type"].endswith(".escalation")]
        assert len(up) == 1
        assert up[0]["data"]["to_level"] == 3
        assert up[0]["specversion"] == "1.0"
        assert any(role["start"] for role in up[0]["data"]["actions"])
        audit = [v for _, v in await read_all(bootstrap, topics.AUDIT)]
        assert sum(1 for a in audit if a["decision"] == "assessed") == 5


async def test_bad_messages_are_dead_lettered_and_good_ones_processed(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    bootstrap = own_broker.bootstrap
    async with worker(worker_settings(own_broker, tmp_path)):
        bad = [
            (topics.CAPACITY, b"dgs", b"{not json"),
            (
                topics.CAPACITY,
                b"dgs",
                json.dumps({"indicator": "nope", "area": "dgs", "value": 1, "observed_at": at(0)}).encode(),
            ),
            (
                topics.CAPACITY,
                b"dgs",
                json.dumps(
                    {"indicator": "stp_staffing_pct", "area": "dgs", "value": -3, "observed_at": at(0)}
                ).encode(),
            ),
            (topics.ACUTE, b"x", b"x" * 900_000),
        ]
        await produce(bootstrap, [*bad, reading("health_caseload", "dgs", 10, at(0))])

        async def dead() -> Any:
            letters = [v for _, v in await read_all(bootstrap, topics.DEADLETTER)]
            return letters if len(letters) >= 4 else None

        letters = await wait_for(dead)
        assert sorted(v["reason"] for v in letters) == [
            "bad_json",
            "invalid",
            "too_large",
            "unknown_indicator",
        ]
        status = await wait_for(lambda: _has(bootstrap, "indicator/health_caseload/dgs"))
        assert status["level"] is not None


async def _has(bootstrap: str, scope: str) -> Any:
    return (await latest_status(bootstrap)).get(scope)
