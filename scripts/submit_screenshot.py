"""Photograph the daily submission page for docs/submitting.md: docs/submitting.png.

Starts an embedded broker and the real worker with its web server and a DGS area_submitter
(a token made up for the run), submits yesterday's staffing and referrals through the API so
the page has last values to show, then signs in to ``/submit`` in headless Chromium, enters
staffing 45 (previewed as OPEL 3 red) and a referrals count with a typing slip (its error beside
the field) and photographs the page. Nothing is saved from the page; nothing leaves the machine.

    .venv/bin/python scripts/submit_screenshot.py [--out docs/submitting.png] [--width 900]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

import aiohttp
import yaml
from playwright.async_api import async_playwright

from streams.run_command import web_extra
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
TOKEN_ENV: Final = "OPEL_API_TOKEN_DGS_SUBMITTER"
TIMEOUT_MS: Final = 60_000


async def _yesterday(base: str, token: str) -> None:
    """Yesterday afternoon's values, submitted through the API, and waited for on the status view."""
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=20)).replace(microsecond=0).isoformat()
    readings = [
        {"indicator": "stp_staffing_pct", "area": "dgs", "value": 62, "observed_at": at},
        {"indicator": "referrals", "area": "dgs", "value": 18, "observed_at": at},
    ]
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/readings", json=readings, headers=headers) as response:
            if response.status != 202:
                raise RuntimeError(f"POST /readings: {response.status} {await response.text()}")
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            async with session.get(f"{base}/status/indicator/referrals/dgs") as response:
                if response.status == 200:
                    return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("yesterday's readings did not reach the status view")
            await asyncio.sleep(0.5)


async def capture(out: Path, width: int, height: int) -> None:
    token = secrets.token_urlsafe(24)
    os.environ[TOKEN_ENV] = token
    with tempfile.TemporaryDirectory(prefix="opel-screenshot-") as tmp:
        config = Path(tmp) / "api.yaml"
        principal: dict[str, Any] = {"roles": ["area_submitter"], "token_env": TOKEN_ENV, "areas": ["dgs"]}
        config.write_text(yaml.safe_dump({"principals": {"dgs-submitter": principal}}), encoding="utf-8")
        settings = Settings.load(
            data_dir=Path(tmp) / "data", web_host="127.0.0.1", web_port=0, api_config=config
        )
        running = await start(settings, (web_extra,))
        try:
            assert running.web_url is not None
            await _yesterday(running.web_url, token)
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    page = await browser.new_page(viewport={"width": width, "height": height})
                    await page.goto(running.web_url + "/submit")
                    await page.get_by_label("API token").fill(token)
                    await page.get_by_role("button", name="Sign in").click()
                    await page.locator("#f-dgs-stp_staffing_pct").fill("45")
                    await page.wait_for_selector("#f-dgs-stp_staffing_pct-preview .badge", timeout=TIMEOUT_MS)
                    await page.locator("#f-dgs-referrals").fill("2O")  # a letter O for a zero
                    await page.wait_for_selector("#f-dgs-referrals-error:not(:empty)", timeout=TIMEOUT_MS)
                    await page.locator("#f-dgs-referrals").blur()
                    out.parent.mkdir(parents=True, exist_ok=True)
                    await page.screenshot(path=str(out), full_page=True)
                finally:
                    await browser.close()
        finally:
            await stop(running)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "submitting.png")
    parser.add_argument("--width", type=int, default=900)
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
