"""Render the status board with realistic data and save a screenshot (docs/status-board.png).

Starts an embedded broker, publishes the demo statuses of ``tests/support/demo.py`` (areas amber
and red, an override declared on East Kent, a level held by the step-down wait in West Kent, a
stale feed, acute sites), serves the board on 127.0.0.1 and photographs it in headless
Chromium. Nothing leaves the machine. Run it from a checkout: the fixtures are not in the wheel.

    .venv/bin/python scripts/board_screenshot.py [--out docs/status-board.png] [--width 1400]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Final

from playwright.async_api import async_playwright

from streams.broker import EmbeddedBroker

REPO: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the test fixtures (tests/support), as pytest finds them

from support.demo import demo_statuses  # noqa: E402
from support.local_stack import LocalStack  # noqa: E402

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


async def capture(out: Path, width: int, height: int) -> None:
    with EmbeddedBroker() as broker:
        async with LocalStack(broker) as stack:
            statuses = demo_statuses(dt.datetime.now(dt.UTC))
            await stack.publish_status(statuses)
            deadline = asyncio.get_running_loop().time() + 60
            while len(stack.view.statuses()) < len(statuses):
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError("the status view did not receive the demo statuses")
                await asyncio.sleep(0.1)
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    page = await browser.new_page(viewport={"width": width, "height": height})
                    await page.goto(stack.url + "/")
                    await page.wait_for_selector("#connection[data-state='live']", timeout=30_000)
                    await page.wait_for_selector("#actions details", timeout=30_000)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    await page.screenshot(path=str(out), full_page=True)
                finally:
                    await browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "status-board.png")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 2
    asyncio.run(capture(args.out, args.width, args.height))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
