"""KEaH "referrer told" and assessment-bed placements through the API (issue 13, point 8): the
organiser's confirmation, not opel's own message, is what the 2-hour rule counts as met or missed,
and a placement recorded through the API starts alerting's 6.3 clock."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest

from opel.alerting.duties import keah_figures
from opel.alerting.routing import build_routing
from streams.alerting.service import AlertingService
from streams.broker import EmbeddedBroker
from streams.run_command import web_extra
from streams.topics import REFERRAL_EVENTS
from streams.worker import start, stop

from .service import produce, wait_for, worker_settings

pytestmark = pytest.mark.slow

TOKENS: Final = {
    "OPEL_API_TOKEN_KEAH_ORGANISER": "keah-organiser-token-0123456789",
    "OPEL_API_TOKEN_PLACEMENT_COORDINATOR": "placement-coordinator-token-0123",
    "OPEL_API_TOKEN_BOARD": "board-viewer-token-0123456789",
}


def _bearer(variable: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[variable]}"}


ORGANISER: Final = _bearer("OPEL_API_TOKEN_KEAH_ORGANISER")
COORDINATOR: Final = _bearer("OPEL_API_TOKEN_PLACEMENT_COORDINATOR")
VIEWER: Final = _bearer("OPEL_API_TOKEN_BOARD")


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example API config's principals, given tokens before the web server reads them."""
    for variable, token in TOKENS.items():
        monkeypatch.setenv(variable, token)


@asynccontextmanager
async def serving(broker: EmbeddedBroker, tmp_path: Path, alerting: AlertingService) -> AsyncIterator[str]:
    """The worker with `opel run`'s web server, and ``alerting`` reading what the API writes."""
    running = await start(worker_settings(broker, tmp_path, web_port=0), (web_extra,))
    await alerting.start()
    try:
        assert running.web_url is not None
        yield running.web_url
    finally:
        await alerting.stop()
        await stop(running)


def keah_referral(event_id: str, received: datetime) -> tuple[str, bytes, bytes]:
    body = {
        "event_id": event_id,
        "area": "east_kent",
        "kind": "received",
        "service": "keah",
        "occurred_at": received.isoformat(),
        "start_date_within_24h": False,
    }
    return REFERRAL_EVENTS, b"east_kent", json.dumps(body).encode()


async def _post(base: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(base + path, headers=headers, json=body) as response,
    ):
        return response.status, await response.json()


async def test_an_organiser_confirms_through_the_api_and_the_rule_counts_it(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    routing = build_routing(
        {
            "roles": {
                "duty": {"contacts": [{"id": "duty", "name": "Duty", "channel": "log"}]},
                "keah_locality_organisers": {"contacts": [{"id": "keah", "name": "KEaH", "channel": "log"}]},
            }
        },
        "<test>",
    )
    alerting = AlertingService(
        bootstrap=broker.bootstrap, routing=routing, group_id=f"duties-{uuid.uuid4().hex[:8]}"
    )
    async with serving(broker, tmp_path, alerting) as base:
        now = datetime.now(UTC).replace(microsecond=0)
        on_time, late = f"keah-{uuid.uuid4().hex[:12]}", f"keah-{uuid.uuid4().hex[:12]}"
        await produce(
            broker.bootstrap,
            [
                keah_referral(on_time, now - timedelta(minutes=30)),
                keah_referral(late, now - timedelta(hours=3)),
            ],
        )

        async def counted() -> bool:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{base}/history/area/east_kent") as response,
            ):
                if response.status != 200:
                    return False
                entries = (await response.json())["entries"]
            seen = {(e.get("input") or {}).get("event_id") for e in entries}
            return {on_time, late} <= seen and {on_time, late} <= set(alerting.state.keah)

        def own_figures() -> tuple[int, int, int]:
            # The broker is shared with the tier's other tests, whose KEaH referrals alerting
            # also reads from the beginning: count this test's two only.
            mine = [alerting.state.keah[event_id] for event_id in (on_time, late)]
            return keah_figures(mine, datetime.now(UTC))

        await wait_for(counted)
        assert own_figures() == (0, 1, 1)  # opel's own message counts for nothing

        assert (await _post(base, f"/keah/{uuid.uuid4().hex}/referrer-told", ORGANISER))[0] == 404
        assert (await _post(base, f"/keah/{on_time}/referrer-told", VIEWER))[0] == 403
        status, problem = await _post(base, f"/keah/{on_time}/referrer-told", ORGANISER, {"note": 5})
        assert (status, problem["field"]) == (422, "note")

        status, command = await _post(
            base, f"/keah/{on_time}/referrer-told", ORGANISER, {"note": "rang the ward"}
        )
        assert status == 202
        assert command["type"] == "keah_referrer_told"
        assert (command["event_id"], command["author"]) == (on_time, "keah-organiser")
        assert (await _post(base, f"/keah/{late}/referrer-told", ORGANISER))[0] == 202

        async def figures() -> bool:
            return own_figures() == (1, 1, 0)

        await wait_for(figures)
        record = alerting.state.keah[on_time]
        assert record.told_by == "keah-organiser"
        assert record.told_at is not None
        assert record.told_at >= now


async def test_a_placement_recorded_through_the_api_starts_its_clock(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    alerting = AlertingService(
        bootstrap=broker.bootstrap,
        routing=build_routing({"roles": {"duty": {"contacts": []}}}, "<test>"),
        group_id=f"beds-{uuid.uuid4().hex[:8]}",
        duties=False,
    )
    async with serving(broker, tmp_path, alerting) as base:
        placement = f"p-{uuid.uuid4().hex[:12]}"
        started = (datetime.now(UTC) - timedelta(days=22)).replace(microsecond=0)
        body = {"placement_id": placement, "area": "swale", "change": "started", "at": started.isoformat()}
        assert (await _post(base, "/assessment-beds/placements", VIEWER, body))[0] == 403
        for bad, field in (
            ({**body, "area": "kent_north"}, "area"),
            ({**body, "at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "at"),
            ({k: v for k, v in body.items() if k != "change"}, "change"),
            ({**body, "name": "Mrs Smith"}, "name"),
        ):
            status, problem = await _post(base, "/assessment-beds/placements", COORDINATOR, bad)
            assert (status, problem["field"]) == (422, field), problem
        status, command = await _post(base, "/assessment-beds/placements", COORDINATOR, body)
        assert status == 202, command
        assert command["type"] == "assessment_bed"
        assert command["author"] == "placement-coordinator"

        async def recorded() -> bool:
            return placement in alerting.state.beds

        await wait_for(recorded)
        assert alerting.state.beds[placement].started_at == started
