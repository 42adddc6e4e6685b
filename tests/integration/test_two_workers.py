"""Two workers share the partitions; area, county and system levels still come out right."""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opel.assess import assess
from opel.catalogue_load import load_indicator_catalogue
from opel.levels import Level
from opel.models import Reading
from opel.rollup import county_level
from streams.broker import EmbeddedBroker

from .service import fresh_broker, latest_status, produce, reading, wait_for
from .test_crash import start_worker

pytestmark = pytest.mark.slow

AREAS = ("dgs", "east_kent", "swale", "west_kent")
INDICATORS = {"stp_staffing_pct": (20, 100), "health_caseload": (0, 200), "keah_capacity": (0, 40)}
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = fresh_broker(tmp_path)
    yield broker
    broker.stop()


async def test_two_workers_agree_with_the_core(own_broker: EmbeddedBroker, tmp_path: Path) -> None:
    catalogue = load_indicator_catalogue("kcc-asch-2025-26")
    rng = random.Random(2)
    messages = []
    last: dict[tuple[str, str], Reading] = {}
    for n in range(6000):
        area = AREAS[n % 4]
        indicator = rng.choice(list(INDICATORS))
        value = rng.randint(*INDICATORS[indicator])
        at = START + timedelta(seconds=n)
        messages.append(reading(indicator, area, value, at.isoformat()))
        last[(indicator, area)] = Reading(indicator=indicator, area=area, value=value, observed_at=at)
    end = START + timedelta(seconds=6000)
    for area in AREAS:  # every area reports past the end, so the county sees all of it
        messages.append(reading("stp_staffing_pct", area, 95, end.isoformat()))
        last[("stp_staffing_pct", area)] = Reading(
            indicator="stp_staffing_pct", area=area, value=95, observed_at=end
        )

    computed = {key: assess(catalogue, r).level for key, r in last.items()}
    areas = {
        area: max(level for (_, a), level in computed.items() if a == area and level is not None)
        for area in AREAS
    }
    county = county_level(catalogue.county, areas).level

    data = tmp_path / "w"
    (data / "one").mkdir(parents=True)
    (data / "two").mkdir(parents=True)
    workers = [
        start_worker(own_broker, data / "one", "opel-pair"),
        start_worker(own_broker, data / "two", "opel-pair"),
    ]
    try:
        await produce(own_broker.bootstrap, messages)

        async def agreed() -> Any:
            status = await latest_status(own_broker.bootstrap)
            got_areas = {a: status.get(f"area/{a}", {}).get("computed_level") for a in AREAS}
            got_county = status.get("county/kent", {}).get("computed_level")
            if got_areas == {a: int(lv) for a, lv in areas.items()} and got_county == int(county or 0):
                return status
            return None

        status = await wait_for(agreed, timeout=240, every=2)
        for (indicator, area), level in computed.items():
            assert status[f"indicator/{indicator}/{area}"]["computed_level"] == (
                None if level is None else int(level)
            )
        assert all(w.poll() is None for w in workers), "both workers are still running"
        assert Level(status["county/kent"]["computed_level"]) == county
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(30)
