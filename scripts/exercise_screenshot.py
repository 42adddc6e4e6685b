"""Photograph the after-action report of the shipped East Kent winter surge, scored with its
sample responses: docs/exercise-report.png. Runs `opel exercise report` into a temporary folder
and opens report.html in headless Chromium (/usr/bin/chromium). Nothing leaves the machine.

    .venv/bin/python scripts/exercise_screenshot.py [--out docs/exercise-report.png] [--height 1400]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Final

from playwright.sync_api import sync_playwright

from opel.cli import main as opel

REPO: Final = Path(__file__).resolve().parent.parent
EXERCISES: Final = REPO / "triggers" / "exercises"
CHROMIUM: Final = "/usr/bin/chromium"
CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "exercise-report.png")
    parser.add_argument("--height", type=int, default=1400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        code = opel(
            [
                "exercise",
                "report",
                str(EXERCISES / "east-kent-winter-surge.yaml"),
                "--responses",
                str(EXERCISES / "east-kent-winter-surge.responses.yaml"),
                "--out",
                temp,
            ]
        )
        if code != 0:
            return code
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1300, "height": args.height})
                page.goto((Path(temp) / "report.html").as_uri())
                page.screenshot(path=str(args.out), full_page=False)
            finally:
                browser.close()
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
