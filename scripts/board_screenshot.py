"""Photograph the status board as `opel run --demo` shows it: docs/status-board.png and -phone.png.

Starts an embedded broker and the real worker with its web server, plays the scripted winter
day (``streams.demo``, ending now, ten times faster than ``opel run --demo``) with a six-hour
step-down dwell so that the afternoon's lower levels are still held at the end, waits until the
day has played, then photographs the board in headless Chromium: the whole page at desktop size,
the first screens (county, legend, 24-hour strips) on a phone.
Nothing leaves the machine.

    .venv/bin/python scripts/board_screenshot.py [--out docs/status-board.png] [--width 1400]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

import aiohttp
from playwright.async_api import Browser, async_playwright

from streams.demo import DAY_HOURS, SECONDS_PER_HOUR
from streams.run_command import demo_extra, web_extra
from streams.settings import Settings
from streams.worker import start, stop

REPO: Final = Path(__file__).resolve().parent.parent
CHROMIUM: Final = "/usr/bin/chromium"
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
SPEED: Final = 10.0
DWELL: Final = "PT6H"
PHONE: Final[dict[str, Any]] = {
    "viewport": {"width": 390, "height": 1300},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


async def _day_played(base: str, since: dt.datetime) -> bool:
    """The last acute returns are in, and the system has rolled them up (after the worker's idle
    grace, a minute by default, for the sites that never report)."""
    async with aiohttp.ClientSession() as session, session.get(base + "/status") as response:
        body: dict[str, Any] = await response.json()
    statuses = body["statuses"]
    sites = [s for s in statuses if s["kind"] == "site"]
    last = since - dt.timedelta(minutes=2)
    reported = len(sites) >= 2 and all(dt.datetime.fromisoformat(s["observed_at"]) >= last for s in sites)
    system = [
        s for s in statuses if s["kind"] == "system" and dt.datetime.fromisoformat(s["updated_at"]) >= last
    ]
    return reported and bool(system)


async def _wait_for_the_day(base: str, began: dt.datetime) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DAY_HOURS * SECONDS_PER_HOUR / SPEED + 180
    while not await _day_played(base, began):
        if loop.time() > deadline:
            raise TimeoutError("the demo day did not reach the board")
        await asyncio.sleep(1)
    await asyncio.sleep(5)  # the county and system roll-ups and the last ticks


async def _photograph(
    browser: Browser, url: str, out: Path, options: dict[str, Any], *, full_page: bool
) -> None:
    context = await browser.new_context(**options)
    try:
        page = await context.new_page()
        await page.goto(url)
        await page.wait_for_selector("#connection[data-state='live']", timeout=30_000)
        await page.wait_for_selector(".strip[data-scope='area/west_kent'] svg", timeout=30_000)
        await page.wait_for_selector("#actions details", timeout=30_000)
        # The action items and KEaH referrals are read after the status: never photograph "Loading".
        for summary in ("#items-summary", "#keah-summary"):
            await page.wait_for_selector(f"{summary}:not(:has-text('Loading'))", timeout=30_000)
        out.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(out), full_page=full_page)
    finally:
        await context.close()


async def capture(out: Path, phone_out: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory(prefix="opel-screenshot-") as tmp:
        settings = Settings.load(data_dir=Path(tmp), web_host="127.0.0.1", web_port=0, step_down_dwell=DWELL)
        began = dt.datetime.now(dt.UTC)
        running = await start(settings, (web_extra, demo_extra(SPEED)))
        try:
            assert running.web_url is not None
            await _wait_for_the_day(running.web_url, began)
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    url = running.web_url + "/"
                    desktop = {"viewport": {"width": width, "height": height}}
                    await _photograph(browser, url, out, desktop, full_page=True)
                    # The phone's first screens: the county, the legend and the strips.
                    await _photograph(browser, url, phone_out, PHONE, full_page=False)
                finally:
                    await browser.close()
        finally:
            await stop(running)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "status-board.png")
    parser.add_argument("--phone-out", type=Path, default=REPO / "docs" / "status-board-phone.png")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 2
    asyncio.run(capture(args.out, args.phone_out, args.width, args.height))
    print(f"wrote {args.out} and {args.phone_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
