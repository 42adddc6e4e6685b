"""The roll-ups' work per reading does not grow with the number of areas (issue 11, point 6).

Not timed: the stages are run on the same number of readings over generated catalogues of 4 and
40 areas, with the roll-up functions counting the levels they read. The county reads four
per-level counts it keeps as areas change, and an area reads the indicators at its worst level,
so the count per reading stays the same; a rescan of every area per county change (as before)
makes it ten times larger at 40 areas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.shape import area_ids, readings, write_catalogue
from support.stage_context import shipped_context

from opel import rollup, timeline
from opel.catalogue_load import load_indicator_catalogue
from opel.contracts.stage import ReadingItem
from opel.stages import area as area_stage
from opel.stages import county as county_stage
from opel.stages.area import apply_area
from opel.stages.book import Book
from opel.stages.county import apply_county

READINGS_PER_AREA = 300
INDICATORS = 6
START = datetime(2026, 11, 1, tzinfo=UTC)


def counting(reads: list[int], fn: Callable[..., Any], size: Callable[..., int]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        reads[0] += size(*args, **kwargs)
        return fn(*args, **kwargs)

    return counted


def levels_read_per_reading(tmp_path: Path, areas: int, monkeypatch: pytest.MonkeyPatch) -> float:
    ctx = shipped_context(
        catalogue=load_indicator_catalogue(str(write_catalogue(tmp_path / str(areas), areas, INDICATORS))),
        policy=shipped_context(dwell=timedelta(seconds=2)).policy,
    )
    reads = [0]
    with monkeypatch.context() as patch:
        # Every roll-up the stages can call, counted by the levels (or level counts) it reads.
        patch.setattr(
            county_stage,
            "county_from_counts",
            counting(reads, rollup.county_from_counts, lambda r, c: len(c)),
        )
        patch.setattr(county_stage, "values", counting(reads, timeline.values, lambda t: len(t["members"])))
        patch.setattr(
            area_stage, "area_roll_up", counting(reads, rollup.area_roll_up, lambda a, w, d, n: len(d))
        )
        patch.setattr(area_stage, "area_level", counting(reads, rollup.area_level, lambda a, lv: len(lv)))
        # The rescan the county did before (every area's level per change), should it come back.
        patch.setattr(
            county_stage,
            "county_level",
            counting(reads, rollup.county_level, lambda r, lv: len(lv)),
            raising=False,
        )
        books: dict[str, Book] = {}
        county: Book | None = None
        for n, value in enumerate(stream(areas)):
            item = ReadingItem.trusted(kind="reading", source=None, submitted_by=None, **value)
            seen = START + timedelta(seconds=n)
            books[item.area], emit, _ = apply_area(books.get(item.area), item.area, (item,), ctx, seen)
            for report in emit.reports:
                county, _, _ = apply_county(county, (report,), ctx, seen)
    return reads[0] / (READINGS_PER_AREA * areas)


def stream(areas: int) -> Iterator[dict[str, Any]]:
    """READINGS_PER_AREA readings for each area, the same history for every area, interleaved: so
    areas change level as often per reading at any size, and only a roll-up's own cost can differ."""
    names = area_ids(areas)
    history = list(readings(READINGS_PER_AREA, START, 1, INDICATORS))
    for k, value in enumerate(history):
        for n, area in enumerate(names):
            at = START + timedelta(seconds=k, microseconds=n)
            yield value | {"area": area, "observed_at": at}


def test_roll_up_reads_per_reading_do_not_grow_with_the_number_of_areas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    few = levels_read_per_reading(tmp_path, 4, monkeypatch)
    many = levels_read_per_reading(tmp_path, 40, monkeypatch)
    assert few > 0
    # Every area has the same history at both sizes: only a rescan per change makes ``many`` grow.
    assert many <= few * 1.05, (few, many)
