"""KEaH "referrer told" from the board (issue 13, point 8), in real headless Chromium over a real
broker with the real alerting service.

Two KEaH referrals with no start date within 24 hours reach alerting (which starts their 2-hour
clocks) and the worker's audit (its ``referral_counted`` records, which the API reads): one
received 100 minutes ago, due in 20, and one received 3 hours ago, overdue. The board lists both
with their due times, never a referral's ``ref``; the KEaH organiser signs in with the role's
token and confirms each with its **Referrer told** button. Each confirmation is a
``keah_referrer_told`` command on the commands topic, alerting counts one met and one missed,
and the list empties. axe-core finds nothing serious at desktop and phone sizes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Final

import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser
from support.demo import referral_counted
from support.local_stack import LocalStack, alerting_topics, log_routing

from opel.feeds import ReferralEvent
from streams.alerting.service import AlertingService
from streams.broker import EmbeddedBroker
from streams.web.auth import build_api_config

from .test_board_browser import TIMEOUT_MS, Console, axe_source, axe_violations, browser  # noqa: F401
from .test_web_api import read_commands, until

ORGANISER_TOKEN: Final = "keah-organiser-token-0123456789"


def referral(received: dt.datetime) -> ReferralEvent:
    tag = uuid.uuid4().hex[:10]
    return ReferralEvent(
        event_id=f"keah-{tag}",
        area="swale",
        kind="received",
        service="keah",
        occurred_at=received,
        ref=f"CASE-{tag}",
        start_date_within_24h=False,
    )


@pytest.fixture
async def rig(broker: EmbeddedBroker) -> AsyncIterator[tuple[LocalStack, AlertingService, str]]:
    topics, names = alerting_topics("opel-keah-board")
    config = build_api_config(
        {"principals": {"keah-organiser": {"roles": ["keah_locality_organisers"], "token_env": "T_KEAH"}}},
        {"T_KEAH": ORGANISER_TOKEN},
    )
    stack = LocalStack(broker, auth=config.auth, topics=topics)
    await stack.start()
    service = AlertingService(
        bootstrap=broker.bootstrap,
        routing=log_routing(("duty", "keah_locality_organisers")),
        group_id=f"keah-board-{uuid.uuid4().hex[:8]}",
        not_before=dt.datetime.now(dt.UTC),
        topic_names=names,
    )
    await service.start()
    try:
        yield stack, service, names.referral_events
    finally:
        await service.stop()
        await stack.stop()


async def publish_referrals(broker: EmbeddedBroker, topic: str, events: list[ReferralEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                topic, key=event.area.encode(), value=event.model_dump_json().encode()
            )
    finally:
        await producer.stop()


async def test_the_organiser_confirms_referrer_told_from_the_board(
    browser: Browser,  # noqa: F811
    broker: EmbeddedBroker,
    rig: tuple[LocalStack, AlertingService, str],
) -> None:
    stack, alerting, referrals = rig
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    on_time = referral(now - dt.timedelta(minutes=100))
    late = referral(now - dt.timedelta(hours=3))
    await publish_referrals(broker, referrals, [late, on_time])
    await stack.publish_audit([referral_counted(late), referral_counted(on_time)])
    await until(lambda: {late.event_id, on_time.event_id} <= set(alerting.state.keah), "alerting's clocks")
    assert alerting.keah_figures() == (0, 1, 1)  # opel's own message counts for nothing

    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    console = Console(page)
    await page.goto(stack.url + "/", timeout=TIMEOUT_MS)
    first = page.locator(f"#keah li[data-event='{on_time.event_id}']")
    second = page.locator(f"#keah li[data-event='{late.event_id}']")
    await first.wait_for(timeout=TIMEOUT_MS)
    # Oldest first; each with its area, when it came and the time to tell the referrer by.
    assert await page.locator("#keah li").evaluate_all("nodes => nodes.map(n => n.dataset.event)") == [
        late.event_id,
        on_time.event_id,
    ]
    assert (
        await page.locator("#keah-summary").inner_text() == "2 referrals waiting for the referrer to be told."
    )
    words = await first.inner_text()
    assert f"Referral {on_time.event_id}, Swale: received " in words
    due = await first.locator("time[data-when='deadline']").get_attribute("datetime")
    assert due is not None
    assert dt.datetime.fromisoformat(due) == on_time.occurred_at + dt.timedelta(hours=2)
    assert "tell the referrer by " in words
    assert "overdue" not in words
    assert "overdue" in await second.inner_text()
    assert "keah-overdue" in (await second.get_attribute("class") or "")
    assert "CASE-" not in await page.locator("main").inner_text()  # never a referral's ref
    assert await axe_violations(page, axe_source()) == []
    phone = await browser.new_page(viewport={"width": 390, "height": 844})
    await phone.goto(stack.url + "/", timeout=TIMEOUT_MS)
    await phone.locator(f"#keah li[data-event='{on_time.event_id}']").wait_for(timeout=TIMEOUT_MS)
    assert await axe_violations(phone, axe_source()) == []

    # Without a token the board asks for a KEaH organiser's, then the confirmation goes through.
    await first.get_by_role("button", name="Referrer told").click()
    await page.wait_for_selector("#token-dialog:not([hidden])", timeout=TIMEOUT_MS)
    assert "KEaH organiser's token" in await page.locator("#token-why").inner_text()
    await page.fill("#token-input", ORGANISER_TOKEN)
    await page.click("#token-form button[type=submit]")
    await first.get_by_role("button", name="Referrer told").click()
    await page.wait_for_selector(
        f"#keah-status:has-text('Referrer told for {on_time.event_id}')", timeout=TIMEOUT_MS
    )
    await first.wait_for(state="detached", timeout=TIMEOUT_MS)
    await second.get_by_role("button", name="Referrer told").click()
    await second.wait_for(state="detached", timeout=TIMEOUT_MS)

    queued = await read_commands(broker, stack.topics["commands"].name, 2)
    assert sorted((key, command["type"], command["author"]) for key, command in queued) == sorted(
        (event.event_id, "keah_referrer_told", "keah-organiser") for event in (on_time, late)
    )
    assert {command["event_id"] for _, command in queued} == {on_time.event_id, late.event_id}
    await page.wait_for_selector("#keah-summary:has-text('No KEaH referral is waiting')", timeout=TIMEOUT_MS)
    assert await page.locator("#keah li").count() == 0
    # The confirmation from the board is what the 2-hour rule counts: one in time, one late.
    await until(lambda: alerting.keah_figures() == (1, 1, 0), "alerting counted both confirmations")
    assert [e for e in console.errors if "401" not in e] == []
