"""``opel exercise report``: score a scenario and its recorded responses, write report.json and
report.html. Imports the core only when the command runs, so ``opel`` starts light."""

from __future__ import annotations

import argparse
from pathlib import Path

EXIT_OK = 0


def _report(args: argparse.Namespace) -> int:
    from opel.backtest.run import build_context  # noqa: PLC0415 (only when the command runs)
    from opel.exercise.play import play  # noqa: PLC0415
    from opel.exercise.report import build_report  # noqa: PLC0415
    from opel.exercise.report_html import render  # noqa: PLC0415
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
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (out / "report.html").write_text(render(report), encoding="utf-8")
    counts = ", ".join(f"{n} {o.replace('_', ' ')}" for o, n in report.counts.items())
    print(f"EXERCISE {report.scenario}: {counts}; wrote {out / 'report.json'} and {out / 'report.html'}")
    return EXIT_OK


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    exercise = commands.add_parser("exercise", help="score an exercise scenario: the after-action report")
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
