"""The daily submission page (issue 17, point 1) in real headless Chromium, on a real worker over a
real broker.

A DGS area_submitter signs in with its token and sees its own area's indicators only (never
Swale's). A value the API refuses is shown beside its field naming the field and the value;
staffing 45 previews "OPEL 3 red" (a dry run of POST /readings, as `opel assess` words it) before
anything is saved; Enter submits from the keyboard. The reading then reaches opel.status.v1 at
OPEL 3, the board shows it, and the worker's audit record of it names the submitter as author.
The same token gets 403 for Swale through the API. axe-core finds nothing serious at desktop and
phone sizes, and the page fits a phone's width.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest
import yaml
from playwright.async_api import Browser, Page
from support.demo import status_record
from support.local_stack import LocalStack

from streams import topics
from streams.broker import EmbeddedBroker
from streams.run_command import web_extra
from streams.web.auth import build_api_config
from streams.worker import start, stop

from .service import latest_status, read_all, wait_for, worker_settings
from .test_board_browser import (  # noqa: F401
    DESKTOP,
    PHONE,
    TIMEOUT_MS,
    Console,
    axe_source,
    axe_violations,
    browser,
)

pytestmark = pytest.mark.slow

TOKEN: Final = "dgs-submitter-token-0123456789"
SCOPE: Final = "indicator/stp_staffing_pct/dgs"
STAFFING: Final = "#f-dgs-stp_staffing_pct"


async def sign_in(page: Page, url: str) -> None:
    await page.goto(url + "/submit", timeout=TIMEOUT_MS)
    await page.get_by_label("API token").fill(TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector(f"{STAFFING}", timeout=TIMEOUT_MS)


async def test_a_dgs_submitter_previews_and_submits_staffing_from_the_page(
    browser: Browser,  # noqa: F811
    broker: EmbeddedBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "api.yaml"
    principal = {"roles": ["area_submitter"], "token_env": "T_DGS_PAGE", "areas": ["dgs"]}
    config.write_text(yaml.safe_dump({"principals": {"dgs-submitter": principal}}), encoding="utf-8")
    monkeypatch.setenv("T_DGS_PAGE", TOKEN)
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)

    async def assessed() -> dict[str, Any] | None:
        status: dict[str, Any] | None = (await latest_status(broker.bootstrap)).get(SCOPE)
        if (
            status
            and status.get("value") == 45
            and dt.datetime.fromisoformat(status["observed_at"]) >= started
        ):
            return status
        return None

    running = await start(worker_settings(broker, tmp_path, web_port=0, api_config=config), (web_extra,))
    try:
        url = running.web_url
        assert url is not None
        page = await browser.new_page(viewport=DESKTOP)
        console = Console(page)
        await sign_in(page, url)
        assert (await page.locator("#who").inner_text()).startswith("Signed in as dgs-submitter")
        assert await page.locator("fieldset[data-area='dgs']").count() == 1
        assert await page.locator("fieldset[data-area='swale']").count() == 0  # not offered
        label = await page.locator(f"label[for='{STAFFING[1:]}']").inner_text()
        assert label == "Staffing of the Short-term Pathway Team (percent)"

        # A value the API refuses: the error sits beside the field, names the field and the value,
        # and is read out with the input.
        staffing = page.locator(STAFFING)
        await staffing.fill("45%")
        error = page.locator(f"{STAFFING}-error")
        await page.wait_for_function(
            f"() => document.querySelector('{STAFFING}-error').textContent.includes('value')",
            timeout=TIMEOUT_MS,
        )
        error_text = await error.inner_text()
        assert error_text.startswith("Staffing of the Short-term Pathway Team: value: ")
        assert "'45%'" in error_text
        assert await staffing.get_attribute("aria-invalid") == "true"
        described = (await staffing.get_attribute("aria-describedby") or "").split()
        assert f"{STAFFING[1:]}-error" in described
        assert f"{STAFFING[1:]}-preview" in described

        # 45: OPEL 3 red, previewed before anything is saved.
        await staffing.fill("45")
        preview = page.locator(f"{STAFFING}-preview")
        await page.wait_for_selector(f"{STAFFING}-preview .badge", timeout=TIMEOUT_MS)
        assert await preview.locator(".badge").inner_text() == "OPEL 3 red"
        assert "stp_staffing_pct = 45 in dgs is in the published band 30-49: OPEL 3 red" in (
            await preview.inner_text()
        )
        assert await error.inner_text() == ""
        assert await staffing.get_attribute("aria-invalid") == "false"
        assert await axe_violations(page, axe_source()) == []
        assert await assessed() is None, "a preview publishes nothing"

        # Enter in the field submits the form: the keyboard alone will do.
        await staffing.press("Enter")
        await page.wait_for_selector("#status[data-kind='done']", timeout=TIMEOUT_MS)
        said = await page.locator("#status").inner_text()
        assert said.startswith("Saved 1 reading as dgs-submitter: ")
        assert "Staffing of the Short-term Pathway Team 45 %: OPEL 3 red" in said

        status = await wait_for(assessed, timeout=60)
        assert (status["computed_level"], status["computed_colour"]) == (3, "red")

        async def audited() -> dict[str, Any] | None:
            for _, record in await read_all(broker.bootstrap, topics.AUDIT):
                if (
                    isinstance(record, dict)
                    and record.get("decision") == "assessed"
                    and record.get("scope") == SCOPE
                    and (record.get("input") or {}).get("value") == 45
                    and dt.datetime.fromisoformat(record["at"]) >= started
                ):
                    return record
            return None

        record = await wait_for(audited, timeout=60)
        assert record["author"] == "dgs-submitter"
        assert record["outcome"]["level"] == 3

        # The board shows it; the page's last value follows.
        board = await browser.new_page(viewport=DESKTOP)
        await board.goto(url + "/", timeout=TIMEOUT_MS)
        await board.wait_for_function(
            f"() => (document.querySelector(\"td[data-scope='{SCOPE}'] .label\") || {{}}).textContent"
            " === 'OPEL 3 red'",
            timeout=TIMEOUT_MS,
        )
        assert "45" in await board.locator(f"td[data-scope='{SCOPE}']").inner_text()
        assert await board.locator("a[href='/submit']").count() == 1
        await page.wait_for_function(
            f"() => document.querySelector('{STAFFING}-last').textContent.includes('45 %')",
            timeout=TIMEOUT_MS,
        )
        assert "OPEL 3 red" in await page.locator(f"{STAFFING}-last").inner_text()

        # The same token may not submit for Swale: 403, and nothing published.
        item = {
            "indicator": "stp_staffing_pct",
            "area": "swale",
            "value": 45,
            "observed_at": started.isoformat(),
        }
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{url}/readings", json=[item], headers={"Authorization": f"Bearer {TOKEN}"}) as answer,
        ):
            assert answer.status == 403
            assert "swale" in (await answer.json())["detail"]

        # A phone: the same page fits its width and passes axe-core.
        phone_context = await browser.new_context(**PHONE)
        phone = await phone_context.new_page()
        await sign_in(phone, url)
        await phone.locator(STAFFING).fill("45")
        await phone.wait_for_selector(f"{STAFFING}-preview .badge", timeout=TIMEOUT_MS)
        assert await phone.evaluate("() => document.documentElement.scrollWidth") <= 390
        assert await axe_violations(phone, axe_source()) == []
        await phone_context.close()
        # Chromium logs each refused request (the 422 of "45%") as a console error; nothing else.
        assert [e for e in console.errors if "status of 422" not in e] == []
    finally:
        await stop(running)


async def test_last_values_are_shown_in_kent_time_in_summer_and_winter(
    browser: Browser,  # noqa: F811
    broker: EmbeddedBroker,
) -> None:
    """09:30 in Kent is 08:30 UTC in July and 09:30 UTC in January; a device set to another
    zone still shows Kent's clock, saying which."""
    config = build_api_config(
        {"principals": {"dgs-submitter": {"roles": ["area_submitter"], "token_env": "T", "areas": ["dgs"]}}},
        {"T": TOKEN},
    )
    summer = dt.datetime(2025, 7, 1, 8, 30, tzinfo=dt.UTC)
    winter = dt.datetime(2025, 1, 15, 9, 30, tzinfo=dt.UTC)
    async with LocalStack(broker, auth=config.auth) as stack:
        await stack.publish_status(
            [
                status_record(SCOPE, 2, at=summer, observed_at=summer, value=62),
                status_record("indicator/referrals/dgs", 3, at=winter, observed_at=winter, value=18),
            ]
        )
        await wait_for(lambda: _known(stack, SCOPE, "indicator/referrals/dgs"), timeout=60)
        context = await browser.new_context(viewport=DESKTOP, timezone_id="America/New_York")
        page = await context.new_page()
        await sign_in(page, stack.url)
        staffing = await page.locator(f"{STAFFING}-last").inner_text()
        referrals = await page.locator("#f-dgs-referrals-last").inner_text()
        await context.close()
    assert "62 %" in staffing
    assert "1 Jul, 09:30 BST" in staffing
    assert staffing.endswith(": OPEL 2 amber.")
    assert "18 cases" in referrals
    assert "15 Jan, 09:30 GMT" in referrals
    assert referrals.endswith(": OPEL 3 red.")


async def _known(stack: LocalStack, *scopes: str) -> bool:
    return all(stack.view.status(scope) is not None for scope in scopes)
