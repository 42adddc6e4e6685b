"""The scripted winter day: every message is valid and the story's levels hold under the catalogues."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from opel.acute_score import score_submission
from opel.assess import assess
from opel.catalogue_load import (
    DEFAULT_ACUTE_CATALOGUE,
    DEFAULT_INDICATOR_CATALOGUE,
    load_acute_catalogue,
    load_indicator_catalogue,
)
from opel.feeds import Override, ReferralEvent
from opel.models import AcuteSubmission, Reading
from streams import topics
from streams.codec import DECODERS, Rejected, key_for, topic_for
from streams.demo import SECONDS_PER_HOUR, Script, ending_now, play, winter_day
from streams.run_command import add_arguments

LONDON = ZoneInfo("Europe/London")
START = datetime(2025, 11, 17, 6, 0, tzinfo=LONDON)  # a Monday
INDICATORS = load_indicator_catalogue(DEFAULT_INDICATOR_CATALOGUE)
ACUTE = load_acute_catalogue(DEFAULT_ACUTE_CATALOGUE)
COUNT_INDICATORS = ("referrals", "health_caseload", "social_caseload")


@pytest.fixture(scope="module")
def script() -> Script:
    return winter_day(START, seconds_per_hour=SECONDS_PER_HOUR)


def event_time(topic: str, value: dict[str, Any]) -> datetime:
    name = {topics.REFERRAL_EVENTS: "occurred_at", topics.COMMANDS: "at"}.get(topic, "observed_at")
    return datetime.fromisoformat(value[name])


def test_every_message_is_valid_and_routed_as_produce_would(script: Script) -> None:
    for offset, topic, value in script:
        raw = json.dumps(value).encode("utf-8")
        decoded = DECODERS[topic](raw, 512 * 1024)
        assert not isinstance(decoded, Rejected), (offset, topic, value, decoded)
        assert topic_for(value) == topic
        assert key_for(topic, value) is not None


def test_the_day_plays_in_60_to_90_seconds_in_order(script: Script) -> None:
    offsets = [offset for offset, _, _ in script]
    assert offsets == sorted(offsets)
    assert offsets[0] == 0
    assert 60 <= offsets[-1] <= 90


def test_event_times_are_simulated_times(script: Script) -> None:
    for offset, topic, value in script:
        simulated = START + timedelta(hours=offset / SECONDS_PER_HOUR)
        assert abs(event_time(topic, value) - simulated) < timedelta(seconds=1), (offset, value)
        assert event_time(topic, value).utcoffset() is not None


def test_a_faster_clock_compresses_offsets_not_times() -> None:
    slow = winter_day(START, seconds_per_hour=10)
    fast = winter_day(START, seconds_per_hour=1)
    assert [v for _, _, v in slow] == [v for _, _, v in fast]
    assert [round(o / 10, 6) for o, _, _ in slow] == [o for o, _, _ in fast]


def test_ids_are_unique_and_name_no_one(script: Script) -> None:
    ids = [v["event_id"] for _, t, v in script if t == topics.REFERRAL_EVENTS]
    assert len(ids) == len(set(ids))
    other_day = winter_day(START + timedelta(days=1))
    assert not set(ids) & {v["event_id"] for _, t, v in other_day if t == topics.REFERRAL_EVENTS}


def test_only_catalogue_ids_are_used(script: Script) -> None:
    for *_, value in script:
        if "area" in value:
            assert value["area"] in INDICATORS.areas
        if "indicator" in value:
            assert value["indicator"] in INDICATORS.indicators
        if "site" in value:
            assert value["site"] in ACUTE.sites


@dataclass
class Board:
    """What the data alone says at a moment of the story: level per indicator, area and site."""

    indicator_levels: dict[tuple[str, str], int | None] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    sites: dict[str, int] = field(default_factory=dict)
    overrides: list[Override] = field(default_factory=list)

    def area(self, area: str) -> int:
        levels = [lv for (a, _), lv in self.indicator_levels.items() if a == area and lv is not None]
        return max(levels)


def replay(script: Script, until_hour: float) -> Board:
    """Fold the script up to ``until_hour`` the plain way: last reading wins, events move counts."""
    board = Board()
    for offset, topic, value in script:
        if offset / SECONDS_PER_HOUR > until_hour + 1e-9:
            break
        if topic == topics.ACUTE:
            submission = AcuteSubmission.model_validate(value)
            board.sites[submission.site] = int(score_submission(ACUTE, submission).level)
        elif topic == topics.COMMANDS:
            command = Override.model_validate(value)
            board.overrides.append(command)
        elif topic == topics.REFERRAL_EVENTS:
            _count(board, ReferralEvent.model_validate(value))
        else:
            reading = Reading.model_validate(value)
            level = assess(INDICATORS, reading).level
            board.indicator_levels[(reading.area, reading.indicator)] = None if level is None else int(level)
    return board


def _count(board: Board, event: ReferralEvent) -> None:
    counts = board.counts.setdefault(event.area, dict.fromkeys(COUNT_INDICATORS, 0))
    if event.kind == "snapshot":
        assert event.pending is not None
        assert event.health_caseload is not None
        assert event.social_caseload is not None
        counts.update(
            referrals=event.pending,
            health_caseload=event.health_caseload,
            social_caseload=event.social_caseload,
        )
    elif event.kind == "received":
        counts["referrals"] += event.count
    elif event.kind == "accepted":
        assert event.caseload is not None
        counts["referrals"] -= event.count
        counts[f"{event.caseload}_caseload"] += event.count
    elif event.caseload is None:
        counts["referrals"] -= event.count
    else:
        counts[f"{event.caseload}_caseload"] -= event.count
    assert min(counts.values()) >= 0, f"{event.area} counts went negative at {event.event_id}"
    for indicator, value in counts.items():
        reading = Reading(indicator=indicator, area=event.area, value=value, observed_at=event.occurred_at)
        level = assess(INDICATORS, reading).level
        board.indicator_levels[(event.area, indicator)] = None if level is None else int(level)


# (hour after 06:00, {area or site: level the data says}) - the story in the demo's docstring.
STORY: list[tuple[float, dict[str, int]]] = [
    (0.75, {"dgs": 1, "east_kent": 1, "swale": 1, "west_kent": 1, "william_harvey": 1, "maidstone": 1}),
    (2.0, {"east_kent": 2}),
    (3.5, {"east_kent": 2, "west_kent": 2}),
    (5.5, {"east_kent": 3, "william_harvey": 3}),
    (7.5, {"east_kent": 3, "west_kent": 3, "william_harvey": 3, "maidstone": 3, "dgs": 1}),
    (17.5, {"dgs": 1, "east_kent": 2, "swale": 1, "west_kent": 2, "william_harvey": 2, "maidstone": 2}),
]


@pytest.mark.parametrize(("hour", "expected"), STORY, ids=[f"{6 + h:05.2f}h" for h, _ in STORY])
def test_the_story_levels_hold(script: Script, hour: float, expected: dict[str, int]) -> None:
    board = replay(script, hour)
    actual = {name: board.sites[name] if name in board.sites else board.area(name) for name in expected}
    assert actual == expected


def test_acute_sites_peak_at_opel_3_and_never_4(script: Script) -> None:
    peaks: dict[str, int] = {}
    for _, topic, value in script:
        if topic == topics.ACUTE:
            level = int(score_submission(ACUTE, AcuteSubmission.model_validate(value)).level)
            peaks[value["site"]] = max(peaks.get(value["site"], 0), level)
    assert peaks == {"william_harvey": 3, "maidstone": 3}


def test_east_kent_staffing_and_keah_go_amber_then_red(script: Script) -> None:
    seen: dict[str, list[int]] = {"stp_staffing_pct": [], "keah_capacity": []}
    for _, topic, value in script:
        if topic == topics.CAPACITY and value["area"] == "east_kent" and value["indicator"] in seen:
            level = assess(INDICATORS, Reading.model_validate(value)).level
            assert level is not None
            levels = seen[value["indicator"]]
            if not levels or levels[-1] != int(level):
                levels.append(int(level))
    assert seen["stp_staffing_pct"] == [1, 2, 3, 2, 1]
    assert seen["keah_capacity"] == [1, 2, 3, 2]


def test_the_afternoon_override_names_its_author_and_reason(script: Script) -> None:
    board = replay(script, 17)
    [override] = board.overrides
    assert (override.scope, override.level) == ("county/kent", 3)
    assert override.author
    assert "OPEL 3" in override.reason
    assert override.at.astimezone(LONDON).hour == 14
    assert override.expires_at.astimezone(LONDON).hour == 20


def test_one_keah_referral_has_no_start_date_within_24_hours(script: Script) -> None:
    keah = [v for _, t, v in script if t == topics.REFERRAL_EVENTS and v.get("service") == "keah"]
    assert [v["start_date_within_24h"] for v in keah].count(False) == 1
    late = next(v for v in keah if v["start_date_within_24h"] is False)
    assert (late["area"], late["kind"]) == ("east_kent", "received")


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        winter_day(datetime(2025, 11, 17, 6))  # naive on purpose


async def test_play_sends_in_order_with_keys_and_paces_by_offset() -> None:
    script: Script = [
        (0.0, topics.CAPACITY, {"indicator": "referrals", "area": "dgs", "value": 1, "observed_at": "x"}),
        (0.2, topics.ACUTE, {"site": "maidstone"}),
        (0.4, topics.COMMANDS, {"type": "reload_catalogues"}),
    ]
    sent: list[tuple[float, str, bytes | None, bytes]] = []
    loop = asyncio.get_running_loop()
    began = loop.time()

    async def send(topic: str, key: bytes | None, value: bytes) -> None:
        sent.append((loop.time() - began, topic, key, value))

    assert await play(script, send, speed=2.0) == 3
    assert [(t, k) for _, t, k, _ in sent] == [
        (topics.CAPACITY, b"dgs"),
        (topics.ACUTE, b"maidstone"),
        (topics.COMMANDS, None),
    ]
    assert [json.loads(v) for *_, v in sent] == [v for _, _, v in script]
    # Never early: each send waits at least its offset / speed (lateness is the machine's, not checked).
    for (at, *_), (offset, _, _) in zip(sent, script, strict=True):
        assert at >= offset / 2.0 - 0.01


async def test_play_refuses_a_speed_of_zero() -> None:
    async def send(topic: str, key: bytes | None, value: bytes) -> None:
        raise AssertionError("nothing should be sent")

    with pytest.raises(ValueError, match="speed"):
        await play([], send, speed=0)


def test_on_item_sees_every_offset(script: Script) -> None:
    offsets: list[float] = []

    async def send(topic: str, key: bytes | None, value: bytes) -> None:
        return None

    callback: Callable[[float], None] = offsets.append
    asyncio.run(play(script[:20], send, speed=1e6, on_item=callback))
    assert offsets == [offset for offset, _, _ in script[:20]]


def test_the_default_day_ends_now_so_nothing_is_stamped_in_the_future() -> None:
    now = datetime(2026, 12, 2, 14, 37, 21, tzinfo=UTC)
    script = winter_day(ending_now(now))
    times = [
        datetime.fromisoformat(value.get("observed_at") or value.get("occurred_at") or value["at"])
        for _, _, value in script
    ]
    assert max(times) <= now
    assert now - max(times) < timedelta(hours=1)


def test_opel_run_takes_the_demo_start_like_opel_demo() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--demo", "--speed", "4", "--start", "2026-01-05T06:00"])
    assert (args.demo, args.speed) == (True, 4.0)
    assert args.start == datetime(2026, 1, 5, 6, 0, tzinfo=UTC)  # Kent time in winter is UTC
    assert parser.parse_args(["--demo"]).start is None
