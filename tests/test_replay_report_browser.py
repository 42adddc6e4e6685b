"""report.html of `opel replay --compare kcc-asch-2024-25 kcc-asch-2025-26` on a generated Kent
winter, opened offline in real headless Chromium, its numbers checked against a slow reference.

Needs /usr/bin/chromium (apt-get install -y chromium); without it the browser test skips,
unless OPEL_REQUIRE_BROWSER is set (as in CI). ``python tests/test_replay_report_browser.py
docs/replay-report.png`` writes the screenshot kept in docs/.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import pytest
from playwright.sync_api import Request, sync_playwright

from opel.cli import main

CHROMIUM: Final = Path("/usr/bin/chromium")
ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]
A, B = "kcc-asch-2024-25", "kcc-asch-2025-26"
STEP: Final = timedelta(minutes=1)
DAYS: Final = 6


def require_browser() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("OPEL_REQUIRE_BROWSER"):
        pytest.fail(f"OPEL_REQUIRE_BROWSER is set but {CHROMIUM} is missing (apt-get install -y chromium)")
    pytest.skip(
        f"{CHROMIUM} is missing (apt-get install -y chromium); OPEL_REQUIRE_BROWSER=1 makes this a failure"
    )


def replayed(folder: Path, days: int = DAYS) -> Path:
    history = folder / "winter.jsonl"
    assert main(["replay", "generate", "--days", str(days), "--seed", "7", "--out", str(history)]) == 0
    out = folder / "report"
    assert main(["replay", str(history), "--compare", A, B, "--out", str(out)]) == 0
    return out


def reference_levels(path: Path, start: datetime, end: datetime) -> dict[str, list[int | None]]:
    """The slow reference: per scope, the level in force at every minute of the history, found by
    scanning its events from the first (no segments, no bisect, nothing shared with the report)."""
    events: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        event = json.loads(line)
        events[event["subject"]].append((datetime.fromisoformat(event["time"]), event["data"]["to_level"]))
    minutes = int((end - start) / STEP)
    out: dict[str, list[int | None]] = {}
    for scope, changes in events.items():
        levels: list[int | None] = []
        for n in range(minutes):
            when = start + n * STEP
            level = None
            for at, to in changes:
                if at <= when:
                    level = to
            levels.append(level)
        out[scope] = levels
    return out


def days_at(levels: list[int | None], level: int) -> float:
    return sum(1 for lv in levels if lv == level) * STEP / timedelta(days=1)


def test_the_report_opens_offline_and_its_numbers_match_a_slow_reference(tmp_path: Path) -> None:
    require_browser()
    out = replayed(tmp_path)
    report = json.loads((out / "report.json").read_text())
    start = datetime.fromisoformat(report["a"]["start"]).astimezone(UTC)
    end = datetime.fromisoformat(report["a"]["end"]).astimezone(UTC)
    ref_a = reference_levels(out / "transitions.jsonl", start, end)
    ref_b = reference_levels(out / "transitions-compare.jsonl", start, end)
    page_days, page_periods, requests = read_page(out / "report.html", tmp_path / "report.png")
    assert requests == [], "the page asks for nothing outside itself"
    assert (tmp_path / "report.png").stat().st_size > 20_000
    shown = [s for s in page_days if s.startswith(("county/", "area/"))]
    assert shown[0] == "county/kent"
    assert len(shown) == 5
    tolerance = 1.5 * STEP / timedelta(days=1) + 0.005  # the reference's minute and the page's 2 decimals
    for scope in shown:
        for level in (1, 2, 3, 4):
            assert page_days[scope][f"{level}-{A}"] == pytest.approx(
                days_at(ref_a.get(scope, []), level), abs=tolerance
            ), (scope, level, A)
            assert page_days[scope][f"{level}-{B}"] == pytest.approx(
                days_at(ref_b.get(scope, []), level), abs=tolerance
            ), (scope, level, B)
        differing = (
            sum(1 for x, y in zip(ref_a.get(scope, []), ref_b.get(scope, []), strict=True) if x != y)
            * STEP
            / timedelta(days=1)
        )
        assert sum(page_periods.get(scope, [])) == pytest.approx(
            differing, abs=tolerance * (1 + len(page_periods.get(scope, [])))
        ), scope
    assert sum(days_at(ref_a["county/kent"], lv) for lv in (1, 2, 3, 4)) > DAYS - 1
    assert any(page_periods.get(scope) for scope in shown), "the two plans differ somewhere"


def read_page(
    page_path: Path, shot: Path, height: int = 900
) -> tuple[dict[str, dict[str, float]], dict[str, list[float]], list[str]]:
    """The days table and the periods table as the browser shows them, and any request made
    for something outside the file."""
    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": height})

            def note(request: Request) -> None:
                if not request.url.startswith(("file:", "data:", "about:")):
                    outside.append(request.url)

            page.on("request", note)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(page_path.as_uri())
            assert page.locator("figure#timeline svg").count() == 1
            assert page.locator("figure#days svg").count() == 1
            assert page.locator("figure#timeline svg").bounding_box()["height"] > 200  # type: ignore[index]
            head = page.locator("#days-table thead th").all_inner_texts()
            rows: dict[str, dict[str, float]] = {}
            for row in page.locator("#days-table tbody tr").all():
                cells = row.locator("td").all_inner_texts()
                columns = [h.replace("\n", " ") for h in head[1:]]
                rows[row.get_attribute("data-scope") or ""] = {
                    f"{c.split()[1]}-{c.split()[2]}": float(v) for c, v in zip(columns, cells, strict=True)
                }
            periods: dict[str, list[float]] = defaultdict(list)
            for row in page.locator("#periods tbody tr").all():
                periods[row.get_attribute("data-scope") or ""].append(
                    float(row.locator("td").nth(3).inner_text())
                )
            page.screenshot(path=str(shot), full_page=False)
            assert errors == []
        finally:
            browser.close()
    return rows, dict(periods), outside


def write_screenshot(target: Path, folder: Path, days: int) -> None:
    out = replayed(folder, days)
    read_page(out / "report.html", target, height=2300)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as temp:
        write_screenshot(Path(sys.argv[1]), Path(temp), int(sys.argv[2]) if len(sys.argv) > 2 else 30)
    print(f"written {sys.argv[1]}")
