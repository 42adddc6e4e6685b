"""The KEaH due times the API and board show are the ones alerting keeps: the routing file's
``clock.keah_within`` (the plan says 2 hours in 7.6 and 4 in 7.7; docs/semantics.md), read by
`opel run` for its web server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Final

from streams.run_command import _keah_within
from streams.web.duties import KEAH_WITHIN

SHIPPED: Final = Path(__file__).resolve().parents[1] / "config" / "routing.yaml"


def test_the_shipped_routing_gives_the_plans_two_hours() -> None:
    assert dt.timedelta(hours=2) == KEAH_WITHIN
    assert _keah_within(SHIPPED) == KEAH_WITHIN
    assert _keah_within(None) == KEAH_WITHIN


def test_a_routing_file_that_sets_four_hours_is_followed(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    assert "  keah_within: 2h " in text
    routing = tmp_path / "routing.yaml"
    routing.write_text(text.replace("  keah_within: 2h ", "  keah_within: 4h "), encoding="utf-8")
    assert _keah_within(routing) == dt.timedelta(hours=4)


def test_an_unreadable_routing_file_falls_back_to_the_plans_two_hours(tmp_path: Path) -> None:
    # Alerting refuses the same file and says why; the board still shows the plan's deadline.
    broken = tmp_path / "routing.yaml"
    broken.write_text("clock: [", encoding="utf-8")
    assert _keah_within(broken) == KEAH_WITHIN
    assert _keah_within(tmp_path / "missing.yaml") == KEAH_WITHIN
