"""The columnar replay spread over worker processes (``opel replay --jobs N``) gives what one
process gives, byte for byte: blocks are merged in block order, whatever order they finish in."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from opel.backtest import by_area
from opel.backtest.national import (
    ACUTE_CATALOGUE_FILE,
    ACUTE_FILE,
    CATALOGUE_FILE,
    READINGS_FILE,
    NationalShape,
    write_national,
)
from opel.backtest.run import build_context, run_parquet
from opel.cli import main

SMALL = NationalShape(datetime(2025, 12, 1, tzinfo=UTC), 1, areas=6, sites=9, systems=3)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("national-jobs")
    write_national(folder, SMALL, seed=7)
    return folder


def test_worker_processes_give_one_process_outcome(sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(by_area, "BLOCK_ROWS", 1)  # one area per block: six blocks over two workers
    recipe = partial(build_context, str(sample / CATALOGUE_FILE), acute=str(sample / ACUTE_CATALOGUE_FILE))
    paths = [sample / READINGS_FILE, sample / ACUTE_FILE]
    told: list[int] = []
    serial = run_parquet(paths, [recipe()], jobs=1)
    spread = run_parquet(paths, [recipe()], told.append, jobs=2, recipes=[recipe])
    assert serial is not None
    assert spread is not None
    (a,), (b,) = serial, spread
    assert [e.to_json() for e in a.events] == [e.to_json() for e in b.events]
    assert (a.catalogue, a.start, a.end, a.inputs, a.not_taken) == (
        b.catalogue,
        b.start,
        b.end,
        b.inputs,
        b.not_taken,
    )
    assert len(told) == len(by_area.blocks([sample / READINGS_FILE], 1)) + 1  # each block, then acute
    assert sum(told) == by_area.total_readings(paths)


def test_jobs_on_the_command_line(sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(by_area, "BLOCK_ROWS", 1)
    files = [str(sample / READINGS_FILE), str(sample / ACUTE_FILE)]
    catalogues = ["--catalogue", str(sample / CATALOGUE_FILE), "--acute", str(sample / ACUTE_CATALOGUE_FILE)]
    for jobs in ("1", "2"):
        assert main(["replay", *files, *catalogues, "--jobs", jobs, "--out", str(tmp_path / jobs)]) == 0
    for name in ("transitions.jsonl", "report.json"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes()


@pytest.mark.parametrize("jobs", ["0", "-1", "two"])
def test_jobs_must_be_a_positive_number(jobs: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["replay", "history.parquet", "--catalogue", "kent", "--jobs", jobs])
    assert exit_.value.code == 2
    assert "not a number of processes" in capsys.readouterr().err
