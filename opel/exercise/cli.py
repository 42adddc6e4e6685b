"""``opel exercise report``: score a scenario and its recorded responses, write report.json and
report.html. ``opel exercise start|stop|status``: a live exercise in the running worker, through
its API (docs/exercises.md). Imports the core only when the command runs, so ``opel`` starts light."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opel.contracts.exercise_report import ExerciseReport
    from opel.contracts.exercise_state import ExerciseState

EXIT_OK = 0
EXIT_UNREACHABLE = 1
EXIT_REFUSED = 2


def _report(args: argparse.Namespace) -> int:
    from opel.backtest.run import build_context  # noqa: PLC0415 (only when the command runs)
    from opel.exercise.play import play  # noqa: PLC0415
    from opel.exercise.report import build_report  # noqa: PLC0415
    from opel.exercise.scenario import (  # noqa: PLC0415
        ScenarioError,
        check_against_plan,
        load_responses,
        load_scenario,
    )

    scenario = load_scenario(args.scenario)
    ctx = build_context(scenario.catalogue, acute=scenario.acute)
    check_against_plan(scenario, ctx.actions, args.scenario)
    if ctx.actions is None:
        raise ScenarioError(args.scenario, "catalogue", f"{scenario.catalogue} has no action plan")
    responses = load_responses(args.responses) if args.responses else None
    report = build_report(scenario, play(scenario, ctx), ctx.actions, responses)
    print(f"{summary(report)}; {write_report(report, Path(args.out))}")
    return EXIT_OK


def summary(report: ExerciseReport) -> str:
    counts = ", ".join(f"{n} {o.replace('_', ' ')}" for o, n in report.counts.items())
    return f"EXERCISE {report.scenario}: {counts}"


def write_report(report: ExerciseReport, out: Path) -> str:
    """Write report.json and report.html into ``out``; say so."""
    from opel.exercise.report_html import render  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (out / "report.html").write_text(render(report), encoding="utf-8")
    return f"wrote {out / 'report.json'} and {out / 'report.html'}"


def _describe(state: ExerciseState) -> str:
    if state.status == "none":
        return "no exercise has run since the worker started"
    assert state.scenario_start is not None
    assert state.scenario_now is not None
    assert state.scenario_end is not None
    from opel.exercise.scenario import format_offset  # noqa: PLC0415

    at = format_offset(state.scenario_now - state.scenario_start)
    of = format_offset(state.scenario_end - state.scenario_start)
    return (
        f"EXERCISE {state.name}: {state.status} at {state.speed:g}x, scenario time "
        f"{state.scenario_now.isoformat()} ({at} of {of}), "
        f"{state.injects_played} of {state.injects_total} escalations published"
    )


def _remote(args: argparse.Namespace) -> int:
    """start, stop, status: one call to the API; a refusal is one line and exit 2."""
    from streams.exercise.client import ApiError, ExerciseClient  # noqa: PLC0415

    client = ExerciseClient.from_env(args.url, args.token_env)
    name = f"opel exercise {args.action}"
    try:
        if args.action == "start":
            try:
                text = Path(args.scenario).read_text(encoding="utf-8")
            except OSError as exc:
                print(f"{name}: {args.scenario}: cannot read file: {exc.strerror or exc}", file=sys.stderr)
                return EXIT_REFUSED
            state = client.start(text, args.speed)
        elif args.action == "stop":
            state = client.stop()
        else:
            state = client.status()
    except ApiError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        refused = exc.status is not None and 400 <= exc.status < 500
        return EXIT_REFUSED if refused else EXIT_UNREACHABLE
    if args.action == "status" and args.json:
        print(state.model_dump_json(indent=2))
        return EXIT_OK
    if state.report is None:
        print(_describe(state))
        return EXIT_OK
    out = getattr(args, "out", None)
    print(summary(state.report) + (f"; {write_report(state.report, Path(out))}" if out else ""))
    return EXIT_OK


def _speed(text: str) -> float:
    from opel.contracts.exercise_state import MAX_SPEED, MIN_SPEED  # noqa: PLC0415

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not MIN_SPEED <= value <= MAX_SPEED:
        raise argparse.ArgumentTypeError(f"must be from {MIN_SPEED:g} to {MAX_SPEED:g}, got {text}")
    return value


def _add_api_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default="http://127.0.0.1:8080",
        help="the opel API (default: http://127.0.0.1:8080, opel run's OPEL_WEB_PORT default)",
    )
    parser.add_argument(
        "--token-env",
        default="OPEL_API_TOKEN_ESCALATION_GROUP",
        metavar="VAR",
        help="environment variable holding an escalation_group token (default: %(default)s)",
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    exercise = commands.add_parser(
        "exercise", help="exercises: score a scenario (report), or run one live (start, stop, status)"
    )
    actions = exercise.add_subparsers(dest="action", required=True, metavar="ACTION")
    report = actions.add_parser(
        "report",
        help="play a scenario through the core and score the recorded responses",
        description=(
            "Play SCENARIO's injects through the pure core, measure each expected action against "
            "the plan's deadline using the recorded responses, and write report.json and report.html."
        ),
    )
    report.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file (triggers/exercises/)")
    report.add_argument("--responses", metavar="FILE", help="responses YAML; default: the scenario's own")
    report.add_argument("--out", default=".", metavar="DIR", help="directory to write into (default: .)")
    report.set_defaults(handler=_report)

    start = actions.add_parser(
        "start",
        help="start a live exercise in the running worker (escalation group)",
        description=(
            "Send SCENARIO to the running worker's API (POST /exercise): its escalations are "
            "published on the exercise topics in scenario time, SPEED times faster than real time, "
            "and only exercise routes are told. A refused scenario is one line naming the key; exit 2."
        ),
    )
    start.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file (triggers/exercises/)")
    start.add_argument(
        "--speed", type=_speed, default=1.0, help="scenario seconds per real second, 1 to 3600"
    )
    _add_api_arguments(start)
    start.set_defaults(handler=_remote)
    stop = actions.add_parser(
        "stop",
        help="end the running exercise now and print its report's summary",
        description="POST /exercise/stop; with --out, write report.json and report.html there.",
    )
    stop.add_argument("--out", metavar="DIR", help="directory to write report.json and report.html into")
    _add_api_arguments(stop)
    stop.set_defaults(handler=_remote)
    status = actions.add_parser("status", help="where the live exercise stands (GET /exercise)")
    status.add_argument("--json", action="store_true", help="print the state as JSON")
    _add_api_arguments(status)
    status.set_defaults(handler=_remote)
