"""The status board in real headless Chromium, fed by a real broker through the API.

Needs /usr/bin/chromium (Debian: apt-get install -y chromium chromium-driver). Without it the
tests skip, unless OPEL_REQUIRE_BROWSER is set (as in CI), when they fail instead.

The accessibility check runs axe-core (npm package ``axe-core``, pinned in tests/package.json)
inside the page: zero serious or critical violations at desktop and phone sizes. Without
tests/node_modules the check runs ``npm ci`` there once; where npm or the registry is missing it
skips (fails under OPEL_REQUIRE_BROWSER) with the command to run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, ViewportSize, async_playwright
from support.demo import demo_statuses, status_record
from support.local_stack import LocalStack
from support.progress import announce

from streams.broker import EmbeddedBroker
from streams.web.reads import level_label

CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS: Final = 60_000
TESTS: Final = Path(__file__).resolve().parent.parent
AXE: Final = TESTS / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP: Final[ViewportSize] = {"width": 1400, "height": 900}
PHONE: Final[dict[str, Any]] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


def _require_browser() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("OPEL_REQUIRE_BROWSER"):
        pytest.fail(f"OPEL_REQUIRE_BROWSER is set but {CHROMIUM} is missing (apt-get install -y chromium)")
    pytest.skip(
        f"{CHROMIUM} is missing (apt-get install -y chromium chromium-driver); "
        "set OPEL_REQUIRE_BROWSER=1 to make this a failure"
    )


def axe_source() -> str:
    """axe-core's script, installed from tests/package-lock.json with ``npm ci`` if need be."""
    if not AXE.exists() and shutil.which("npm"):
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(TESTS)],
            cwd=TESTS,
            check=False,
            capture_output=True,
            timeout=300,
        )
    if AXE.exists():
        return AXE.read_text(encoding="utf-8")
    why = f"{AXE} is missing: run `npm ci --prefix tests` (needs npm and the npm registry)"
    if os.environ.get("OPEL_REQUIRE_BROWSER"):
        pytest.fail(f"OPEL_REQUIRE_BROWSER is set but {why}")
    pytest.skip(why)


async def axe_violations(page: Page, source: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of the page as it is (WCAG 2.x A and AA)."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol, so the board's Content-Security-Policy stays on.
        await page.evaluate(source)
    result: dict[str, Any] = await page.evaluate(
        """async () => await window.axe.run(document, {
            runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
            resultTypes: ["violations"],
        })"""
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    _require_browser()
    async with async_playwright() as pw:
        announce("starting headless Chromium")
        launched = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def stack(broker: EmbeddedBroker) -> AsyncIterator[LocalStack]:
    async with LocalStack(broker) as running:
        statuses = demo_statuses(dt.datetime.now(dt.UTC))
        await running.publish_status(statuses)
        deadline = asyncio.get_running_loop().time() + 60
        while len(running.view.statuses()) < len(statuses):
            assert asyncio.get_running_loop().time() < deadline, "demo statuses did not arrive"
            await asyncio.sleep(0.05)
        yield running


class Console:
    """Collects console errors and uncaught exceptions of a page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


async def open_board(page: Page, url: str) -> None:
    await page.goto(url + "/")
    await page.wait_for_selector("#connection[data-state='live']", timeout=TIMEOUT_MS)
    await page.wait_for_selector("#grid-body td[data-scope='area/dgs']", timeout=TIMEOUT_MS)


async def cell_text(page: Page, scope: str) -> str:
    return (await page.locator(f"td[data-scope='{scope}'] .label").first.inner_text()).strip()


async def api_status(url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(url + "/status") as response:
        body: dict[str, Any] = await response.json()
    statuses: list[dict[str, Any]] = body["statuses"]
    return statuses


async def test_board_shows_the_levels_the_api_reports_and_follows_escalations(
    browser: Browser, stack: LocalStack
) -> None:
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    console = Console(page)
    await open_board(page, stack.url)

    for status in await api_status(stack.url):
        if status["kind"] == "indicator":
            assert await cell_text(page, status["scope"]) == level_label(status["level"]), status["scope"]
    area_cell = page.locator("td[data-scope='area/dgs']")
    assert (await area_cell.inner_text()).startswith("OPEL 2 amber")
    assert "level-2" in (await area_cell.get_attribute("class") or "")
    amber = await area_cell.evaluate("cell => getComputedStyle(cell).backgroundColor")
    assert (await page.locator("#county-level").inner_text()) == "OPEL 2 amber"

    # East Kent has an override: declared and computed levels side by side, and in the list.
    east = await page.locator("td[data-scope='area/east_kent']").inner_text()
    assert "Declared" in east
    assert "OPEL 4 black" in east
    assert "Computed" in east
    assert "OPEL 3 red" in east
    override_row = await page.locator("tr[data-override='ovr-demo-east-kent']").inner_text()
    assert "escalation-group" in override_row
    assert "norovirus" in override_row
    # A reading 40 hours old is marked stale in words, not only by style.
    assert (
        "stale" in (await page.locator("td[data-scope='indicator/keah_capacity/swale']").inner_text()).lower()
    )
    assert "31 of 44" in await page.locator("tr[data-scope='site/william_harvey']").inner_text()
    # Scores read "15 of 44" with the normalised score on its 0-100 scale, never "of no value".
    canterbury = await page.locator("tr[data-scope='site/kent_and_canterbury']").inner_text()
    assert "15 of 44" in canterbury
    assert "34.1 of 100" in canterbury
    assert "at most 16, 1 parameter not reported" in (
        await page.locator("tr[data-scope='site/tunbridge_wells']").inner_text()
    )
    assert "(score 21.7 of 44)" in await page.locator("#system-level").inner_text()
    # A level held by the step-down wait is red and says why beside its value, in words.
    held = page.locator("td[data-scope='indicator/stp_staffing_pct/west_kent']")
    assert "level-3" in (await held.get_attribute("class") or "")
    held_text = await held.inner_text()
    assert held_text.startswith("OPEL 3 red")
    assert re.search(r"71: OPEL 1 green since \d\d:\d\d; held at OPEL 3 until \d\d:\d\d tomorrow", held_text)
    west = await page.locator("td[data-scope='area/west_kent']").inner_text()
    assert re.search(r"Data gives OPEL 2 amber since \d\d:\d\d; held at OPEL 3 until", west)
    assert "for 2 d" in west  # in force for two days, not "since 2 d ago"
    # The override's expiry is a clock time, not "in 22 h 59 min".
    assert re.search(r"\d\d:\d\d tomorrow", override_row)
    page_text = await page.locator("main").inner_text()
    for wrong in ("no value", "undefined", "NaN", "since in", " ago ago"):
        assert wrong not in page_text
    assert not re.search(r"\bin \d+ (min|h|d)\b", page_text)  # no relative future
    assert not re.search(r"since \d+ (min|h|d)", page_text)  # "since 2 h ago" is not English

    now = dt.datetime.now(dt.UTC)
    await stack.publish_status(
        [
            status_record("indicator/health_caseload/dgs", 3, at=now, value=63),
            status_record("area/dgs", 3, at=now),
        ]
    )
    await page.wait_for_function(
        "() => document.querySelector(\"td[data-scope='area/dgs']\").classList.contains('level-3')",
        timeout=TIMEOUT_MS,
    )
    assert (await area_cell.inner_text()).startswith("OPEL 3 red")
    assert await cell_text(page, "indicator/health_caseload/dgs") == "OPEL 3 red"
    red = await area_cell.evaluate("cell => getComputedStyle(cell).backgroundColor")
    assert red != amber
    assert red == "rgb(177, 14, 30)"
    await page.wait_for_function(
        "() => document.getElementById('announcer').textContent.includes('now OPEL 3 red')",
        timeout=TIMEOUT_MS,
    )
    # The actions list follows the area levels it shows.
    await page.wait_for_function(
        "() => document.getElementById('actions-summary').textContent"
        ".includes('Dartford, Gravesham & Swanley OPEL 3 red')",
        timeout=TIMEOUT_MS,
    )
    assert console.errors == []


async def test_board_renders_on_a_phone(browser: Browser, stack: LocalStack) -> None:
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    console = Console(page)
    await open_board(page, stack.url)
    assert await page.locator("h1").is_visible()
    assert await page.locator("#grid").is_visible()
    # The page itself does not scroll sideways; the wide grid scrolls inside its own box.
    overflow = await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1
    scrolls = await page.evaluate(
        "() => { const box = document.querySelector('#grid-section .scroll');"
        " return box.scrollWidth > box.clientWidth; }"
    )
    assert scrolls
    assert (await page.locator("#county-level").inner_text()) == "OPEL 2 amber"
    assert console.errors == []
    await context.close()


async def test_board_rereads_everything_after_a_reconnect(browser: Browser, stack: LocalStack) -> None:
    page = await browser.new_page()
    console = Console(page)
    await open_board(page, stack.url)
    # Stop serving: the stream ends, the board says so and retries.
    port = stack.server.port
    await stack.server.stop()
    await page.wait_for_function(
        "() => document.getElementById('connection').dataset.state !== 'live'", timeout=TIMEOUT_MS
    )
    # A change made while the board was disconnected appears once it is back.
    await stack.publish_status([status_record("county/kent", 3, at=dt.datetime.now(dt.UTC))])
    await stack.server.start()
    assert stack.server.port == port
    await page.wait_for_function(
        "() => document.getElementById('county-level').textContent === 'OPEL 3 red'", timeout=TIMEOUT_MS
    )
    await page.wait_for_selector("#connection[data-state='live']", timeout=TIMEOUT_MS)
    # While the server was down the browser logged failed fetches; nothing else may fail.
    assert [e for e in console.errors if "Failed to load resource" not in e and "ERR_" not in e] == []


async def test_board_has_a_legend_and_a_24_hour_strip_per_area_and_the_county(
    browser: Browser, stack: LocalStack
) -> None:
    page = await browser.new_page(viewport=DESKTOP)
    console = Console(page)
    await open_board(page, stack.url)
    legend = await page.locator(".legend").inner_text()
    for words in (
        "OPEL 1 green",
        "OPEL 2 amber",
        "OPEL 3 red",
        "OPEL 4 black",
        "not assessed",
        "Held",
        "Declared",
    ):
        assert words in legend
    assert "step-down wait" in legend
    # The legend's swatches are the board's colours.
    swatch = await page.locator(".legend .swatch.level-3").evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    assert swatch == "rgb(177, 14, 30)"
    await page.wait_for_selector(".strip[data-scope='area/west_kent'] svg", timeout=TIMEOUT_MS)
    scopes = await page.locator(".strip").evaluate_all("els => els.map(e => e.dataset.scope)")
    assert scopes[:5] == ["county/kent", "area/dgs", "area/east_kent", "area/swale", "area/west_kent"]
    # Each strip is a picture with its words: role img and a label saying the same as the bands.
    label = await page.locator(".strip[data-scope='county/kent'] svg").get_attribute("aria-label")
    assert label is not None
    assert label.startswith("Kent (county), last 24 hours: ")
    assert "OPEL 2 amber since" in label
    assert await page.locator(".strip[data-scope='county/kent'] svg").get_attribute("role") == "img"
    fill = await page.locator(".strip[data-scope='area/west_kent'] .band.level-3 rect").last.evaluate(
        "e => getComputedStyle(e).fill"
    )
    assert fill == "rgb(177, 14, 30)"

    # A change of level lands on the strip as it happens.
    now = dt.datetime.now(dt.UTC)
    await stack.publish_status([status_record("area/dgs", 4, at=now, since=now)])
    await page.wait_for_function(
        "() => document.querySelector(\".strip[data-scope='area/dgs'] svg\")"
        ".getAttribute('aria-label').includes('OPEL 4 black since')",
        timeout=TIMEOUT_MS,
    )
    dgs = await page.locator(".strip[data-scope='area/dgs'] svg").get_attribute("aria-label") or ""
    assert re.search(r"OPEL 2 amber from \d\d:\d\d to \d\d:\d\d; OPEL 4 black since \d\d:\d\d\.$", dgs), dgs
    assert await page.locator(".strip[data-scope='area/dgs'] .band.level-4").count() == 1
    assert console.errors == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_board_has_no_serious_accessibility_violations(
    browser: Browser, stack: LocalStack, size: str
) -> None:
    source = axe_source()
    context = await browser.new_context(**(PHONE if size == "phone" else {"viewport": DESKTOP}))
    page = await context.new_page()
    console = Console(page)
    await open_board(page, stack.url)
    await page.wait_for_selector(".strip svg", timeout=TIMEOUT_MS)
    await page.wait_for_selector("#actions details", timeout=TIMEOUT_MS)
    assert await axe_violations(page, source) == []
    assert console.errors == []
    await context.close()
