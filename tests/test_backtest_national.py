"""The national generator, and the national replay (a block of areas at a time, sites and systems
in columns) against the per-reading core on small national-shaped samples.

The samples have the national shape at a smaller size: councils with the 40 generated indicator
series (a category, not-assessed series, thresholds that differ by indicator), sites every 15
minutes dealt into systems, missing readings, outages and late arrivals. The fast path must give
the core's transition keys, under the catalogues' dwell and a short one, in one block and in
many.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from opel.backtest import by_area
from opel.backtest.history import check_history, read_history
from opel.backtest.national import (
    ACUTE_CATALOGUE_FILE,
    ACUTE_FILE,
    CATALOGUE_FILE,
    READINGS_FILE,
    SERIES_PER_AREA,
    NationalShape,
    write_national,
)
from opel.backtest.run import build_context, run_parquet, sorted_events
from opel.catalogue import AcuteCatalogue, IndicatorCatalogue
from opel.catalogue_load import load_catalogue
from opel.cli import main
from opel.contracts.escalation import EscalationEvent
from opel.replay import replay, transition_key
from opel.stages.context import Context

SMALL = NationalShape(datetime(2025, 12, 1, tzinfo=UTC), 1, areas=6, sites=9, systems=3)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("national")
    write_national(folder, SMALL, seed=5)
    return folder


def _files(folder: Path) -> list[str]:
    return [str(folder / READINGS_FILE), str(folder / ACUTE_FILE)]


def _catalogues(folder: Path) -> list[str]:
    return ["--catalogue", str(folder / CATALOGUE_FILE), "--acute", str(folder / ACUTE_CATALOGUE_FILE)]


def test_generated_catalogues_have_the_national_shape(sample: Path) -> None:
    indicators = load_catalogue(str(sample / CATALOGUE_FILE))
    acute = load_catalogue(str(sample / ACUTE_CATALOGUE_FILE))
    assert isinstance(indicators, IndicatorCatalogue)
    assert isinstance(acute, AcuteCatalogue)
    assert len(indicators.areas) == SMALL.areas
    assert len(indicators.indicators) == SERIES_PER_AREA
    assert len(acute.sites) == SMALL.sites
    assert sorted(s for system in acute.systems.values() for s in system.weights) == sorted(acute.sites)


def test_histories_have_gaps_and_late_arrivals(sample: Path) -> None:
    readings = pl.read_parquet(sample / READINGS_FILE)
    slots = SMALL.slots(SMALL.every) + 1
    full = SMALL.areas * SERIES_PER_AREA * slots
    assert 0.9 * full < len(readings) < 0.99 * full  # about one in fifty missing, and outages
    times = readings["observed_at"].to_list()
    assert any(b < a for a, b in itertools.pairwise(times))  # rows in arrival order
    assert readings["category"].drop_nulls().n_unique() > 1
    acute = pl.read_parquet(sample / ACUTE_FILE)
    assert acute["site"].n_unique() == SMALL.sites
    assert acute["ambulance_handover_mean_min"].null_count() > 0  # parameters not reported


def test_generation_is_deterministic(sample: Path, tmp_path: Path) -> None:
    write_national(tmp_path, SMALL, seed=5)
    for name in (READINGS_FILE, ACUTE_FILE):
        assert pl.read_parquet(tmp_path / name).equals(pl.read_parquet(sample / name))
    assert (tmp_path / CATALOGUE_FILE).read_text() == (sample / CATALOGUE_FILE).read_text()


def test_national_replay_gives_the_cores_transitions_and_report(sample: Path, tmp_path: Path) -> None:
    for engine in ("core", "auto"):
        args = [*_files(sample), *_catalogues(sample), "--engine", engine]
        assert main(["replay", *args, "--out", str(tmp_path / engine)]) == 0
    core, fast = (
        [(e["subject"], e["id"]) for e in map(json.loads, (tmp_path / engine / "transitions.jsonl").open())]
        for engine in ("core", "auto")
    )
    assert core == fast
    assert {s.split("/")[0] for s, _ in core} == {"indicator", "area", "county", "site", "system"}
    assert json.loads((tmp_path / "core" / "report.json").read_text()) == json.loads(
        (tmp_path / "auto" / "report.json").read_text()
    )


SHORT_DWELL = timedelta(hours=2)


def _short_dwell(sample: Path) -> Context:
    return build_context(
        str(sample / CATALOGUE_FILE), acute=str(sample / ACUTE_CATALOGUE_FILE), dwell=SHORT_DWELL
    )


@pytest.fixture(scope="module")
def core_short_dwell(sample: Path) -> list[EscalationEvent]:
    """The per-reading core's events under a short dwell (many step-downs, of sites and systems too)."""
    ctx = _short_dwell(sample)
    history = read_history([sample / READINGS_FILE, sample / ACUTE_FILE])
    assert history.end is not None
    (accepted,) = check_history(history, [ctx], history.end)
    return sorted_events(replay(accepted.inputs, ctx, seen=history.end).escalations)


@pytest.mark.parametrize("block_rows", [1, by_area.BLOCK_ROWS])
def test_blocks_of_areas_give_the_cores_transitions(
    sample: Path, core_short_dwell: list[EscalationEvent], block_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One area per block and one block: the core's transitions, and its events byte for byte."""
    monkeypatch.setattr(by_area, "BLOCK_ROWS", block_rows)
    fast = run_parquet([sample / READINGS_FILE, sample / ACUTE_FILE], [_short_dwell(sample)])
    assert fast is not None
    core = core_short_dwell
    assert [transition_key(e) for e in fast[0].events] == [transition_key(e) for e in core]
    dwell_steps = [e for e in core if e.data.cause == "dwell"]
    assert {e.subject.split("/")[0] for e in dwell_steps} >= {"indicator", "area", "site", "system"}
    for a, b in zip(core, fast[0].events, strict=True):
        if not (a.subject.startswith("county/") and a.data.cause == "dwell"):
            assert a.to_json() == b.to_json()


def test_national_needs_an_out_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "generate", "--scale", "national", "--days", "1"]) == 2
    assert "needs --out DIR" in capsys.readouterr().err


def test_report_charts_the_worst_areas_when_there_are_many() -> None:
    from opel.backtest.report_html import CHARTED_AREAS, chart_heading, chart_scopes  # noqa: PLC0415

    days = {
        f"area/council_{n:03d}": {"1": 1.0, "2": 0.0, "3": float(n % 20), "4": float(n // 20)}
        for n in range(40)
    }
    days["county/england"] = {"1": 1.0, "2": 0.0, "3": 0.0, "4": 0.0}
    scopes = chart_scopes(days)
    assert scopes[0] == "county/england"
    assert len(scopes) == 1 + CHARTED_AREAS
    # OPEL 3 and 4 together: n % 20 + n // 20, so the 24 worst are 8..19 and 28..39.
    assert scopes[1:] == [f"area/council_{n:03d}" for n in (*range(8, 20), *range(28, 40))]
    assert "24 of 40 areas" in chart_heading(days)
