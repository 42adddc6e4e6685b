"""The early warning on the status board in real headless Chromium (issue 16, point 2): an open
warning puts an arrow with the projected level, time and confidence in words beside its cell,
the cell keeps its level, and the arrow goes when the warning comes true; axe-core finds no
serious violation with the arrow shown."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.async_api import Browser
from support.local_stack import LocalStack
from support.stage_context import shipped_context

from opel.contracts.warning import WarningEvent
from opel.models import Reading
from opel.replay import replay

from .test_board_browser import (
    DESKTOP,
    TIMEOUT_MS,
    Console,
    axe_source,
    axe_violations,
    cell_text,
    open_board,
)
from .test_board_browser import browser as browser  # noqa: PLC0414  # the fixture, shared
from .test_board_browser import stack as stack  # noqa: PLC0414

pytestmark = pytest.mark.slow

SCOPE = "indicator/stp_staffing_pct/east_kent"


def staffing_warnings(now: dt.datetime) -> list[WarningEvent]:
    """What the worker publishes for staffing falling a point every half hour to 75 % now: a
    warning opened, then (two and a half hours on, at 69 %) come true."""
    start = now - dt.timedelta(hours=5)
    readings = [
        Reading(
            indicator="stp_staffing_pct",
            area="east_kent",
            value=85 - i,
            observed_at=start + dt.timedelta(minutes=30 * i),
        )
        for i in range(17)
    ]
    return [w for w in replay(readings, shipped_context()).warnings if w.subject == SCOPE][:2]


@pytest.fixture
def warned(stack: LocalStack) -> tuple[LocalStack, list[WarningEvent]]:
    events = staffing_warnings(dt.datetime.now(dt.UTC))
    assert [e.data.status for e in events] == ["open", "came_true"]
    return stack, events


async def test_an_open_warning_shows_an_arrow_beside_its_cell_until_it_comes_true(
    browser: Browser, warned: tuple[LocalStack, list[WarningEvent]]
) -> None:
    stack, (opened, came_true) = warned
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    console = Console(page)
    await open_board(page, stack.url)
    level_before = await cell_text(page, SCOPE)
    await stack.publish_warnings([opened])  # arrives over the event stream
    arrow = page.locator(f"td[data-scope='{SCOPE}'] .warning")
    await arrow.wait_for(timeout=TIMEOUT_MS)
    text = (await arrow.inner_text()).strip()
    assert "Early warning: OPEL 2 amber expected about" in text
    assert "confidence 100 %" in text
    assert await cell_text(page, SCOPE) == level_before  # a warning never changes a level

    # A fresh page reads it from GET /warnings.
    again = await context.new_page()
    await open_board(again, stack.url)
    await again.locator(f"td[data-scope='{SCOPE}'] .warning").wait_for(timeout=TIMEOUT_MS)
    assert await axe_violations(again, axe_source()) == []

    await stack.publish_warnings([came_true])
    await arrow.wait_for(state="detached", timeout=TIMEOUT_MS)
    assert console.errors == []
    await context.close()
