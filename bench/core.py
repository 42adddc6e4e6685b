"""Throughput of the core engine and of `opel assess` end to end.

    python bench/core.py                 # 1,000,000 lines, as recorded in docs/benchmarks.md
    python bench/core.py --lines 200000  # quicker

Reports (best of --repeat runs, single process, so one core):
  core       assess() on readings already parsed into Reading models
  acute      score_submission() on parsed acute submissions
  end-to-end `opel assess` reading JSON lines from a file and writing to /dev/null,
             including interpreter start-up (reported separately too)

Goals (issue 2): core >= 1,000,000 readings/s; end to end >= 100,000 lines/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from opel.acute_score import score_submission
from opel.assess import assess
from opel.catalogue_load import load_acute_catalogue, load_indicator_catalogue
from opel.models import PARAMETER_IDS, AcuteSubmission, Reading

CORE_GOAL = 1_000_000
END_TO_END_GOAL = 100_000
START = datetime(2025, 11, 12, tzinfo=UTC)


def make_lines(count: int, seed: int = 7) -> list[str]:
    """A realistic mix: every indicator and area of the 2025-26 catalogue, ints and decimals."""
    rng = random.Random(seed)
    pairs = sorted(load_indicator_catalogue("kcc-asch-2025-26").rules)
    lines = []
    for i in range(count):
        indicator, area = rng.choice(pairs)
        value: float = rng.randint(0, 120) if rng.random() < 0.7 else round(rng.uniform(0, 120), 1)
        at = (START + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
        lines.append(json.dumps({"indicator": indicator, "area": area, "value": value, "observed_at": at}))
    return lines


def best_rate(work: Callable[[], int], repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        done = work()
        best = max(best, done / (time.perf_counter() - started))
    return best


def bench_core(lines: Sequence[str], repeat: int) -> float:
    catalogue = load_indicator_catalogue("kcc-asch-2025-26")
    readings = [Reading.model_validate_json(line) for line in lines]

    def run() -> int:
        for reading in readings:
            assess(catalogue, reading)
        return len(readings)

    return best_rate(run, repeat)


def bench_acute(count: int, repeat: int) -> float:
    catalogue = load_acute_catalogue("nhs-acute-2023-24")
    rng = random.Random(11)
    sites = sorted(catalogue.sites)
    submissions = [
        AcuteSubmission.model_validate(
            {
                "site": rng.choice(sites),
                "observed_at": START,
                "parameters": {name: round(rng.uniform(0, 130), 1) for name in PARAMETER_IDS},
            }
        )
        for _ in range(count)
    ]

    def run() -> int:
        for submission in submissions:
            score_submission(catalogue, submission)
        return len(submissions)

    return best_rate(run, repeat)


def bench_end_to_end(path: Path, count: int, repeat: int) -> tuple[float, float]:
    command = [sys.executable, "-m", "opel.cli", "assess"]
    startup = min(_timed(command, os.devnull) for _ in range(3))
    best = min(_timed(command, str(path)) for _ in range(repeat))
    return count / best, startup


def _timed(command: list[str], stdin_path: str) -> float:
    with open(stdin_path, "rb") as stdin, open(os.devnull, "wb") as stdout:
        started = time.perf_counter()
        # Exit status 1 would mean an invalid line: the generated input has none.
        subprocess.run(command, stdin=stdin, stdout=stdout, check=True)
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--core-readings", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}")
    lines = make_lines(max(args.lines, args.core_readings))
    core = bench_core(lines[: args.core_readings], args.repeat)
    acute = bench_acute(args.core_readings // 4, args.repeat)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "readings.jsonl"
        path.write_text("\n".join(lines[: args.lines]) + "\n", encoding="utf-8")
        end_to_end, startup = bench_end_to_end(path, args.lines, args.repeat)

    rows = [
        ("core assess()", core, CORE_GOAL, "readings/s"),
        ("core score_submission()", acute, None, "submissions/s"),
        (f"opel assess, {args.lines:,} lines", end_to_end, END_TO_END_GOAL, "lines/s"),
    ]
    failed = False
    for name, rate, goal, unit in rows:
        verdict = "" if goal is None else ("  meets goal" if rate >= goal else f"  BELOW goal {goal:,}")
        failed |= goal is not None and rate < goal
        print(f"{name:34} {rate:>12,.0f} {unit}{verdict}")
    print(f"{'opel assess start-up (empty input)':34} {startup:>12.3f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
