"""Early warning in a real worker (issue 16): staffing falling half an hour at a time opens a
warning on opel.warnings.v1 that validates against its contract and is listed by GET /warnings;
when the level follows, the warning comes true, linked to the escalation, and leaves the list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from opel.contracts.warning import WarningEvent
from streams import topics
from streams.broker import EmbeddedBroker
from streams.run_command import web_extra
from streams.worker import start, stop

from .service import fresh_broker, produce, read_all, reading, wait_for, worker_settings

pytestmark = pytest.mark.slow

SCOPE = "indicator/stp_staffing_pct/east_kent"


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = fresh_broker(tmp_path)
    yield broker
    broker.stop()


def staffing(start: datetime, values: range) -> list[tuple[str, bytes, bytes]]:
    # 85 % falling a point every half hour: below 70 % (amber) at the sixteenth step.
    return [
        reading("stp_staffing_pct", "east_kent", 85 - i, (start + timedelta(minutes=30 * i)).isoformat())
        for i in values
    ]


async def warnings_on_topic(bootstrap: str) -> list[WarningEvent]:
    return [
        WarningEvent.model_validate(value)
        for key, value in await read_all(bootstrap, topics.WARNINGS)
        if key == SCOPE
    ]


async def open_warnings(session: aiohttp.ClientSession, base: str) -> list[dict[str, Any]]:
    async with session.get(f"{base}/warnings") as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        warnings: list[dict[str, Any]] = body["warnings"]
        return warnings


async def test_a_falling_series_is_warned_then_the_warning_comes_true(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    # On the hour, so that each hour's first reading (the window's bucket) is the one on the hour.
    start_at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=12)
    running = await start(worker_settings(own_broker, tmp_path, web_port=0), (web_extra,))
    try:
        base = running.web_url
        assert base is not None
        await produce(own_broker.bootstrap, staffing(start_at, range(12)))

        async def opened() -> list[WarningEvent]:
            return [w for w in await warnings_on_topic(own_broker.bootstrap) if w.data.status == "open"]

        first = (await wait_for(opened, timeout=90))[0]
        assert first.data.current_level == 1
        assert first.data.projected_level == 2
        assert first.data.method == "theil-sen"
        assert first.data.opened_at == start_at + timedelta(hours=5)  # the sixth hour's reading
        async with aiohttp.ClientSession() as session:

            async def listed() -> list[dict[str, Any]]:
                return [
                    w
                    for w in await open_warnings(session, base)
                    if w["data"]["warning_id"] == first.data.warning_id
                ]

            shown = (await wait_for(listed, timeout=30))[0]
            assert WarningEvent.model_validate(shown) == first

            await produce(own_broker.bootstrap, staffing(start_at, range(12, 18)))

            async def came_true() -> list[WarningEvent]:
                return [
                    w for w in await warnings_on_topic(own_broker.bootstrap) if w.data.status == "came_true"
                ]

            done = (await wait_for(came_true, timeout=90))[0]
            escalations = [
                value
                for key, value in await read_all(own_broker.bootstrap, topics.ESCALATIONS)
                if key == SCOPE and value["data"]["to_level"] == 2
            ]
            assert len(escalations) == 1
            assert done.data.warning_id == first.data.warning_id
            assert done.data.escalation_id == escalations[0]["id"]
            assert done.data.at == start_at + timedelta(hours=8)  # 69 %, the first reading below 70 %

            async def gone() -> bool:
                ids = [w["data"]["warning_id"] for w in await open_warnings(session, base)]
                return first.data.warning_id not in ids

            assert await wait_for(gone, timeout=30)
    finally:
        await stop(running)
