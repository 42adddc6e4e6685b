"""A long replay stopped with Ctrl-C, and its progress bar on a terminal.

Ctrl-C is SIGINT sent to a real ``opel replay`` process mid-way (once it has spent enough CPU
time to be past start-up and into the replay): exit status 130 as ``opel assess`` uses, a line
saying so, and nothing half-written: a new --out folder does not appear, an existing one is
left as it was, and no temporary folder stays beside it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opel.backtest.national import (
    ACUTE_CATALOGUE_FILE,
    ACUTE_FILE,
    CATALOGUE_FILE,
    READINGS_FILE,
    NationalShape,
    write_national,
)

SHAPE = NationalShape(datetime(2025, 12, 1, tzinfo=UTC), 2, areas=6, sites=6, systems=2)
STARTED_CPU_S = 3.0
"""CPU seconds after which the replay is running (start-up takes about one; the core's replay of
the sample about ten more)."""


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("national")
    write_national(folder, SHAPE, seed=3)
    return folder


def _command(sample: Path, out: Path, engine: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "opel.cli",
        "replay",
        str(sample / READINGS_FILE),
        str(sample / ACUTE_FILE),
        "--catalogue",
        str(sample / CATALOGUE_FILE),
        "--acute",
        str(sample / ACUTE_CATALOGUE_FILE),
        "--engine",
        engine,
        "--out",
        str(out),
    ]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _interrupt(command: list[str]) -> subprocess.CompletedProcess[str]:
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while child.poll() is None and _cpu_seconds(child.pid) < STARTED_CPU_S:
        assert time.monotonic() < deadline, "the replay never got going"
        time.sleep(0.05)
    assert child.poll() is None, "the replay ended before it could be interrupted"
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=60)
    return subprocess.CompletedProcess(command, child.returncode, stdout, stderr)


def test_ctrl_c_leaves_no_out_folder(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "replay"
    done = _interrupt(_command(sample, out, "core"))
    assert done.returncode == 130
    assert "interrupted; nothing written" in done.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_leaves_an_existing_out_folder_as_it_was(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "replay"
    out.mkdir()
    (out / "transitions.jsonl").write_text("from an earlier replay\n")
    done = _interrupt(_command(sample, out, "core"))
    assert done.returncode == 130
    assert [p.name for p in tmp_path.iterdir()] == ["replay"]
    assert [p.name for p in out.iterdir()] == ["transitions.jsonl"]
    assert (out / "transitions.jsonl").read_text() == "from an earlier replay\n"


def test_progress_bar_on_a_terminal_only(sample: Path, tmp_path: Path) -> None:
    """On a terminal: readings done of the total, the rate and the time left; in a pipe: nothing."""
    leader, follower = os.openpty()
    command = _command(sample, tmp_path / "tty", "auto")
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=follower, env=os.environ | {"COLUMNS": "160"}
    )
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the replay is over
            break
        if not chunk:
            break
        drawn += chunk
    assert child.wait(timeout=120) == 0
    os.close(leader)
    text = drawn.decode(errors="replace")
    assert "readings/s" in text
    assert "left" in text
    piped = subprocess.run(
        _command(sample, tmp_path / "pipe", "auto"), capture_output=True, text=True, check=True
    )
    assert piped.stderr == ""
