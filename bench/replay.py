"""Replay benchmark: a generated winter through `opel replay`, columnar path against the
per-reading core, end to end (reading Parquet, writing transitions.jsonl, report.json and
report.html), in the same run. Each replay runs in its own process, which reports its peak
memory (ru_maxrss) and CPU time (user + system: on a shared machine, the figure other work
disturbs least).

    python bench/replay.py [--days 120] [--catalogue kcc-asch-2025-26] [--skip-core]
    python bench/replay.py --scale national [--days 120] [--core-days 1] [--core-areas 20]

Kent: one history, both engines. National: the columnar path on the whole national winter
(`opel replay generate --scale national`), and both engines on a sample of the same shape
(--core-areas councils, all 130 sites, --core-days days), since the per-reading core would take
hours on the whole. Prints one line per run: inputs, readings (an acute return counts its
parameters, as the issue's 84 million does), wall and CPU time, readings per second, peak memory
(docs/benchmarks.md records the figures).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CHILD = """
import resource, sys
from opel.cli import main
status = main(sys.argv[1:])
usage = resource.getrusage(resource.RUSAGE_SELF)
print("USAGE", usage.ru_maxrss, usage.ru_utime + usage.ru_stime, file=sys.stderr)
sys.exit(status)
"""


@dataclass(frozen=True, slots=True)
class Run:
    wall: float
    cpu: float
    rss_kb: int


def run(args: list[str]) -> Run:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"opel {' '.join(args)} failed:\n{done.stderr}")
    usage = next(line.split() for line in done.stderr.splitlines() if line.startswith("USAGE"))
    return Run(wall, float(usage[2]), int(usage[1]))


def readings_in(files: list[Path]) -> int:
    """Readings, counting each acute parameter value as one (what the progress bar counts)."""
    from opel.backtest.by_area import total_readings  # noqa: PLC0415

    return total_readings(files)


def replay(label: str, files: list[Path], catalogue: list[str], engine: str, out: Path) -> float:
    """One replay in its own process; prints its line and returns its readings per second."""
    result = run(["replay", *map(str, files), *catalogue, "--engine", engine, "--out", str(out)])
    report = json.loads((out / "report.json").read_text())
    readings = readings_in(files)
    print(
        f"{label:>22} {engine:>5}: {report['inputs']:,} inputs, {readings:,} readings, "
        f"{result.wall:.1f} s wall, {result.cpu:.1f} s CPU, {readings / result.wall:,.0f} readings/s "
        f"({readings / result.cpu:,.0f} per CPU s), peak {result.rss_kb / 1024:,.0f} MiB, "
        f"{report['a']['transitions']:,} transitions",
        flush=True,
    )
    return readings / result.wall


def national(args: argparse.Namespace, folder: Path) -> None:
    from opel.backtest import national as n  # noqa: PLC0415
    from opel.backtest.generate import default_start  # noqa: PLC0415

    whole = folder / "national"
    generated = run(
        ["replay", "generate", "--scale", "national", "--days", str(args.days), "--out", str(whole)]
    )
    print(
        f"generate national {args.days} days: {generated.wall:.1f} s wall, {generated.cpu:.1f} s CPU",
        flush=True,
    )
    sample = folder / "sample"
    sample.mkdir()
    shape = n.NationalShape(default_start(args.core_days, None), args.core_days, areas=args.core_areas)
    n.write_national(sample, shape, args.seed)
    for label, where, engines in (
        (f"sample {args.core_areas} councils", sample, ("auto", "core")),
        (f"national {args.days} days", whole, ("auto",)),
    ):
        files = [where / n.READINGS_FILE, where / n.ACUTE_FILE]
        catalogue = [
            "--catalogue",
            str(where / n.CATALOGUE_FILE),
            "--acute",
            str(where / n.ACUTE_CATALOGUE_FILE),
        ]
        rates = {e: replay(label, files, catalogue, e, folder / f"{where.name}-{e}") for e in engines}
        if "core" in rates:
            print(f"{label}: columnar / core {rates['auto'] / rates['core']:.1f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--catalogue", default="kcc-asch-2025-26")
    parser.add_argument("--skip-core", action="store_true", help="only the columnar path")
    parser.add_argument("--scale", choices=("kent", "national"), default="kent")
    parser.add_argument("--core-days", type=int, default=1, help="national: the sample's days")
    parser.add_argument("--core-areas", type=int, default=20, help="national: the sample's councils")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        if args.scale == "national":
            national(args, folder)
            return
        history = folder / "winter.parquet"
        generated = run(
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
            done = run(
                ["replay", *files, "--catalogue", args.catalogue, "--engine", engine, "--out", str(out)]
            )
            wall, rss = done.wall, done.rss_kb
            report = json.loads((out / "report.json").read_text())
            inputs = report["inputs"]
            results[engine] = inputs / wall
            print(
                f"{engine:>5}: {inputs} inputs ({args.days} days), {wall:.1f} s, "
                f"{inputs / wall:,.0f} inputs/s, peak {rss / 1024:.0f} MiB, "
                f"{report['a']['transitions']} transitions"
            )
        print(f"generate: {generated.wall:.1f} s")
        if "core" in results:
            print(f"columnar / core: {results['auto'] / results['core']:.1f}x")


if __name__ == "__main__":
    main()
