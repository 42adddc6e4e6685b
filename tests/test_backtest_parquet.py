"""`opel replay` on Parquet: generated, read back, and refused with file, row and column named."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from opel.backtest.parquet import acute_path
from opel.cli import main


def opel(*args: str) -> int:
    return main(["replay", *args])


def keys(path: Path) -> list[tuple[str, str, str]]:
    return [(e["subject"], e["time"], e["id"]) for e in map(json.loads, path.read_text().splitlines())]


def test_a_generated_parquet_history_replays_as_its_json_lines(tmp_path: Path) -> None:
    for name in ("h.parquet", "h.jsonl"):
        assert (
            opel("generate", "--days", "2", "--seed", "3", "--keah", "count", "--out", str(tmp_path / name))
            == 0
        )
    assert acute_path(tmp_path / "h.parquet").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no partial file is left"
    parquet = [str(tmp_path / "h.parquet"), str(acute_path(tmp_path / "h.parquet"))]
    assert opel(*parquet, "--catalogue", "kcc-asch-2025-26", "--out", str(tmp_path / "p")) == 0
    assert (
        opel(str(tmp_path / "h.jsonl"), "--catalogue", "kcc-asch-2025-26", "--out", str(tmp_path / "j")) == 0
    )
    # The same transitions (a whole number read from a float column is written 29.0, not 29,
    # in an event's evidence: the bytes may differ there, never the transitions).
    assert keys(tmp_path / "p" / "transitions.jsonl") == keys(tmp_path / "j" / "transitions.jsonl")
    assert len(keys(tmp_path / "p" / "transitions.jsonl")) > 20


def readings_frame(rows: int = 3) -> pl.DataFrame:
    start = datetime(2025, 12, 1, 6, tzinfo=UTC)
    return pl.DataFrame(
        {
            "observed_at": [start + timedelta(hours=n) for n in range(rows)],
            "area": ["dgs"] * rows,
            "indicator": ["stp_staffing_pct"] * rows,
            "value": [80.0, 45.0, 62.5][:rows],
        }
    )


def refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, frame: pl.DataFrame) -> str:
    path = tmp_path / "h.parquet"
    frame.write_parquet(path)
    out = tmp_path / "out"
    assert opel(str(path), "--catalogue", "kcc-asch-2025-26", "--out", str(out)) == 1
    assert not out.exists(), "nothing is written for a bad history"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.parquet"], "no temporary folder is left"
    return capsys.readouterr().err


def test_a_good_frame_is_taken(tmp_path: Path) -> None:
    path = tmp_path / "h.parquet"
    readings_frame().write_parquet(path)
    assert opel(str(path), "--catalogue", "kcc-asch-2025-26", "--out", str(tmp_path / "out")) == 0
    assert keys(tmp_path / "out" / "transitions.jsonl")


def test_a_missing_column_names_file_and_column(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = refused(capsys, tmp_path, readings_frame().drop("value"))
    assert f"{tmp_path / 'h.parquet'}: schema: value: missing column (a readings file needs " in err


def test_a_naive_timestamp_column_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    frame = readings_frame().with_columns(pl.col("observed_at").dt.replace_time_zone(None))
    err = refused(capsys, tmp_path, frame)
    assert f"{tmp_path / 'h.parquet'}: schema: observed_at: a timestamp without a time zone" in err


def test_an_unknown_indicator_names_file_row_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    frame = readings_frame().with_columns(
        pl.Series("indicator", ["stp_staffing_pct", "beds_free", "stp_staffing_pct"])
    )
    err = refused(capsys, tmp_path, frame)
    assert f"{tmp_path / 'h.parquet'}: row 2: indicator: unknown indicator 'beds_free'" in err


def test_a_bad_value_names_row_field_and_value(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    frame = readings_frame().with_columns(pl.Series("value", [80.0, -3.0, float("nan")]))
    err = refused(capsys, tmp_path, frame)
    assert "2 invalid inputs" in err
    assert f"{tmp_path / 'h.parquet'}: row 2: value: " in err
    assert "-3" in err
    assert f"{tmp_path / 'h.parquet'}: row 3: value: " in err
    assert "nan" in err


def test_a_file_that_is_not_parquet(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "h.parquet"
    path.write_text("observed_at,area,indicator,value\n")
    assert opel(str(path), "--catalogue", "kcc-asch-2025-26", "--out", str(tmp_path / "out")) == 1
    assert f"{path}: schema: (file): not a readable Parquet file" in capsys.readouterr().err
