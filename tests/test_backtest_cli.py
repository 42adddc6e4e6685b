"""`opel replay`: a history through the core's own stages, written as the service writes it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from opel.backtest.run import build_context
from opel.cli import main
from opel.contracts.escalation import EscalationEvent
from opel.models import Reading
from opel.replay import replay
from streams.demo import ending_now, winter_day

SCHEMA = json.loads(Path("docs/schemas/escalation.schema.json").read_text())
START = datetime(2025, 12, 1, 6, tzinfo=UTC)


def opel(*args: str) -> int:
    return main(["replay", *args])


def day_file(tmp_path: Path) -> Path:
    path = tmp_path / "day.jsonl"
    script = winter_day(ending_now(datetime(2026, 1, 5, 23, tzinfo=UTC)))
    path.write_text("".join(json.dumps(value) + "\n" for _, _, value in script))
    return path


def readings(count: int) -> list[dict[str, Any]]:
    values = [80, 62, 45, 65, 62, 71, 90, 20, 35, 75]
    return [
        {
            "indicator": "stp_staffing_pct",
            "area": ("dgs", "east_kent")[n % 2],
            "value": values[n % len(values)],
            "observed_at": (START + timedelta(hours=n)).isoformat(),
        }
        for n in range(count)
    ]


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_events_are_the_cores_and_valid_against_the_schema(tmp_path: Path) -> None:
    history = day_file(tmp_path)
    out = tmp_path / "out"
    assert opel(str(history), "--catalogue", "kcc-asch-2025-26", "--out", str(out)) == 0
    written = (out / "transitions.jsonl").read_bytes().splitlines()
    assert len(written) > 20
    for raw in written:
        jsonschema.validate(json.loads(raw), SCHEMA)
        assert EscalationEvent.model_validate_json(raw).to_json() == raw
    # The same bytes as the oracle's own events (the stage functions the worker calls).
    ctx = build_context("kcc-asch-2025-26")
    from opel.backtest.history import read_history  # noqa: PLC0415

    inputs = [x.value for x in read_history([history]).inputs]
    oracle = replay(inputs, ctx, seen=max(getattr(v, "observed_at", START) for v in inputs))
    assert sorted(written) == sorted({e.to_json() for e in oracle.escalations})
    report = json.loads((out / "report.json").read_text())
    assert report["a"]["transitions"] == len(written)
    span = (datetime.fromisoformat(report["a"]["end"]) - datetime.fromisoformat(report["a"]["start"])) / (
        timedelta(days=1)
    )
    for scope, days in report["a"]["days_at_level"].items():
        assert sum(days.values()) == pytest.approx(span, abs=1e-5), scope
    roles = report["a"]["escalations_per_role"]
    assert roles["stp_team_manager"]["start"] > 0


def test_csv_and_json_lines_give_the_same_events(tmp_path: Path) -> None:
    rows = readings(40)
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    csv = "value,indicator,area,observed_at\n" + "".join(
        f"{r['value']},{r['indicator']},{r['area']},{r['observed_at']}\n" for r in rows
    )
    (tmp_path / "r.csv").write_text(csv)
    for name in ("r.jsonl", "r.csv"):
        out = tmp_path / f"{name}.out"
        assert opel(str(tmp_path / name), "--catalogue", "kcc-asch-2025-26", "--out", str(out)) == 0
    a = (tmp_path / "r.jsonl.out" / "transitions.jsonl").read_bytes()
    b = (tmp_path / "r.csv.out" / "transitions.jsonl").read_bytes()
    assert a == b
    assert a.count(b"\n") > 5


def test_acute_csv(tmp_path: Path) -> None:
    path = tmp_path / "acute.csv"
    path.write_text(
        "site,observed_at,ed_4h_performance_pct,ga_bed_occupancy_pct\n"
        f"william_harvey,{START.isoformat()},58,98.5\n"
        f"maidstone,{START.isoformat()},,91\n"
    )
    out = tmp_path / "out"
    assert opel(str(path), "--catalogue", "kcc-asch-2025-26", "--out", str(out)) == 0
    subjects = {e["subject"] for e in lines(out / "transitions.jsonl")}
    assert {"site/william_harvey", "site/maidstone"} <= subjects


def refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    out = tmp_path / "out"
    assert opel(str(path), "--catalogue", "kcc-asch-2025-26", "--out", str(out)) == 1
    assert not out.exists(), "nothing is written for a bad history"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")], "no temporary folder is left"
    return capsys.readouterr().err


def test_a_csv_with_a_wrong_header_names_the_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    err = refused(
        capsys, tmp_path, "bad.csv", "observed,area,indicator,value\n2025-12-01T06:00:00Z,dgs,x,1\n"
    )
    assert f"{tmp_path / 'bad.csv'}: line 1: (header): expected observed_at,area,indicator,value" in err


def test_an_unknown_indicator_names_file_line_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows = readings(3)
    rows[1]["indicator"] = "beds_free"
    err = refused(capsys, tmp_path, "h.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert f"{tmp_path / 'h.jsonl'}: line 2: indicator: " in err
    assert "beds_free" in err


def test_every_bad_row_is_reported_with_its_field_and_value(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = (
        "observed_at,area,indicator,value\n"
        "2025-12-01T06:00:00Z,dgs,stp_staffing_pct,-3\n"
        "2025-12-01T07:00:00,dgs,stp_staffing_pct,50\n"
        "2025-12-01T08:00:00Z,atlantis,stp_staffing_pct,50\n"
        "2025-12-01T09:00:00Z,dgs,stp_staffing_pct\n"
    )
    err = refused(capsys, tmp_path, "h.csv", text)
    name = tmp_path / "h.csv"
    assert "4 invalid inputs" in err
    assert f"{name}: line 2: value: must be 0 or more, got -3" in err
    assert f"{name}: line 3: observed_at: " in err
    assert f"{name}: line 4: area: unknown area 'atlantis'" in err
    assert f"{name}: line 5: (row): 3 cells for the header's 4 columns" in err


def test_bad_json_is_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = refused(capsys, tmp_path, "h.jsonl", '{"indicator": "stp_staffing_pct", \n[1]\n{"x": 1}\n')
    assert "line 1: (line): not valid JSON" in err
    assert "line 2: (line): expected a JSON object, got list" in err
    assert "line 3: (line): not a reading" in err


def test_an_existing_out_is_kept_when_the_input_is_bad(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "transitions.jsonl").write_text("kept\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("nope\n")
    assert opel(str(bad), "--catalogue", "kcc-asch-2025-26", "--out", str(out)) == 1
    assert (out / "transitions.jsonl").read_text() == "kept\n"
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps(r) + "\n" for r in readings(5)))
    assert opel(str(good), "--catalogue", "kcc-asch-2025-26", "--out", str(out)) == 0
    assert (out / "transitions.jsonl").read_text().startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "good.jsonl", "out"]


def test_an_unknown_catalogue_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps(r) + "\n" for r in readings(5)))
    assert opel(str(good), "--catalogue", "no-such-catalogue") == 2
    assert opel(str(good)) == 2
    assert "no-such-catalogue" in capsys.readouterr().err


def test_compare_reports_what_differs(tmp_path: Path) -> None:
    history = day_file(tmp_path)
    out = tmp_path / "out"
    assert opel(str(history), "--compare", "kcc-asch-2025-26", "kcc-asch-2024-25", "--out", str(out)) == 0
    report = json.loads((out / "report.json").read_text())
    diff = report["compare"]
    a = {(e["subject"], e["id"]) for e in lines(out / "transitions.jsonl")}
    b = {(e["subject"], e["id"]) for e in lines(out / "transitions-compare.jsonl")}
    assert {(t["subject"], t["id"]) for t in diff["only_in_a"]} == a - b
    assert {(t["subject"], t["id"]) for t in diff["only_in_b"]} == b - a
    assert diff["periods"]
    for period in diff["periods"]:
        assert period["a"] != period["b"]
    # The day's KEaH capacity is a count: the 2024-25 catalogue (categories) does not take it.
    assert report["b"]["not_taken"] == {"keah_capacity: value": 72}
    assert report["a"]["not_taken"] == {}


def test_duration_and_dwell(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    rows = [Reading.model_validate(r) for r in readings(30)]
    good.write_text("".join(r.model_dump_json() + "\n" for r in rows))
    for dwell in ("PT30M", "1800"):
        out = tmp_path / dwell
        assert (
            main(
                ["replay", str(good), "--catalogue", "kcc-asch-2025-26", "--dwell", dwell, "--out", str(out)]
            )
            == 0
        )
    assert (tmp_path / "PT30M" / "transitions.jsonl").read_bytes() == (
        tmp_path / "1800" / "transitions.jsonl"
    ).read_bytes()
    directions = {e["data"]["direction"] for e in lines(tmp_path / "PT30M" / "transitions.jsonl")}
    assert "de-escalation" in directions
