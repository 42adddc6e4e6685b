"""Replay benchmark: a generated Kent winter through `opel replay`, columnar path against the
per-reading core, end to end (reading Parquet, writing transitions.jsonl, report.json and
report.html), in the same run. Each replay runs in its own process, which reports its peak
memory (ru_maxrss).

    python bench/replay.py [--days 120] [--catalogue kcc-asch-2025-26] [--skip-core]

Prints one line per engine: inputs, wall time, inputs per second, peak memory, and the ratio of
the columnar path's rate to the core's (docs/benchmarks.md records the figures).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import resource, sys
from opel.cli import main
status = main(sys.argv[1:])
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(status)
"""


def run(args: list[str]) -> tuple[float, int]:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"opel {' '.join(args)} failed:\n{done.stderr}")
    rss = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("MAXRSS_KB"))
    return wall, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--catalogue", default="kcc-asch-2025-26")
    parser.add_argument("--skip-core", action="store_true", help="only the columnar path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        history = folder / "winter.parquet"
        generated, _ = run(
            [
                "replay",
                "generate",
                "--days",
                str(args.days),
                "--seed",
                str(args.seed),
                "--keah",
                "count",
                "--out",
                str(history),
            ]
        )
        files = [str(history), str(history.with_name("winter.acute.parquet"))]
        results = {}
        for engine in ("auto", "core")[: 1 if args.skip_core else 2]:
            out = folder / engine
            wall, rss = run(
                ["replay", *files, "--catalogue", args.catalogue, "--engine", engine, "--out", str(out)]
            )
            report = json.loads((out / "report.json").read_text())
            inputs = report["inputs"]
            results[engine] = inputs / wall
            print(
                f"{engine:>5}: {inputs} inputs ({args.days} days), {wall:.1f} s, "
                f"{inputs / wall:,.0f} inputs/s, peak {rss / 1024:.0f} MiB, "
                f"{report['a']['transitions']} transitions"
            )
        print(f"generate: {generated:.1f} s")
        if "core" in results:
            print(f"columnar / core: {results['auto'] / results['core']:.1f}x")


if __name__ == "__main__":
    main()
