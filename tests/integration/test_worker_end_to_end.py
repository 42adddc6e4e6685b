"""`opel run`'s pieces together: a reading escalates an area; the board in Chromium turns red,
/metrics reports it, and the duty route's webhook receives the alert."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from playwright.async_api import async_playwright
from prometheus_client.parser import text_string_to_metric_families
from support.progress import announce

from streams.broker import EmbeddedBroker
from streams.run_command import alerting_extra, web_extra
from streams.worker import start, stop

from .service import fresh_broker, produce, reading, wait_for, worker_settings
from .test_board_browser import CHROMIUM_ARGS, _require_browser

pytestmark = pytest.mark.slow


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = fresh_broker(tmp_path)
    yield broker
    broker.stop()


@pytest.fixture
async def hook() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/hook", received
    await runner.cleanup()


def routing(path: Path) -> Path:
    data = {
        "defaults": {"group_wait": 1, "group_interval": 1, "repeat_interval": 600, "hold": 5},
        "retry": {"initial": 0.2, "maximum": 1, "factor": 2, "jitter": 0.1, "attempts": 5},
        "channel_timeout": 5,
        "channels": {"hook": {"type": "webhook", "url": "${OPEL_E2E_HOOK}"}},
        "roles": {"duty": {"contacts": [{"id": "duty", "name": "Duty manager", "channel": "hook"}]}},
        "routes": [{"name": "areas", "match": {"kinds": ["area"], "level_at_least": 2}, "roles": ["duty"]}],
    }
    path.write_text(yaml.safe_dump(data))
    return path


async def test_reading_to_board_metrics_and_alert(
    own_broker: EmbeddedBroker, tmp_path: Path, hook: tuple[str, list[dict[str, Any]]]
) -> None:
    _require_browser()
    url, received = hook
    os.environ["OPEL_E2E_HOOK"] = url
    settings = worker_settings(
        own_broker, tmp_path, web_port=0, routing_file=routing(tmp_path / "routing.yaml")
    )
    running = await start(settings, (web_extra, alerting_extra))
    try:
        assert running.web_url is not None
        base = running.web_url
        now = datetime.now(UTC).replace(microsecond=0)
        await produce(
            own_broker.bootstrap,
            [
                reading("stp_staffing_pct", a, 90, now.isoformat())
                for a in ("dgs", "east_kent", "swale", "west_kent")
            ],
        )

        async def green() -> Any:
            return await _status(base, "area/east_kent", 1)

        await wait_for(green)
        async with async_playwright() as pw:
            announce("starting headless Chromium")
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = await browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(base + "/")
            await page.get_by_text("OPEL 1").first.wait_for(timeout=60_000)
            later = (now + timedelta(minutes=1)).isoformat()
            await produce(own_broker.bootstrap, [reading("stp_staffing_pct", "east_kent", 45, later)])
            await page.get_by_text("OPEL 3").first.wait_for(timeout=60_000)
            assert not errors, errors
            await browser.close()

        async def area_level() -> float | None:
            async with aiohttp.ClientSession() as session, session.get(base + "/metrics") as response:
                text = await response.text()
            levels = {
                (s.labels.get("kind"), s.labels.get("area"), s.labels.get("indicator")): s.value
                for family in text_string_to_metric_families(text)
                if family.name == "opel_level"
                for s in family.samples
            }
            return levels.get(("area", "east_kent", ""))

        # The board's legend names every level, so its text alone does not say the reading is in.
        level = None
        for _ in range(120):
            level = await area_level()
            if level == 3:
                break
            await asyncio.sleep(0.5)
        assert level == 3

        async def alerted() -> Any:
            return [m for m in received if "east_kent" in json.dumps(m).lower().replace(" ", "_")] or None

        messages = await wait_for(alerted, timeout=60)
        assert messages
    finally:
        await stop(running)
        os.environ.pop("OPEL_E2E_HOOK", None)


async def _status(base: str, scope: str, level: int) -> Any:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/status/{scope}") as response:
        if response.status != 200:
            return None
        body = await response.json()
    return body if body.get("level") == level else None
