"""The board's words (streams/web/static/board-text.js) for levels, times and scores, run in Chromium.

Every helper is a pure function of a status value (the contract's JSON) and the time now, so it
is called directly in a blank page. Needs /usr/bin/chromium; without it these tests skip, unless
OPEL_REQUIRE_BROWSER is set (as in CI).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Final

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from support.demo import demo_statuses, held, status_record
from support.progress import announce

from opel.contracts.status import AnyStatus

CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMIUM_ARGS: Final = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
SCRIPT: Final = (resources.files("streams.web") / "static" / "board-text.js").read_text(encoding="utf-8")
NOW: Final = dt.datetime(2025, 11, 12, 9, 30, tzinfo=dt.UTC)  # GMT: UK time is UTC


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("OPEL_REQUIRE_BROWSER"):
            pytest.fail(f"OPEL_REQUIRE_BROWSER is set but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as pw:
        announce("starting headless Chromium")
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def page(browser: Browser) -> Iterator[Page]:
    opened = browser.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.set_content("<!doctype html><html lang='en-GB'><body></body></html>")
    opened.add_script_tag(content=SCRIPT)
    yield opened
    assert errors == []
    opened.close()


def call(page: Page, name: str, *args: Any) -> Any:
    """``OpelText.<name>(*args)`` in the page; datetimes go as ISO strings or epoch ms (``now``)."""
    return page.evaluate("([name, args]) => window.OpelText[name](...args)", [name, list(args)])


def ms(at: dt.datetime) -> float:
    return at.timestamp() * 1000


def iso(at: dt.datetime) -> str:
    return at.isoformat()


def shown(status: AnyStatus) -> dict[str, Any]:
    """The status as the API sends it to the board."""
    value: dict[str, Any] = json.loads(status.to_json())
    return value


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (30, "less than a minute"),
        (5 * 60 + 59, "5 min"),
        (2 * 3600, "2 h"),
        (2 * 3600 + 10 * 60, "2 h 10 min"),
        (3 * 86400, "3 d"),
        (3 * 86400 + 4 * 3600 + 59 * 60, "3 d 4 h"),
    ],
)
def test_span(page: Page, seconds: int, text: str) -> None:
    assert call(page, "span", seconds * 1000) == text


@pytest.mark.parametrize(
    ("at", "now", "text"),
    [
        ("2025-11-12T09:30:00Z", NOW, "09:30"),
        ("2025-11-13T09:30:00Z", NOW, "09:30 tomorrow"),
        ("2025-11-11T17:05:00Z", NOW, "17:05 yesterday"),
        ("2025-11-15T08:00:00Z", NOW, "15 Nov 08:00"),
        ("2025-11-01T08:00:00Z", NOW, "1 Nov 08:00"),
        # Summer: UK time is an hour ahead of UTC.
        ("2025-07-01T08:30:00Z", dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC), "09:30"),
        # The UK day, not the UTC one, decides "tomorrow": 23:30 BST is already the next day in UTC.
        ("2025-07-01T22:30:00Z", dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC), "23:30"),
        ("2025-07-01T23:10:00Z", dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC), "00:10 tomorrow"),
    ],
)
def test_clock(page: Page, at: str, now: dt.datetime, text: str) -> None:
    assert call(page, "clock", at, ms(now)) == text


def test_past_times_read_naturally(page: Page) -> None:
    then = iso(NOW - dt.timedelta(hours=2, minutes=10))
    assert call(page, "ago", then, ms(NOW)) == "2 h 10 min ago"
    assert call(page, "lasting", then, ms(NOW)) == "for 2 h 10 min"
    assert call(page, "ago", iso(NOW - dt.timedelta(seconds=20)), ms(NOW)) == "just now"
    assert call(page, "lasting", iso(NOW - dt.timedelta(seconds=20)), ms(NOW)) == "since 09:29"
    assert call(page, "lasting", iso(NOW - dt.timedelta(days=2)), ms(NOW)) == "for 2 d"


def test_future_times_are_clock_times_never_relative(page: Page) -> None:
    ahead = iso(NOW + dt.timedelta(hours=16, minutes=58))
    assert call(page, "ago", ahead, ms(NOW)) == "at 02:28 tomorrow"
    assert call(page, "lasting", ahead, ms(NOW)) == "from 02:28 tomorrow"
    for name in ("ago", "lasting", "clock"):
        for minutes in (2, 59, 60 * 5, 60 * 30, 60 * 24 * 9):
            text = call(page, name, iso(NOW + dt.timedelta(minutes=minutes)), ms(NOW))
            assert " in " not in f" {text}", (name, minutes, text)
            assert " ago" not in text, (name, minutes, text)
            assert " min" not in text, (name, minutes, text)
    # Clocks a few seconds apart are not "the future".
    assert call(page, "ago", iso(NOW + dt.timedelta(seconds=20)), ms(NOW)) == "just now"


def test_unreadable_times_say_so(page: Page) -> None:
    assert call(page, "ago", None, ms(NOW)) == "at an unknown time"
    assert call(page, "clock", "yesterday", ms(NOW)) == "an unknown time"
    assert call(page, "lasting", "", ms(NOW)) == "since an unknown time"


def test_a_held_indicator_says_what_the_data_gives_and_until_when(page: Page) -> None:
    """The issue's example: a red cell held by the wait says so beside its value."""
    lower = dt.datetime(2025, 11, 12, 9, 30, tzinfo=dt.UTC)
    status = status_record(
        "indicator/stp_staffing_pct/west_kent",
        3,
        at=lower,
        computed_level=1,
        held=held(3, 1, lower),
        value=71,
        band=">=70",
    )
    now = ms(lower + dt.timedelta(hours=2))
    assert call(page, "heldStory", shown(status), now) == (
        "71: OPEL 1 green since 09:30; held at OPEL 3 until 09:30 tomorrow"
    )
    assert call(page, "heldText", shown(status), now) == "held at OPEL 3 until 09:30 tomorrow"
    assert call(page, "dataText", shown(status), now) == "OPEL 1 green since 09:30"


def test_a_wait_that_ends_above_the_data_names_the_next_level(page: Page) -> None:
    lower = NOW - dt.timedelta(hours=1)
    status = status_record(
        "area/dgs", 4, at=NOW, computed_level=1, held=held(4, 1, lower, next_level=3), driving=["referrals"]
    )
    assert call(page, "heldStory", shown(status), ms(NOW)) == (
        "Data gives OPEL 1 green since 08:30; held at OPEL 4 until 08:30 tomorrow, then OPEL 3 red"
    )


def test_a_level_not_held_has_no_held_words(page: Page) -> None:
    status = status_record("indicator/referrals/dgs", 2, at=NOW, value=31)
    for name in ("heldStory", "heldText", "dataText"):
        assert call(page, name, shown(status), ms(NOW)) is None


def test_scores_read_n_of_the_scale(page: Page) -> None:
    statuses = {status.scope: shown(status) for status in demo_statuses(NOW)}
    assert call(page, "scoreText", statuses["site/kent_and_canterbury"]) == "15 of 44"
    assert call(page, "normalisedText", statuses["site/kent_and_canterbury"]) == "34.1 of 100"
    assert call(page, "scoreText", statuses["site/william_harvey"]) == "31 of 44"
    assert call(page, "scoreText", statuses["site/tunbridge_wells"]) == (
        "12 of 44; at most 16, 1 parameter not reported"
    )
    assert call(page, "scoreText", statuses["system/kent-medway"]) == "21.7 of 44"
    assert call(page, "normalisedText", statuses["system/kent-medway"]) == "49.3 of 100"


def test_scores_without_a_scale_or_a_score(page: Page) -> None:
    nothing = shown(status_record("site/maidstone", None, at=NOW))
    assert call(page, "scoreText", nothing) == "no score"
    assert call(page, "normalisedText", nothing) == "no normalised score"
    zero = shown(status_record("site/maidstone", 1, at=NOW, score=0))
    assert call(page, "scoreText", zero) == "0 of 44"  # the scale is the status's, not worked out
    assert call(page, "normalisedText", zero) == "0 of 100"
    # A value written before statuses carried score_scale: the scale follows from the normalised
    # score, unless the score is 0 and nothing says it.
    old = shown(status_record("site/kent_and_canterbury", 2, at=NOW, score=15))
    del old["score_scale"]
    assert call(page, "scoreText", old) == "15 of 44"
    old_zero = {key: value for key, value in zero.items() if key != "score_scale"}
    assert call(page, "scoreText", old_zero) == "0"
    other = {**shown(status_record("site/maidstone", 1, at=NOW, score=15)), "score_scale": 50}
    assert call(page, "scoreText", other) == "15 of 50"
    partial = shown(status_record("system/kent-medway", 2, at=NOW, score=14.5, missing=["qeqm", "maidstone"]))
    assert call(page, "scoreText", partial) == "14.5 of 44; 2 sites not reported"


def test_every_demo_status_reads_cleanly(page: Page) -> None:
    """No kind of status makes the words say "no value", "undefined", "NaN" or a relative future."""
    words = page.evaluate(
        """([statuses, now]) => statuses.map((s) => [s.scope, [
            window.OpelText.levelLabel(s.level), window.OpelText.heldStory(s, now) || "",
            window.OpelText.lasting(s.since, now), window.OpelText.ago(s.observed_at, now),
            s.kind === "site" || s.kind === "system" ? window.OpelText.scoreText(s) : "",
            s.kind === "site" || s.kind === "system" ? window.OpelText.normalisedText(s) : "",
            s.override ? window.OpelText.clock(s.override.expires_at, now) : "",
        ].join(" | ")])""",
        [[shown(status) for status in demo_statuses(NOW)], ms(NOW)],
    )
    assert len(words) == len(demo_statuses(NOW))
    for scope, text in words:
        for wrong in ("no value", "undefined", "NaN", "null", "since in", "ago ago", " in "):
            assert wrong not in text, (scope, text)
    by_scope = dict(words)
    assert "held at OPEL 3 until 07:20 tomorrow" in by_scope["indicator/stp_staffing_pct/west_kent"]
    assert "held at OPEL 3 until 07:20 tomorrow" in by_scope["area/west_kent"]
    assert by_scope["area/east_kent"].endswith("08:30 tomorrow")  # the override's expiry


def test_in_force_says_for_how_long_and_since_when_never_from_the_future(page: Page) -> None:
    assert call(page, "inForce", iso(NOW - dt.timedelta(hours=2, minutes=10)), ms(NOW)) == (
        "for 2 h 10 min (since 07:20)"
    )
    assert call(page, "inForce", iso(NOW - dt.timedelta(seconds=20)), ms(NOW)) == "since 09:29"
    assert call(page, "inForce", iso(NOW + dt.timedelta(hours=3)), ms(NOW)) == "since just now"


def test_the_county_reason_reads_as_a_sentence(page: Page) -> None:
    assert call(page, "countyReason", "in some areas: 2 of 4 assessed areas at OPEL 2 or above") == (
        "2 of 4 assessed areas at OPEL 2 or above (in some areas)"
    )
    assert call(page, "countyReason", "county-wide: 3 of 4 assessed areas at OPEL 3 or above (needs 3)") == (
        "3 of 4 assessed areas at OPEL 3 or above (needs 3) (county-wide)"
    )
    assert call(page, "countyReason", "all 4 assessed areas at OPEL 1") == "all 4 assessed areas at OPEL 1"
    assert call(page, "countyReason", None) is None


def change(hours_before: float, level: int | None) -> dict[str, Any]:
    return {"at": iso(NOW - dt.timedelta(hours=hours_before)), "level": level}


def test_strip_bands_cover_the_window_with_no_record_before_the_first_change(page: Page) -> None:
    start = ms(NOW - dt.timedelta(hours=24))
    bands = call(page, "bands", [change(17, 1), change(15, 2), change(15, 2), change(4, 3)], start, ms(NOW))
    assert [(b.get("level"), b["start"], b["end"]) for b in bands] == [
        (None, start, ms(NOW - dt.timedelta(hours=17))),  # undefined in the page: no record
        (1, ms(NOW - dt.timedelta(hours=17)), ms(NOW - dt.timedelta(hours=15))),
        (2, ms(NOW - dt.timedelta(hours=15)), ms(NOW - dt.timedelta(hours=4))),
        (3, ms(NOW - dt.timedelta(hours=4)), ms(NOW)),
    ]
    assert page.evaluate(
        "([c, from, now]) => window.OpelText.bands(c, from, now)[0].level === undefined",
        [[change(17, 1)], start, ms(NOW)],
    )
    # A level that began before the window fills it from the start; a change after now is not drawn.
    bands = call(page, "bands", [change(30, 2), change(-1, 4)], start, ms(NOW))
    assert [(b["level"], b["start"], b["end"]) for b in bands] == [(2, start, ms(NOW))]


def test_strip_words_say_what_the_bands_show(page: Page) -> None:
    start = ms(NOW - dt.timedelta(hours=24))
    changes = [change(17, 1), change(15, 2), change(4, 3)]
    assert call(page, "stripText", changes, start, ms(NOW)) == (
        "no record until 16:30 yesterday; OPEL 1 green from 16:30 to 18:30 yesterday; "
        "OPEL 2 amber from 18:30 yesterday to 05:30; OPEL 3 red since 05:30 (for 4 h)."
    )
    assert (
        call(page, "stripText", [change(30, 2)], start, ms(NOW)) == "OPEL 2 amber throughout (for 1 d 6 h)."
    )
    assert call(page, "stripText", [change(30, 1), change(2, None)], start, ms(NOW)) == (
        "OPEL 1 green until 07:30; not assessed since 07:30 (for 2 h)."
    )
    assert call(page, "stripText", [], start, ms(NOW)) == "no record."
    for words in (call(page, "stripText", c, start, ms(NOW)) for c in (changes, [change(0.01, 4)])):
        for wrong in ("undefined", "null", "NaN", " in ", "tomorrow"):
            assert wrong not in words, words


def test_in_force_from_takes_the_later_change_of_the_timeline(page: Page) -> None:
    """An override that ended gives back the state's level with the state's older since."""
    status = shown(status_record("county/kent", 2, at=NOW, since=NOW - dt.timedelta(hours=16)))
    timeline = [change(20, 2), change(9, 3), change(3, 2)]
    assert call(page, "inForceFrom", status, timeline) == iso(NOW - dt.timedelta(hours=3))
    assert call(page, "inForceFrom", status, []) == status["since"]
    # A timeline not yet at the status's level does not speak for it.
    assert call(page, "inForceFrom", status, [change(3, 4)]) == status["since"]
