"""The board's files: self-contained, accessible colours, headings and table semantics."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib import resources
from typing import Final

import pytest

STATIC: Final = resources.files("streams.web") / "static"
CSS: Final = (STATIC / "board.css").read_text(encoding="utf-8")
HTML: Final = (STATIC / "board.html").read_text(encoding="utf-8")
JS: Final = (STATIC / "board.js").read_text(encoding="utf-8")
TEXT_JS: Final = (STATIC / "board-text.js").read_text(encoding="utf-8")
AA_NORMAL_TEXT: Final = 4.5


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(hex_colour: str) -> float:
    digits = hex_colour.lstrip("#")
    r, g, b = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def css_var(name: str) -> str:
    match = re.search(rf"--{name}:\s*(#[0-9a-fA-F]{{6}})\s*;", CSS)
    assert match, f"--{name} is not a six-digit hex colour in board.css"
    return match.group(1)


@pytest.mark.parametrize("level", ["1", "2", "3", "4", "none"])
def test_level_colours_meet_wcag_aa(level: str) -> None:
    ratio = contrast(css_var(f"level-{level}-bg"), css_var(f"level-{level}-fg"))
    assert ratio >= AA_NORMAL_TEXT, f"level {level}: {ratio:.2f}:1"


def test_black_cells_have_white_text() -> None:
    assert css_var("level-4-fg").lower() == "#ffffff"
    assert contrast(css_var("level-4-bg"), "#ffffff") >= 15


def test_stale_badge_is_readable() -> None:
    assert contrast(css_var("stale-bg"), css_var("stale-fg")) >= AA_NORMAL_TEXT


def test_no_external_resources() -> None:
    for text in (HTML, CSS, JS, TEXT_JS):
        assert not re.search(r"https?://", text), "the board must load nothing from elsewhere (no CDN)"
        assert "innerHTML" not in text  # server data is only ever inserted as text


def test_the_words_load_before_the_board() -> None:
    assert HTML.index("/static/board-text.js") < HTML.index("/static/board.js")


class _Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_page_structure() -> None:
    outline = _Outline()
    outline.feed(HTML)
    tags = [tag for tag, _ in outline.tags]
    assert tags.count("h1") == 1
    assert tags.count("h2") >= 5
    assert ("html", {"lang": "en-GB"}) in outline.tags
    assert any(tag == "meta" and attrs.get("name") == "viewport" for tag, attrs in outline.tags)
    assert "caption" in tags
    headers = [attrs for tag, attrs in outline.tags if tag == "th"]
    assert headers
    assert all(attrs.get("scope") in {"col", "row"} for attrs in headers)
    assert 'scope: "row"' in JS  # area names are row headers
