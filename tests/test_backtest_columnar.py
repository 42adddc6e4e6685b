"""The columnar path gives the transitions the per-reading core gives (opel.replay.replay).

On a generated Kent week under both catalogues (2024-25 has not-assessed indicators and
categories) and three dwells, from JSON lines and from Parquet: the same transition keys, the
same bytes for every indicator, area and site event (the evidence too), and for the county the
same transitions (its step-down evidence may name a later roll-up: docs/replay.md).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from opel.backtest.columnar import from_readings, replay_columns
from opel.backtest.generate import generate, kent, write_json_lines
from opel.backtest.history import check_history, read_history
from opel.backtest.run import build_context, run_parquet, sorted_events
from opel.cli import main
from opel.models import AcuteSubmission, Reading
from opel.replay import replay, transition_key

CATALOGUES = ("kcc-asch-2025-26", "kcc-asch-2024-25")


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datetime import UTC, datetime  # noqa: PLC0415

    path = tmp_path_factory.mktemp("week") / "week.jsonl"
    with path.open("w") as out:
        write_json_lines(generate(kent(datetime(2025, 12, 1, tzinfo=UTC), 7), 11), out)
    return path


@pytest.mark.parametrize("dwell", [None, timedelta(minutes=30), timedelta(0)])
def test_columnar_equals_the_core(week: Path, dwell: timedelta | None) -> None:
    history = read_history([week])
    contexts = [build_context(name, dwell=dwell) for name in CATALOGUES]
    assert history.end is not None
    for ctx, accepted in zip(contexts, check_history(history, contexts, history.end), strict=True):
        core = sorted_events(replay(accepted.inputs, ctx, seen=history.end).escalations)
        readings = [x for x in accepted.inputs if isinstance(x, Reading)]
        acute = [x for x in accepted.inputs if isinstance(x, AcuteSubmission)]
        fast = sorted_events(replay_columns(from_readings(readings), acute, ctx, seen=history.end))
        assert [transition_key(e) for e in fast] == [transition_key(e) for e in core]
        assert len(core) > 50
        for a, b in zip(core, fast, strict=True):
            if a.subject.startswith("county/") and a.data.cause == "dwell":
                continue
            assert a.to_json() == b.to_json()


def test_parquet_straight_to_columns_gives_the_cores_report(week: Path, tmp_path: Path) -> None:
    parquet = tmp_path / "week.parquet"
    acute = tmp_path / "week.acute.parquet"
    lines = [json.loads(line) for line in week.read_text().splitlines()]
    from opel.backtest.parquet import write_parquet  # noqa: PLC0415

    write_parquet(iter(lines), parquet)
    contexts = [build_context(name) for name in CATALOGUES]
    assert run_parquet([parquet, acute], contexts) is not None
    for engine in ("core", "auto"):
        args = [str(parquet), str(acute), "--compare", *CATALOGUES, "--engine", engine]
        assert main(["replay", *args, "--out", str(tmp_path / engine)]) == 0
    for name in ("transitions.jsonl", "transitions-compare.jsonl"):
        core = [(e["subject"], e["id"]) for e in map(json.loads, (tmp_path / "core" / name).open())]
        fast = [(e["subject"], e["id"]) for e in map(json.loads, (tmp_path / "auto" / name).open())]
        assert core == fast
    assert json.loads((tmp_path / "core" / "report.json").read_text()) == json.loads(
        (tmp_path / "auto" / "report.json").read_text()
    )
