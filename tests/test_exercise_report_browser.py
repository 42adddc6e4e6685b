"""The after-action report (`opel exercise report`) opened offline in real headless Chromium:
what the reader sees matches report.json, the page asks for nothing outside itself, and axe-core
finds no serious accessibility problem, on screen and as printed.

Needs /usr/bin/chromium (apt-get install -y chromium) and axe-core (``npm ci --prefix tests``);
without them the test skips, unless OPEL_REQUIRE_BROWSER is set (as in CI).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Final

import pytest
from playwright.sync_api import Page, Request, sync_playwright

from opel.cli import main

CHROMIUM: Final = Path("/usr/bin/chromium")
ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]
TESTS: Final = Path(__file__).resolve().parent
AXE: Final = TESTS / "node_modules" / "axe-core" / "axe.min.js"
EXERCISES: Final = TESTS.parent / "triggers" / "exercises"


def require(path: Path, why: str) -> None:
    if path.exists():
        return
    if os.environ.get("OPEL_REQUIRE_BROWSER"):
        pytest.fail(f"OPEL_REQUIRE_BROWSER is set but {path} is missing ({why})")
    pytest.skip(f"{path} is missing ({why}); OPEL_REQUIRE_BROWSER=1 makes this a failure")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result: dict[str, Any] = page.evaluate(
        """async () => await window.axe.run(document, {
            runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
            resultTypes: ["violations"],
        })"""
    )
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def written(folder: Path) -> Path:
    scenario = EXERCISES / "east-kent-winter-surge.yaml"
    responses = EXERCISES / "east-kent-winter-surge.responses.yaml"
    assert (
        main(["exercise", "report", str(scenario), "--responses", str(responses), "--out", str(folder)]) == 0
    )
    return folder


def open_report(page_path: Path, shot: Path | None = None, height: int = 900) -> dict[str, Any]:
    """What the browser shows of the report, and anything it asked for outside the file."""
    outside: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": height})

            def note(request: Request) -> None:
                if not request.url.startswith(("file:", "data:", "about:")):
                    outside.append(request.url)

            page.on("request", note)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(page_path.as_uri())
            seen = {
                "banner": page.locator(".banner").inner_text(),
                "title": page.title(),
                "expected": [
                    row.locator("td").all_inner_texts() for row in page.locator("#expected tbody tr").all()
                ],
                "timeline": page.locator("#timeline tbody tr").count(),
                "levels": page.locator("#levels tbody tr").all_inner_texts(),
            }
            if shot is not None:
                page.screenshot(path=str(shot), full_page=False)
            seen["axe"] = axe_violations(page)
            page.emulate_media(media="print")
            seen["axe_print"] = axe_violations(page)
            seen["print_banner_visible"] = page.locator(".banner").is_visible()
        finally:
            browser.close()
    seen["outside"], seen["errors"] = outside, errors
    return seen


def test_the_report_page_shows_what_report_json_says(tmp_path: Path) -> None:
    require(CHROMIUM, "apt-get install -y chromium")
    require(AXE, "npm ci --prefix tests")
    out = written(tmp_path)
    report = json.loads((out / "report.json").read_text())
    seen = open_report(out / "report.html", tmp_path / "report.png")
    assert seen["outside"] == [], "the page asks for nothing outside itself"
    assert seen["errors"] == []
    assert seen["banner"].startswith("EXERCISE")
    assert seen["title"].startswith("EXERCISE")
    rows = seen["expected"]
    assert [row[1].split("\n")[-1] for row in rows] == [r["action_id"] for r in report["expected"]]
    assert [row[-1] for row in rows] == [
        "on time",
        "late by 10 min",
        "late by 20 min",
        "late by 30 min",
        "never done",
    ]
    assert seen["timeline"] == len(report["timeline"])
    assert seen["levels"] == ["area/east_kent\tOPEL 4", "county/kent\tOPEL 4"]
    assert seen["axe"] == []
    assert seen["axe_print"] == []
    assert seen["print_banner_visible"]
    assert (tmp_path / "report.png").stat().st_size > 20_000
