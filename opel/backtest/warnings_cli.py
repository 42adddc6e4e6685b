"""``opel replay warnings HISTORY... --catalogue ID|FILE``: the early-warning backtest table.

Prints (or writes with ``--out FILE``) the Markdown table of :mod:`opel.backtest.warnings`, one
block of four horizons per combination of settings given (``--min-confidence 0.5,0.6``,
``--min-lead 0,1``, ``--bucket-minutes 30,60``, ``--window-points 16,24``), headed by the command
that made it, so docs/early-warning.md shows where its numbers come from.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from opel.forecast.settings import WarningSettings
from opel.models import Reading

from .history import HistoryError, check_history, read_history
from .run import build_context
from .warnings import Backtest, backtest, table_rows

EXIT_OK, EXIT_INVALID_INPUT, EXIT_USAGE = 0, 1, 2


def numbers(text: str) -> list[float]:
    """A comma-separated list of numbers, for argparse."""
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def run_warnings(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.history[1:]]
    if not paths or not args.catalogue or args.compare:
        print(
            "opel replay warnings: needs HISTORY... and --catalogue ID|FILE (no --compare)", file=sys.stderr
        )
        return EXIT_USAGE
    base = WarningSettings()
    try:
        settings = [
            replace(
                base,
                bucket_minutes=int(bucket),
                window_points=int(points),
                min_confidence=confidence,
                min_lead_hours=lead,
            )
            for bucket in (args.bucket_minutes or [base.bucket_minutes])
            for points in (args.window_points or [base.window_points])
            for confidence in (args.min_confidence or [base.min_confidence])
            for lead in (args.min_lead or [base.min_lead_hours])
        ]
    except ValueError as exc:
        print(f"opel replay warnings: {exc}", file=sys.stderr)
        return EXIT_USAGE
    ctx = build_context(args.catalogue, acute=args.acute, dwell=args.dwell)
    history = read_history(paths)
    try:
        seen = history.end or datetime_min()
        accepted = check_history(history, [ctx], seen)[0]
    except HistoryError as exc:
        print(f"opel replay warnings: {exc}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    readings = [value for value in accepted.inputs if isinstance(value, Reading)]
    results = [backtest(readings, ctx.catalogue, ctx.policy, s) for s in settings]
    text = render(results, command(args))
    if args.out is None:
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"backtest table written to {args.out}", file=sys.stderr)
    return EXIT_OK


def command(args: argparse.Namespace) -> list[str]:
    """The command line that makes this table (what the table's heading quotes)."""
    out = ["replay", *args.history, "--catalogue", args.catalogue]
    if args.min_confidence:
        out += ["--min-confidence", ",".join(f"{c:g}" for c in args.min_confidence)]
    if args.min_lead:
        out += ["--min-lead", ",".join(f"{h:g}" for h in args.min_lead)]
    if args.bucket_minutes:
        out += ["--bucket-minutes", ",".join(f"{m:g}" for m in args.bucket_minutes)]
    if args.window_points:
        out += ["--window-points", ",".join(f"{n:g}" for n in args.window_points)]
    return out


def datetime_min() -> datetime:
    return datetime(2000, 1, 1, tzinfo=UTC)


def render(results: list[Backtest], argv: list[str]) -> str:
    first = results[0] if results else None
    head = [f"Made by `opel {shlex.join(argv)}`."]
    if first is not None:
        head.append(
            f"{first.readings} readings in {first.series} numeric series, {first.areas} areas, "
            f"{first.weeks:.1f} weeks."
        )
    return "\n".join([*head, "", *table_rows(results), ""])
