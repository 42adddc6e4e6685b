"""The first hour with opel (issue 14): the small surprises a newcomer met, each pinned down."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opel.alerting.routing import ClockConfig
from opel.assess_lines import LineAssessor
from opel.catalogue_load import (
    DEFAULT_ACUTE_CATALOGUE,
    DEFAULT_INDICATOR_CATALOGUE,
    load_acute_catalogue,
    load_indicator_catalogue,
)
from opel.cli import main
from streams.alerting.scheduler import PlanClock

REPO = Path(__file__).resolve().parent.parent


def test_the_data_folder_is_git_ignored() -> None:
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", ".opel-data/broker.url"],
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, ".opel-data/ (OPEL_DATA_DIR's default) must be in .gitignore"


def test_the_plan_clock_does_not_log_every_minute(caplog: pytest.LogCaptureFixture) -> None:
    """APScheduler logs each job run at INFO; the elapsed-time job runs every minute."""

    async def tick() -> None:
        woken = asyncio.Event()
        clock = PlanClock(ClockConfig(), woken.set)
        clock.start()
        try:
            for job in clock._scheduler.get_jobs():
                job.modify(next_run_time=datetime.now(UTC))  # every job due now
            clock._scheduler.wakeup()
            await asyncio.wait_for(woken.wait(), 5)
            await asyncio.sleep(0.1)  # let the executor log the run's end
        finally:
            clock.stop()

    with caplog.at_level(logging.INFO):
        asyncio.run(tick())
    chatter = [r.getMessage() for r in caplog.records if r.name.startswith("apscheduler")]
    assert chatter == []


# --------------------------------------------------------------------------- opel produce checks first


def _recent(minutes_ago: int = 30) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def _lines(path: Path, values: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(v) + "\n" for v in values), encoding="utf-8")
    return path


def _assess_error(value: dict[str, Any]) -> str:
    """What `opel assess` says about one line."""
    assessor = LineAssessor(
        load_indicator_catalogue(DEFAULT_INDICATOR_CATALOGUE), load_acute_catalogue(DEFAULT_ACUTE_CATALOGUE)
    )
    [answer] = assessor.run([json.dumps(value).encode()])
    error: str = json.loads(answer)["error"]
    return error


@pytest.fixture
def no_opel_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("OPEL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPEL_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.usefixtures("no_opel_settings")
def test_produce_refuses_what_assess_refuses_in_the_same_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    at = _recent()
    unknown_indicator = {"indicator": "bed_days", "area": "dgs", "value": 3, "observed_at": at}
    unknown_area = {"indicator": "stp_staffing_pct", "area": "medway", "value": 80, "observed_at": at}
    forty = {"indicator": "stp_staffing_pct", "area": "swale", "value": "forty", "observed_at": at}
    unknown_site = {"site": "guys", "observed_at": at, "parameters": {"ed_4h_performance_pct": 70}}
    event = {"event_id": "e-1", "area": "medway", "kind": "received", "occurred_at": at}
    override = {
        "type": "override",
        "id": "ovr-1",
        "scope": "area/medway",
        "level": 4,
        "author": "escalation-group",
        "reason": "test",
        "at": at,
        "expires_at": _recent(-60),
    }
    path = _lines(
        tmp_path / "in.jsonl", [unknown_indicator, unknown_area, forty, unknown_site, event, override]
    )
    # Nothing listens on port 1: every line is refused, so nothing is sent and the broker is not asked.
    assert main(["produce", str(path), "--broker", "127.0.0.1:1"]) == 1
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert errors[:4] == [
        f"line 1: unknown_indicator: {_assess_error(unknown_indicator)}",
        f"line 2: unknown_area: {_assess_error(unknown_area)}",
        f"line 3: invalid: {_assess_error(forty)}",
        f"line 4: unknown_site: {_assess_error(unknown_site)}",
    ]
    assert errors[2] == "line 3: invalid: value: stp_staffing_pct takes a number, got 'forty'"
    assert errors[4] == "line 5: unknown_area: area: unknown area 'medway' in kcc-asch-2025-26"
    assert errors[5] == "line 6: invalid: scope: unknown area 'medway' in scope 'area/medway'"
    assert len(errors) == 6
    assert "0 sent, 6 invalid" in captured.out


NOISE = ("Unclosed", "Traceback", "Unable connect", "Task exception")


@pytest.mark.usefixtures("no_opel_settings")
@pytest.mark.parametrize("command", ["produce", "tail", "demo"])
def test_without_a_broker_each_command_says_so_in_one_clean_line(command: str, tmp_path: Path) -> None:
    path = _lines(
        tmp_path / "one.jsonl",
        [{"indicator": "referrals", "area": "dgs", "value": 1, "observed_at": _recent()}],
    )
    argv = {
        "produce": ["produce", str(path), "--timeout", "5"],
        "tail": ["tail", "alerts", "--timeout", "1"],
        "demo": ["demo", "--speed", "100"],
    }[command]
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OPEL_")}
    env["OPEL_BROKER_URL"] = "127.0.0.1:1"  # nothing listens there
    done = subprocess.run(
        [sys.executable, "-m", "opel.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3
    lines = done.stderr.splitlines()
    verb = "read from" if command == "tail" else "send to"
    assert lines == [
        f"opel {command}: could not {verb} 127.0.0.1:1: no broker answers there; start `opel run`, "
        "or check --broker and OPEL_BROKER_URL"
    ], done.stderr
    assert not any(noise in done.stderr for noise in NOISE)
