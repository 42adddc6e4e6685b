"""The daily record page, and the board's open action items, in real headless Chromium over a
real broker.

Yesterday in Kent, as the topics hold it: Dartford, Gravesham and Swanley went from OPEL 2
(since the day before) to OPEL 3 at 08:00; the escalation group declared the county at OPEL 3 at
11:00; the Senior Practitioner marked the SHREWD action done and another not applicable; the
rest were stood down at 18:00. The page must say all of it in words, with who and when, pass
axe-core, and print (Chromium's own PDF). On the board, the Senior Practitioner signs in with the
role's token and marks an item from its list.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Final
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.async_api import Browser
from support.demo import audit_entry
from support.local_stack import LocalStack
from test_action_items import change

from opel.alerting.action_items import apply_update, on_escalation
from opel.alerting.routing import PLAN_ROLES
from opel.contracts.action_item import ActionItem, ActionItemUpdate
from opel.contracts.audit import AuditRecord
from streams.broker import EmbeddedBroker
from streams.web.auth import build_api_config

from .test_board_browser import TIMEOUT_MS, Console, axe_source, axe_violations, browser  # noqa: F401
from .test_web_api import read_commands

LONDON: Final = ZoneInfo("Europe/London")
SHREWD: Final = "senior_practitioner.l2.shrewd_daily"
FAMILIES: Final = "senior_practitioner.l2.families_throughput"


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LONDON).astimezone(dt.UTC)


def the_day(day: dt.date) -> tuple[list[AuditRecord], list[ActionItem]]:
    before = day - dt.timedelta(days=1)
    audit = [
        audit_entry(
            "area/dgs",
            "transition",
            at(before, 15),
            outcome={"id": "t1", "from_level": 1, "to_level": 2, "hidden_by_override": False},
        ),
        audit_entry(
            "area/dgs",
            "transition",
            at(day, 8),
            outcome={"id": "t2", "from_level": 2, "to_level": 3, "hidden_by_override": False},
        ),
        audit_entry(
            "county/kent",
            "override",
            at(day, 11),
            input={"type": "override", "id": "ovr-1", "scope": "county/kent", "level": 3},
            outcome={"level": 3, "computed_level": 2, "from_level": 2},
            author="escalation-group",
            reason="Two areas at OPEL 3 and rising referrals",
        ),
        audit_entry(
            "area/dgs",
            "transition",
            at(day, 18),
            outcome={"id": "t3", "from_level": 3, "to_level": 1, "hidden_by_override": False},
        ),
    ]
    opened = on_escalation(change("area/dgs", 1, 2, at(before, 15)), "esc-1", {}, PLAN_ROLES)
    items = {c.item.id: c.item for c in opened}
    rise = on_escalation(change("area/dgs", 2, 3, at(day, 8)), "esc-2", items, PLAN_ROLES)
    items |= {c.item.id: c.item for c in rise}
    mine = {i.action_id: i for i in items.values() if i.role == "senior_practitioner"}
    for action_id, state, note, when in (
        (SHREWD, "done", "updated at 09:15", at(day, 9, 20)),
        (FAMILIES, "not_applicable", "no one waiting on a family decision", at(day, 10, 5)),
    ):
        mark = ActionItemUpdate(
            type="action_item",
            item_id=mine[action_id].id,
            state=state,
            role="senior_practitioner",
            author="sp-dgs",
            at=when,
            note=note,
        )
        marked, _ = apply_update(mark, items)
        assert marked is not None
        items[marked.item.id] = marked.item
    fall = on_escalation(change("area/dgs", 3, 1, at(day, 18)), "esc-3", items, PLAN_ROLES)
    items |= {c.item.id: c.item for c in fall}
    return audit, list(items.values())


@pytest.fixture
async def stack(broker: EmbeddedBroker) -> AsyncIterator[tuple[LocalStack, dt.date, list[ActionItem]]]:
    day = dt.datetime.now(LONDON).date() - dt.timedelta(days=1)
    audit, items = the_day(day)
    async with LocalStack(broker) as running:
        await running.publish_audit(audit)
        await running.publish_items(items)
        deadline = asyncio.get_running_loop().time() + 60
        while len(running.view.items()) < len(items) or len(running.view.history("area/dgs")) < 3:
            assert asyncio.get_running_loop().time() < deadline, "the day's records did not arrive"
            await asyncio.sleep(0.05)
        yield running, day, items


async def test_the_daily_record_page_says_who_did_what_and_when_and_prints(
    browser: Browser,  # noqa: F811
    stack: tuple[LocalStack, dt.date, list[ActionItem]],
) -> None:
    running, day, items = stack
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    console = Console(page)
    response = await page.goto(f"{running.url}/daily-record/{day.isoformat()}.html", timeout=TIMEOUT_MS)
    assert response is not None
    assert response.status == 200

    assert await page.locator("h1").inner_text() == f"OPEL daily record: {day:%A} {day.day} {day:%B %Y}"

    dgs = await page.locator("#levels tr", has_text="Dartford, Gravesham and Swanley").inner_text()
    cells = [c.strip() for c in dgs.split("\t")]
    assert cells[:4] == ["Dartford, Gravesham and Swanley", "OPEL 2 amber", "OPEL 3 red", "OPEL 1 green"]
    assert "08:00 OPEL 3 red" in dgs
    assert "18:00 OPEL 1 green" in dgs
    county = await page.locator("#levels tr", has_text="Kent County Council").inner_text()
    assert "11:00 OPEL 3 red (override by escalation-group)" in county
    # Colour never alone: the level is in words, and the board's colours reach the page (CSP allows them).
    badge = page.locator("#levels tr", has_text="Dartford").locator(".badge.level-3")
    assert await badge.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(177, 14, 30)"

    decision = await page.locator("#decisions tbody tr").first.inner_text()
    for words in (
        "11:00",
        "override: OPEL 3 red",
        "Kent County Council",
        "escalation-group",
        "rising referrals",
    ):
        assert words in decision

    by_action = {i.action_id: i for i in items if i.role == "senior_practitioner"}
    shrewd = await page.locator(f"#actions tr[data-item='{by_action[SHREWD].id}']").inner_text()
    assert "09:20 marked done by sp-dgs: updated at 09:15" in shrewd
    assert "\tdone\t" in shrewd
    families = await page.locator(f"#actions tr[data-item='{by_action[FAMILIES].id}']").inner_text()
    assert "10:05 marked not applicable by sp-dgs: no one waiting on a family decision" in families
    stood_down = next(i for i in items if i.state == "closed_by_stand_down")
    assert (
        "18:00 stood down by stand-down"
        in await page.locator(f"#actions tr[data-item='{stood_down.id}']").inner_text()
    )

    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{running.url}/daily-record/{day.isoformat()}") as answer,
    ):
        record = await answer.json()
    assert await page.locator("#actions tbody tr").count() == len(record["actions"]) == len(items)

    assert await axe_violations(page, axe_source()) == []
    phone = await browser.new_page(viewport={"width": 390, "height": 844})
    await phone.goto(f"{running.url}/daily-record/{day.isoformat()}.html", timeout=TIMEOUT_MS)
    assert await axe_violations(phone, axe_source()) == []

    await page.emulate_media(media="print")
    pdf = await page.pdf(format="A4", landscape=True, print_background=True)
    assert pdf.startswith(b"%PDF")
    assert len(pdf) > 10_000
    assert console.errors == []


SP_TOKEN: Final = "senior-practitioner-token-0123456789"


async def test_the_board_marks_an_open_item_with_its_role_token(
    browser: Browser,  # noqa: F811
    broker: EmbeddedBroker,
) -> None:
    config = build_api_config(
        {"principals": {"sp-dgs": {"roles": ["senior_practitioner"], "token_env": "T_SP"}}},
        {"T_SP": SP_TOKEN},
    )
    opened = on_escalation(change("area/dgs", None, 2, dt.datetime.now(dt.UTC)), "esc-board", {}, PLAN_ROLES)
    items = [c.item for c in opened]
    shrewd = next(i for i in items if i.action_id == SHREWD)
    async with LocalStack(broker, auth=config.auth) as running:
        await running.publish_items(items)
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        console = Console(page)
        await page.goto(running.url + "/", timeout=TIMEOUT_MS)
        row = page.locator(f"#items li[data-item='{shrewd.id}']")
        await row.wait_for(timeout=TIMEOUT_MS)
        roles = await page.locator("#items details").evaluate_all("nodes => nodes.map(n => n.dataset.role)")
        assert sorted(roles) == sorted({i.role for i in items})
        assert "Dartford" in await row.inner_text()

        # Not applicable needs a note; without a token the board asks for the role's.
        await row.get_by_role("button", name="Done").click()
        await page.wait_for_selector("#token-dialog:not([hidden])", timeout=TIMEOUT_MS)
        assert "token of the role that owns it" in await page.locator("#token-why").inner_text()
        await page.fill("#token-input", SP_TOKEN)
        await page.click("#token-form button[type=submit]")
        await row.get_by_label("Note (needed for not applicable)").fill("SHREWD down; phoned the hub")
        await row.get_by_role("button", name="Not applicable").click()
        await page.wait_for_selector("#items-status:has-text('Marked not applicable')", timeout=TIMEOUT_MS)

        queued = await read_commands(broker, running.topics["commands"].name, 1)
        assert queued[0][0] == shrewd.id
        assert {k: queued[0][1][k] for k in ("type", "item_id", "state", "role", "author", "note")} == {
            "type": "action_item",
            "item_id": shrewd.id,
            "state": "not_applicable",
            "role": "senior_practitioner",
            "author": "sp-dgs",
            "note": "SHREWD down; phoned the hub",
        }
        assert await axe_violations(page, axe_source()) == []
        assert [e for e in console.errors if "401" not in e] == []
        phone = await browser.new_page(viewport={"width": 390, "height": 844})
        await phone.goto(running.url + "/", timeout=TIMEOUT_MS)
        await phone.locator(f"#items li[data-item='{shrewd.id}']").wait_for(timeout=TIMEOUT_MS)
        assert await axe_violations(phone, axe_source()) == []
