"""``opel replay``: run a history through the service's semantics, and compare two catalogues.

    opel replay HISTORY... --catalogue ID|FILE [--compare ID|FILE] [--out DIR] [--dwell P1D]

Exit status as for ``opel assess``: 0 done, 1 invalid input (every bad line is listed on
stderr, naming file, line and field; nothing is written), 2 a catalogue or usage problem.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from opel.catalogue_load import DEFAULT_ACUTE_CATALOGUE

if TYPE_CHECKING:
    from opel.stages.context import Context

    from .run import Outcome

EXIT_OK, EXIT_INVALID_INPUT, EXIT_USAGE = 0, 1, 2
_DURATION: TypeAdapter[timedelta] = TypeAdapter(timedelta)


def duration(text: str) -> timedelta:
    """An ISO 8601 duration (``P1D``, ``PT30M``) or a number of seconds, as ``OPEL_STEP_DOWN_DWELL``."""
    try:
        value = timedelta(seconds=float(text)) if text.replace(".", "", 1).isdigit() else None
        value = _DURATION.validate_python(text) if value is None else value
    except ValidationError:
        raise argparse.ArgumentTypeError(f"not a duration (P1D, PT30M or seconds): {text!r}") from None
    if value < timedelta(0):
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def default_jobs() -> int:
    """The CPUs this process may use (all of them where the platform cannot say)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def jobs_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a number of processes (1 or more): {text!r}")
    return value


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``opel replay`` to the ``opel`` command's subcommands."""
    replay = commands.add_parser(
        "replay",
        help="replay a history of inputs under a catalogue (and compare two)",
        description=(
            "Replay readings, referral events, acute returns and commands (JSON lines as the topics "
            "carry them, or CSV; see docs/replay.md) through the service's own semantics. Writes "
            "the escalation events, one per line as the service writes them, time at each level per "
            "scope and escalations per role; with --compare, where two catalogues differ. Exit 1 if "
            "any input is invalid (nothing is written), 2 for a catalogue or usage problem."
        ),
    )
    replay.add_argument("history", nargs="+", metavar="HISTORY", help="JSON lines or CSV files")
    replay.add_argument("--catalogue", metavar="ID|FILE", help="indicator catalogue (A)")
    replay.add_argument(
        "--compare",
        nargs="+",
        metavar="ID|FILE",
        help="a second indicator catalogue (B); or two (A B) without --catalogue",
    )
    replay.add_argument("--acute", default=DEFAULT_ACUTE_CATALOGUE, metavar="ID|FILE")
    replay.add_argument(
        "--dwell", type=duration, default=None, help="step-down dwell (default: each catalogue's own)"
    )
    replay.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write transitions.jsonl, report.json and report.html here (generate: a file; "
        "--scale national: a folder)",
    )
    replay.add_argument(
        "--engine",
        choices=("auto", "core", "columnar"),
        default="auto",
        help="auto (default): the columnar path for readings and acute returns, the per-reading core "
        "for histories with referral events or commands; core: always per reading",
    )
    replay.add_argument(
        "--jobs",
        type=jobs_count,
        default=default_jobs(),
        metavar="N",
        help="worker processes for the columnar replay of Parquet histories (default: the CPUs "
        "this process may use, %(default)s here); 1 replays in this process",
    )
    generating = replay.add_argument_group(
        "opel replay generate [--scale kent|national] [--days N] [--seed S] [--out FILE|DIR]",
        "write a synthetic history (JSON lines; stdout without --out): winter pressure, weekday "
        "effects, noise, missing readings and late arrivals; --scale national writes a generated "
        "national catalogue, acute catalogue and Parquet histories into the folder --out",
    )
    generating.add_argument("--scale", choices=("kent", "national"), default="kent")
    generating.add_argument("--days", type=int, default=120)
    generating.add_argument("--seed", type=int, default=1)
    generating.add_argument(
        "--end", type=datetime.fromisoformat, help="last instant (default: from 1 Dec 2025)"
    )
    generating.add_argument("--every", type=duration, help="reading interval (default PT15M)")
    generating.add_argument("--keah", choices=("both", "count", "category"), default="both")
    warning = replay.add_argument_group(
        "opel replay warnings HISTORY... --catalogue ID|FILE [--min-confidence 0.5,0.6] [--min-lead 0,1] "
        "[--bucket-minutes 30,60] [--window-points 16,24] [--out FILE]",
        "backtest the early warning (docs/early-warning.md): per horizon (4, 12, 24, 48 h) precision, "
        "recall, median lead time and false warnings per area per week, as a Markdown table",
    )
    warning.add_argument("--min-confidence", type=_numbers, metavar="C[,C...]")
    warning.add_argument("--min-lead", type=_numbers, metavar="HOURS[,HOURS...]")
    warning.add_argument("--bucket-minutes", type=_numbers, metavar="MINUTES[,MINUTES...]")
    warning.add_argument("--window-points", type=_numbers, metavar="N[,N...]")
    replay.set_defaults(handler=run_replay)


def _numbers(text: str) -> list[float]:
    from .warnings_cli import numbers  # noqa: PLC0415

    return numbers(text)


# The work modules are imported when a replay runs, not when `opel` starts: registering this
# command must not slow `opel assess` down.
def run_generate(args: argparse.Namespace) -> int:
    from .generate import generate, shape_for, write_json_lines  # noqa: PLC0415

    if len(args.history) > 1 or args.catalogue or args.compare:
        print(
            "opel replay generate: takes --scale, --days, --seed, --end, --every, --keah, --out",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.end is not None and args.end.tzinfo is None:
        print("opel replay generate: --end needs a timezone offset", file=sys.stderr)
        return EXIT_USAGE
    if args.scale == "national":
        return run_generate_national(args)
    try:
        shape = shape_for(args.scale, args.days, end=args.end, every=args.every, keah=args.keah)
    except ValueError as exc:
        print(f"opel replay generate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    values = generate(shape, args.seed)
    if args.out is None:
        write_json_lines(values, sys.stdout)
        return EXIT_OK
    target = Path(args.out)
    if target.suffix.lower() == ".parquet":
        from .parquet import acute_path, write_parquet  # noqa: PLC0415

        # Written beside the targets and renamed at the end: no half-written history is left.
        partial_file = target.with_name(f".{target.name}.partial")
        partial_acute = partial_file.with_name(f".{acute_path(target).name}.partial")
        try:
            count = write_parquet(values, partial_file, acute=partial_acute)
            partial_acute.replace(acute_path(target))
            partial_file.replace(target)
        finally:
            partial_file.unlink(missing_ok=True)
            partial_acute.unlink(missing_ok=True)
        print(f"{count} inputs written to {target} and {acute_path(target)}", file=sys.stderr)
        return EXIT_OK
    partial_file = target.with_name(f".{target.name}.partial")
    try:
        with partial_file.open("w", encoding="utf-8") as out:
            count = write_json_lines(values, out)
        partial_file.replace(target)
    finally:
        partial_file.unlink(missing_ok=True)
    print(f"{count} inputs written to {target}", file=sys.stderr)
    return EXIT_OK


def run_generate_national(args: argparse.Namespace) -> int:
    """The national winter: both catalogues and both Parquet histories into the folder --out."""
    from .generate import default_start  # noqa: PLC0415
    from .national import (  # noqa: PLC0415  # noqa: PLC0415
        ACUTE_CATALOGUE_FILE,
        ACUTE_FILE,
        CATALOGUE_FILE,
        READINGS_FILE,
        NationalShape,
        write_national,
    )
    from .output import staged  # noqa: PLC0415

    if args.out is None or args.days < 1:
        print(
            "opel replay generate --scale national: needs --out DIR (catalogues and Parquet "
            "histories are written there) and --days of 1 or more",
            file=sys.stderr,
        )
        return EXIT_USAGE
    every = args.every or timedelta(minutes=15)
    shape = NationalShape(default_start(args.days, args.end), args.days, every)
    with staged(args.out) as folder:
        readings, returns = write_national(folder, shape, args.seed)
    out = args.out
    print(
        f"{readings} readings and {returns} acute returns written to {out}; replay with:\n"
        f"  opel replay {out / READINGS_FILE} {out / ACUTE_FILE} --catalogue {out / CATALOGUE_FILE} "
        f"--acute {out / ACUTE_CATALOGUE_FILE} --out {out.name}-replay",
        file=sys.stderr,
    )
    return EXIT_OK


def run_replay(args: argparse.Namespace) -> int:
    from .run import build_context  # noqa: PLC0415

    if args.history[0] == "generate":
        return run_generate(args)
    if args.history[0] == "warnings":
        from .warnings_cli import run_warnings  # noqa: PLC0415

        return run_warnings(args)
    names = [*([args.catalogue] if args.catalogue else []), *(args.compare or [])]
    if not 1 <= len(names) <= 2:
        print(
            "opel replay: name one catalogue (--catalogue A) or two (--catalogue A --compare B, "
            "or --compare A B)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    contexts = [build_context(name, acute=args.acute, dwell=args.dwell) for name in names]
    paths = [Path(p) for p in args.history]
    columnar = args.engine != "core"
    try:
        return _replay(args, names, contexts, paths, columnar=columnar)
    except KeyboardInterrupt:
        # Nothing of --out exists yet, or the old DIR is as it was (output.staged); opel's main
        # turns this into exit status 130 as for opel assess.
        print("opel replay: interrupted; nothing written", file=sys.stderr)
        raise


def _replay(
    args: argparse.Namespace, names: list[str], contexts: list[Context], paths: list[Path], *, columnar: bool
) -> int:
    from .by_area import total_readings  # noqa: PLC0415
    from .history import HistoryError, read_history  # noqa: PLC0415
    from .output import write_all, write_events, write_json  # noqa: PLC0415
    from .progress import progress  # noqa: PLC0415
    from .report_html import write_report_html  # noqa: PLC0415
    from .run import build_context, run_history, run_parquet  # noqa: PLC0415

    parquet = columnar and all(p.suffix.lower() == ".parquet" for p in paths)
    total = total_readings(paths) if parquet and sys.stderr.isatty() else None
    with progress(f"{len(paths)} file(s) under {' and '.join(names)}", total) as advance:
        recipes = [partial(build_context, name, acute=args.acute, dwell=args.dwell) for name in names]
        outcomes = run_parquet(paths, contexts, advance, jobs=args.jobs, recipes=recipes) if parquet else None
        try:
            if outcomes is None:
                history = read_history(paths)
                outcomes = run_history(history, contexts, columnar=columnar)
                count = len(history.inputs)
            else:
                count = outcomes[0].inputs + sum(outcomes[0].not_taken.values())
        except HistoryError as exc:
            print(f"opel replay: {exc}", file=sys.stderr)
            return EXIT_INVALID_INPUT
    report = build_report(outcomes, inputs=count)
    if args.out is not None:
        writers = {"transitions.jsonl": partial(write_events, events=outcomes[0].events)}
        if len(outcomes) > 1:
            writers["transitions-compare.jsonl"] = partial(write_events, events=outcomes[1].events)
        writers["report.json"] = partial(write_json, value=report)
        writers["report.html"] = partial(write_report_html, report=report, outcomes=outcomes)
        with progress(f"writing {args.out}"):
            write_all(args.out, writers)
    print(text_summary(report, args.out))
    return EXIT_OK


def build_report(outcomes: list[Outcome], *, inputs: int) -> dict[str, Any]:
    from .run import compare, summary  # noqa: PLC0415

    report: dict[str, Any] = {"inputs": inputs, "a": summary(outcomes[0])}
    if len(outcomes) > 1:
        report["b"] = summary(outcomes[1])
        report["compare"] = compare(outcomes[0], outcomes[1])
    return report


def text_summary(report: dict[str, Any], out: Path | None) -> str:
    lines = []
    for side in ("a", "b"):
        if side not in report:
            continue
        part = report[side]
        lines.append(
            f"{part['catalogue']}: {report['inputs']} inputs from {part['start']} to {part['end']}, "
            f"{part['transitions']} transitions"
        )
        county = next((v for k, v in part["days_at_level"].items() if k.startswith("county/")), None)
        if county is not None:
            days = ", ".join(f"OPEL {lv} {county[lv]:.1f}" for lv in ("1", "2", "3", "4"))
            lines.append(f"  county days at level: {days}")
    if "compare" in report:
        diff = report["compare"]
        lines.append(
            f"differences: {len(diff['periods'])} periods, {len(diff['only_in_a'])} transitions only in "
            f"{diff['a']}, {len(diff['only_in_b'])} only in {diff['b']}"
        )
    if out is not None:
        lines.append(f"written to {out}")
    return "\n".join(lines)
