"""`opel replay generate`: synthetic winters that replay under both Kent catalogues."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from opel.backtest.generate import SERIES, generate, keah_category, kent
from opel.backtest.history import parse_json_object
from opel.cli import main
from opel.models import Reading
from opel.replay import event_time

START = datetime(2025, 12, 1, tzinfo=UTC)


def test_the_same_seed_gives_the_same_bytes(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert main(["replay", "generate", "--days", "3", "--seed", "5", "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()
    assert main(["replay", "generate", "--days", "3", "--seed", "6", "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "a").read_bytes() != (tmp_path / "c").read_bytes()


def test_every_line_is_a_valid_input_and_some_are_missing_or_late() -> None:
    shape = kent(START, 10)
    values = list(generate(shape, 1))
    inputs = [parse_json_object(v) for v in values]
    times = [event_time(x) for x in inputs]
    assert times != sorted(times), "some readings arrive after later ones"
    readings = [x for x in inputs if isinstance(x, Reading) and not isinstance(x.value, str)]
    per_slot = len(shape.areas) * sum(1 for *_, hours in SERIES.values() if not hours)
    slots = 10 * 96 + 1
    frequent = [r for r in readings if not SERIES[r.indicator][3]]
    assert 0.9 * per_slot * slots < len(frequent) < per_slot * slots, "a few per cent go missing"
    assert {x.value for x in inputs if isinstance(x, Reading) and isinstance(x.value, str)} <= {
        "good",
        "limited",
        "very_limited",
        "none",
    }
    # No two readings of one area share an instant.
    stamps = Counter((r.area, r.observed_at, type(r.value) is str) for r in readings)
    assert max(stamps.values()) == 1


def test_winter_pressure_peaks_mid_season_and_on_weekdays() -> None:
    values = [parse_json_object(v) for v in generate(kent(START, 80, every=timedelta(hours=2)), 2)]
    staffing = [x for x in values if isinstance(x, Reading) and x.indicator == "stp_staffing_pct"]

    def mean(items: list[Reading]) -> float:
        return sum(float(r.value) for r in items) / len(items)

    first = [r for r in staffing if r.observed_at < START + timedelta(days=7)]
    peak = [r for r in staffing if START + timedelta(days=30) <= r.observed_at < START + timedelta(days=44)]
    assert mean(peak) < mean(first) - 5, "staffing falls towards the winter peak"
    monday = [r for r in staffing if r.observed_at.weekday() == 0]
    sunday = [r for r in staffing if r.observed_at.weekday() == 6]
    assert mean(monday) < mean(sunday)


def test_keah_category_follows_the_count() -> None:
    assert [keah_category(n) for n in (0, 1, 2, 3, 4, 5, 9)] == [
        "none",
        "very_limited",
        "very_limited",
        "limited",
        "limited",
        "good",
        "good",
    ]


def test_a_generated_winter_replays_under_both_catalogues(tmp_path: Path) -> None:
    history = tmp_path / "kent.jsonl"
    assert main(["replay", "generate", "--days", "6", "--every", "PT1H", "--out", str(history)]) == 0
    out = tmp_path / "out"
    args = ["replay", str(history), "--compare", "kcc-asch-2024-25", "kcc-asch-2025-26", "--out", str(out)]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["a"]["transitions"] > 20
    assert report["b"]["transitions"] > 20
    assert set(report["a"]["not_taken"]) == {"keah_capacity: value"}
    assert set(report["b"]["not_taken"]) == {"keah_capacity: value"}
