"""The words of the board's early-warning arrow (board-text.js ``warningText``), run in Chromium:
the projected level, the expected time in UK time in both DST periods, and the confidence."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from playwright.sync_api import Page
from support.stage_context import shipped_context
from test_web_board_text import browser as browser  # noqa: PLC0414  # the fixtures, shared
from test_web_board_text import call, ms
from test_web_board_text import page as page  # noqa: PLC0414

from opel.models import Reading
from opel.replay import replay


def opened_warning(start: dt.datetime) -> dict[str, Any]:
    """The first warning the core opens for staffing falling two points an hour from 85 %."""
    readings = [
        Reading(
            indicator="stp_staffing_pct",
            area="east_kent",
            value=85 - 2 * i,
            observed_at=start + dt.timedelta(hours=i),
        )
        for i in range(8)
    ]
    event = next(w for w in replay(readings, shipped_context()).warnings if w.data.status == "open")
    value: dict[str, Any] = json.loads(event.to_json())
    return value


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # Winter: UK time is UTC. Opened with the sixth reading (75 % at 11:00); 70 % 2.5 h on.
        (
            dt.datetime(2026, 1, 13, 6, 0, tzinfo=dt.UTC),
            "OPEL 2 amber expected about 13:30, confidence 100 %",
        ),
        # Summer: the same instants read an hour later in UK time.
        (
            dt.datetime(2026, 7, 14, 6, 0, tzinfo=dt.UTC),
            "OPEL 2 amber expected about 14:30, confidence 100 %",
        ),
    ],
)
def test_the_arrow_says_level_time_and_confidence(page: Page, start: dt.datetime, expected: str) -> None:
    warning = opened_warning(start)
    now = dt.datetime.fromisoformat(warning["data"]["opened_at"])
    assert call(page, "warningText", warning, ms(now)) == expected


def test_no_warning_no_words(page: Page) -> None:
    assert call(page, "warningText", None, 0) == ""
