"""`opel run --demo` as a newcomer sees it: the real worker, web server and scripted day, the board in
headless Chromium once the day has played (issue 14's board acceptance).

The demo day ends at the current time (``streams.demo.ending_now``) and is played ten times
faster than ``opel run --demo``; the step-down dwell is six hours (``step_down_dwell``) so that
levels lowered in the afternoon are still held at the end. The board must show no past moment
in the future, never "of no value", at least one held cell that explains its hold, the levels
the API gives, and a 24-hour strip for the county and each area ending at that level; axe-core
finds no serious or critical violation at desktop and phone sizes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest
from playwright.async_api import Page, async_playwright
from support.progress import announce

from streams.broker import EmbeddedBroker
from streams.demo import DAY_HOURS, SECONDS_PER_HOUR
from streams.run_command import demo_extra, web_extra
from streams.web.reads import level_label
from streams.worker import start, stop

from .service import fresh_broker, wait_for, worker_settings
from .test_board_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    TIMEOUT_MS,
    Console,
    _require_browser,
    axe_source,
    axe_violations,
)

pytestmark = pytest.mark.slow

SPEED: Final = 10.0
DWELL: Final = "PT6H"
SKEW: Final = dt.timedelta(minutes=1)
HELD_WORDS: Final = re.compile(
    r"(?:Data gives|^[^:]+:) OPEL (\d) (?:green|amber|red|black) since \d\d:\d\d(?: yesterday)?; "
    r"held at OPEL (\d) until \d\d:\d\d",
    re.MULTILINE,
)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = fresh_broker(tmp_path)
    yield broker
    broker.stop()


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200, url
        return await response.json()


def parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


async def played(base: str, began: dt.datetime) -> dict[str, Any] | None:
    """/status once the last hour of the day is in: the acute returns of its last quarter."""
    body: dict[str, Any] = await get_json(base + "/status")
    sites = [s for s in body["statuses"] if s["kind"] == "site"]
    last = began - dt.timedelta(minutes=2)
    if len(sites) < 2 or any(parse(s["observed_at"]) < last for s in sites):
        return None
    return body


async def settled(base: str, began: dt.datetime) -> dict[str, Any]:
    """/status when two reads two seconds apart agree (the worker has caught up with the day)."""
    previous: list[Any] = []

    async def same() -> dict[str, Any] | None:
        nonlocal previous
        body = await played(base, began)
        if body is None:
            return None
        levels = sorted((s["scope"], s["level"], s["updated_at"]) for s in body["statuses"])
        agreed = levels == previous
        previous = levels
        return body if agreed else None

    result: dict[str, Any] = await wait_for(same, timeout=180, every=2.0)
    return result


async def past_times(page: Page) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = await page.locator("time[data-when='past']").evaluate_all(
        "els => els.map(e => [e.getAttribute('datetime'), e.textContent])"
    )
    return found


async def check_board(page: Page, body: dict[str, Any]) -> None:
    statuses = {s["scope"]: s for s in body["statuses"]}
    server_now = dt.datetime.now(dt.UTC)
    text = await page.locator("main").inner_text()
    strips = await page.locator(".strip svg").evaluate_all(
        "els => els.map(e => e.getAttribute('aria-label'))"
    )
    everything = "\n".join([text, *strips])

    # Never a past moment in the future: every <time> of a reading or a level's start is now or
    # before, and no words of the future ("in 5 min", "since in", a start "tomorrow").
    times = await past_times(page)
    assert times, "the board shows no times"
    for stamp, words in times:
        assert parse(stamp) <= server_now + SKEW, (stamp, words)
        assert "tomorrow" not in words, (stamp, words)
    for wrong in ("of no value", "no value", "undefined", "NaN", "null", "since in", "ago ago"):
        assert wrong not in everything, wrong
    assert not re.search(r"\bin \d+ (min|h|d)\b", everything)
    assert not re.search(r"since \d+ (min|h|d)", everything)
    assert not re.search(r"(since|from) \d\d:\d\d tomorrow", everything)

    # At least one held cell, red or amber, that says what the data gives and until when.
    held = await page.locator("td.cell.held").evaluate_all(
        "els => els.map(e => [e.dataset.scope || e.closest('tr').dataset.scope, e.innerText])"
    )
    assert held, "no held cell on the board (is the dwell long enough?)"
    for scope, words in held:
        match = HELD_WORDS.search(words)
        assert match, (scope, words)
        status = statuses[scope]
        assert status["held"] is not None, scope
        assert int(match.group(2)) == status["held"]["level"] == status["level"], (scope, words)
        assert int(match.group(1)) == status["held"]["computed_level"], (scope, words)
        assert words.startswith(level_label(status["level"])), (scope, words)

    # The levels the API gives, cell by cell; the county in the banner; each strip ends on it.
    for scope, status in statuses.items():
        label = level_label(status["level"])
        if status["kind"] == "indicator":
            cell = page.locator(f"td[data-scope='{scope}'] .label").first
            assert (await cell.inner_text()).strip() == label, scope
        elif status["kind"] == "area":
            cell_text = await page.locator(f"td[data-scope='{scope}']").inner_text()
            assert label in cell_text, (scope, cell_text)
        elif status["kind"] == "site":
            row = await page.locator(f"tr[data-scope='{scope}'] td.cell .label").inner_text()
            assert row.strip() == label, scope
    county = statuses["county/kent"]
    assert (await page.locator("#county-level").inner_text()) == level_label(county["level"])
    for scope in ("county/kent", "area/dgs", "area/east_kent", "area/swale", "area/west_kent"):
        label = await page.locator(f".strip[data-scope='{scope}'] svg").get_attribute("aria-label") or ""
        last = label.rsplit("; ", 1)[-1]
        assert last.startswith(level_label(statuses[scope]["level"])), (scope, label)
        assert await page.locator(f".strip[data-scope='{scope}'] .band").count() >= 2, scope


async def test_the_demo_day_on_the_board(own_broker: EmbeddedBroker, tmp_path: Path) -> None:
    _require_browser()
    source = axe_source()
    began = dt.datetime.now(dt.UTC)
    settings = worker_settings(own_broker, tmp_path, web_port=0, step_down_dwell=DWELL)
    running = await start(settings, (web_extra, demo_extra(SPEED)))
    try:
        assert running.web_url is not None
        base = running.web_url
        # The day takes DAY_HOURS * SECONDS_PER_HOUR / SPEED seconds to play (about 8 s).
        assert DAY_HOURS * SECONDS_PER_HOUR / SPEED < 30
        await settled(base, began)
        async with async_playwright() as pw:
            announce("starting headless Chromium")
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                for size in ("desktop", "phone"):
                    context = await browser.new_context(
                        **(PHONE if size == "phone" else {"viewport": DESKTOP})
                    )
                    page = await context.new_page()
                    console = Console(page)
                    await page.goto(base + "/")
                    await page.wait_for_selector("#connection[data-state='live']", timeout=TIMEOUT_MS)
                    await page.wait_for_selector(
                        ".strip[data-scope='area/west_kent'] svg", timeout=TIMEOUT_MS
                    )
                    await page.wait_for_selector("#actions details", timeout=TIMEOUT_MS)
                    # Read after the board has loaded: a wait that ends meanwhile is in both.
                    await check_board(page, await get_json(base + "/status"))
                    assert await axe_violations(page, source) == [], size
                    assert console.errors == [], size
                    await context.close()
            finally:
                await browser.close()
    finally:
        await stop(running)
