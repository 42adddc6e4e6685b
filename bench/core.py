"""Throughput of the core engine and of `opel assess` end to end, each beside a bare reference.

    python bench/core.py                 # 1,000,000 lines, as recorded in docs/benchmarks.md
    python bench/core.py --lines 200000  # quicker
    python bench/core.py --clock cpu     # CPU time of the measured process: on a busy machine

Reports (best of --core-repeat or --repeat runs, one core; each measure and its reference run in
turn, so load from other work falls on both alike, and their ratio is the figure to compare):
  core       assess() on readings already parsed into Reading models, against the bare work
             it cannot avoid: a dictionary lookup and a bisect per reading
  acute      score_submission() on parsed acute submissions
  end-to-end `opel assess` reading JSON lines from a file and writing to /dev/null, including
             interpreter start-up (reported separately too), against a Python process that
             only parses the same lines with orjson.loads (json.loads if orjson is missing)

Goals: core >= 1,000,000 readings/s and end to end >= 100,000 lines/s (issue 2); core
>= 5,000,000 readings/s, within 2x of its reference, and end to end >= 300,000 lines/s on
1,000,000 lines (issue 11).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from opel.acute_score import score_submission
from opel.assess import assess
from opel.catalogue_load import load_acute_catalogue, load_indicator_catalogue
from opel.models import PARAMETER_IDS, AcuteSubmission, Reading

CORE_GOAL = 5_000_000
CORE_RATIO_GOAL = 0.5
END_TO_END_GOAL = 300_000
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
    return max(rates(work, repeat))


# --clock: wall time, or the CPU time of the measured process (this one, or the child), which
# other work on a shared machine disturbs far less (it still shares caches and memory).
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


def rates(work: Callable[[], int], repeat: int) -> list[float]:
    found = []
    for _ in range(repeat):
        started = clock()
        done = work()
        found.append(done / (clock() - started))
    return found


def bench_core(lines: Sequence[str], repeat: int) -> dict[str, list[float]]:
    """assess() per reading, and the bare lookups it is measured against, in turn (readings/s)."""
    catalogue = load_indicator_catalogue("kcc-asch-2025-26")
    readings = [Reading.model_validate_json(line) for line in lines]
    # The references: the rule's boundaries found by (indicator, area), one bisect, no result.
    bounds = {
        key: () if rule.table is None else tuple(band.exact.high for band in rule.table.bands[:-1])
        for key, rule in catalogue.rules.items()
    }

    def run() -> int:
        for reading in readings:
            assess(catalogue, reading)
        return len(readings)

    def bare() -> int:
        # The fields read from the model's __dict__, as assess() reads them.
        for reading in readings:
            fields = reading.__dict__
            bisect_right(bounds[fields["indicator"], fields["area"]], fields["value"])
        return len(readings)

    def bare_attributes() -> int:
        # As issue 11 measured it: attribute reads, which BaseModel.__getattr__ makes slow.
        for reading in readings:
            bisect_right(bounds[reading.indicator, reading.area], reading.value)
        return len(readings)

    found: dict[str, list[float]] = {"assess": [], "bare": [], "bare attributes": []}
    for _ in range(repeat):
        found["assess"].extend(rates(run, 1))
        found["bare"].extend(rates(bare, 1))
        found["bare attributes"].extend(rates(bare_attributes, 1))
    return found


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


def bench_end_to_end(path: Path, count: int, repeat: int) -> tuple[list[float], list[float], float]:
    """`opel assess` on the file, and a process that only parses its lines, in turn (lines/s)."""
    command = [sys.executable, "-m", "opel.cli", "assess"]
    startup = min(_timed(command, os.devnull) for _ in range(3))
    reference = [sys.executable, "-c", PARSE_ONLY]
    found: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        found[0].append(count / _timed(command, str(path)))
        found[1].append(count / _timed(reference, str(path)))
    return found[0], found[1], startup


PARSE_ONLY = """
import sys
try:
    from orjson import loads
except ImportError:
    from json import loads
for line in sys.stdin.buffer:
    loads(line)
"""


def _timed(command: list[str], stdin_path: str) -> float:
    with open(stdin_path, "rb") as stdin, open(os.devnull, "wb") as stdout:
        started, cpu = time.perf_counter(), _children_cpu()
        # Exit status 1 would mean an invalid line: the generated input has none.
        subprocess.run(command, stdin=stdin, stdout=stdout, check=True)
        if clock is time.process_time:
            return _children_cpu() - cpu
        return time.perf_counter() - started


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--core-readings", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs of opel assess and its reference")
    parser.add_argument("--core-repeat", type=int, default=15, help="runs of assess() and its references")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = parser.parse_args()
    global clock  # noqa: PLW0603 (one setting for every measure of the run)
    clock = CLOCKS[args.clock]

    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}")
    print(f"clock: {args.clock} time; load average {os.getloadavg()[0]:.1f}")
    lines = make_lines(max(args.lines, args.core_readings))
    core_runs = bench_core(lines[: args.core_readings], args.core_repeat)
    core, bare = core_runs["assess"], core_runs["bare"]
    acute = bench_acute(args.core_readings // 4, args.repeat)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "readings.jsonl"
        path.write_text("\n".join(lines[: args.lines]) + "\n", encoding="utf-8")
        end_to_end, parse_only, startup = bench_end_to_end(path, args.lines, args.repeat)

    failed = False
    for name, rate, goal, unit in [
        ("core assess()", max(core), CORE_GOAL, "readings/s"),
        ("  reference: dict lookup + bisect", max(bare), None, "readings/s"),
        ("  the same, fields as attributes", max(core_runs["bare attributes"]), None, "readings/s"),
        ("core score_submission()", acute, None, "submissions/s"),
        (f"opel assess, {args.lines:,} lines", max(end_to_end), END_TO_END_GOAL, "lines/s"),
        ("  reference: parse the lines only", max(parse_only), None, "lines/s"),
    ]:
        verdict = "" if goal is None else ("  meets goal" if rate >= goal else f"  BELOW goal {goal:,}")
        failed |= goal is not None and rate < goal
        print(f"{name:36} {rate:>12,.0f} {unit}{verdict}")
    print(f"{'opel assess start-up (empty input)':36} {startup:>12.3f} s")
    after_startup = args.lines / (args.lines / max(end_to_end) - startup)
    print(f"{'opel assess after start-up':36} {after_startup:>12,.0f} lines/s")
    # Best against best (each at its least disturbed), and the spread of the run-by-run ratios.
    core_ratio = max(core) / max(bare)
    core_ok = core_ratio >= CORE_RATIO_GOAL
    failed |= not core_ok
    print(
        f"ratio core / reference: {core_ratio:.2f} (runs {_ratios(core, bare)}); "
        f"against attribute reads {max(core) / max(core_runs['bare attributes']):.2f}"
        + ("  meets goal" if core_ok else f"  BELOW goal {CORE_RATIO_GOAL}")
    )
    cli_ratio = max(end_to_end) / max(parse_only)
    print(f"ratio opel assess / reference: {cli_ratio:.2f} (runs {_ratios(end_to_end, parse_only)})")
    return 1 if failed else 0


def _ratios(runs: list[float], references: list[float]) -> str:
    ratios = [run / reference for run, reference in zip(runs, references, strict=True)]
    return f"{min(ratios):.2f}-{max(ratios):.2f}"


if __name__ == "__main__":
    sys.exit(main())
