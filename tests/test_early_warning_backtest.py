"""The early-warning backtest (issue 16, point 3): `opel replay warnings` recomputes its table
from a generated history, the numbers are consistent, and a clean ramp is warned with the lead
it should have."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.stage_context import shipped_context

from opel.backtest.generate import generate, kent, write_json_lines
from opel.backtest.history import check_history, read_history
from opel.backtest.warnings import backtest
from opel.cli import main
from opel.forecast.settings import WarningSettings
from opel.models import Reading
from opel.replay import replay

T0 = datetime(2026, 1, 12, 6, 0, tzinfo=UTC)
CATALOGUE = "kcc-asch-2025-26"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("winter") / "winter.jsonl"
    shape = kent(datetime(2025, 12, 29, tzinfo=UTC), 4, keah="count", every=timedelta(minutes=30))
    with path.open("w", encoding="utf-8") as out:
        write_json_lines(generate(shape, 7), out)
    return path


def rows(text: str) -> list[dict[str, str]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [
        dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]
    ]


def test_the_command_recomputes_a_consistent_table(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        ["replay", "warnings", str(history), "--catalogue", CATALOGUE, "--min-confidence", "0.5,0.8"]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith(
        f"Made by `opel replay warnings {history} --catalogue {CATALOGUE} --min-confidence 0.5,0.8`."
    )
    table = rows(out)
    assert [(r["min confidence"], r["horizon (h)"]) for r in table] == [
        (c, h) for c in ("0.5", "0.8") for h in ("4", "12", "24", "48")
    ]
    for row in table:
        true, false, warned, escalations = (int(row[k]) for k in ("true", "false", "warned", "escalations"))
        assert int(row["warnings"]) == true + false
        assert warned == true <= escalations
        for key in ("precision", "recall"):
            if row[key] != "-":
                assert 0.0 <= float(row[key]) <= 1.0
        if row["precision"] != "-":
            assert float(row["precision"]) == pytest.approx(true / (true + false), abs=0.0051)
        if row["median lead (h)"] != "-":
            assert 0.0 <= float(row["median lead (h)"]) <= float(row["horizon (h)"])
    # A longer horizon never has fewer warnings, nor a higher confidence more.
    for block in (table[:4], table[4:]):
        counts = [int(r["warnings"]) + int(r["undecided"]) for r in block]
        assert counts == sorted(counts)
    assert int(table[7]["warnings"]) <= int(table[3]["warnings"])
    assert sum(int(r["escalations"]) for r in table) > 0


def test_the_table_is_the_backtest_of_the_core(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Not pasted: the printed numbers are those of the backtest function run here."""
    assert main(["replay", "warnings", str(history), "--catalogue", CATALOGUE]) == 0
    printed = rows(capsys.readouterr().out)
    ctx = shipped_context()
    loaded = read_history([history])
    readings = [v for v in check_history(loaded, [ctx], T0)[0].inputs if isinstance(v, Reading)]
    result = backtest(readings, ctx.catalogue, ctx.policy, WarningSettings())
    assert [int(r["true"]) for r in printed] == [s.true for s in result.scores]
    assert [int(r["false"]) for r in printed] == [s.false for s in result.scores]
    # The 48-hour row counts the warnings the service itself opens over the same readings.
    opened = [w for w in replay(readings, ctx).warnings if w.data.status == "open"]
    longest = result.scores[-1]
    assert len(opened) == longest.true + longest.false + longest.undecided


def test_a_linear_ramp_is_warned_with_the_expected_lead() -> None:
    ctx = shipped_context()
    # Staffing falls 1 point every half hour from 85: the first reading below 70 (amber) is at 8 h.
    readings = [
        Reading(
            indicator="stp_staffing_pct",
            area="east_kent",
            value=85 - i,
            observed_at=T0 + timedelta(minutes=30 * i),
        )
        for i in range(24)
    ]
    result = backtest(readings, ctx.catalogue, ctx.policy, WarningSettings())
    by_horizon = {s.horizon_hours: s for s in result.scores}
    # One reading an hour enters the window: with the sixth (at 5 h, 75 %) the line reaches 70 %
    # in 2.5 h, within every horizon; the first reading below 70 % comes at 8 h: a lead of 3 h.
    for horizon in (4, 12, 24, 48):
        assert (by_horizon[horizon].true, by_horizon[horizon].false) == (1, 0)
        assert by_horizon[horizon].leads_hours == [3.0]
        assert by_horizon[horizon].recall == 1.0
    assert result.weeks == pytest.approx(11.5 / 168)
