"""The `opel` command. The core commands here need neither Kafka nor Faust.

Service commands (`opel run`, ...) live in other packages and join through the
``opel.commands`` entry-point group, so this module never imports them.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Sequence
from functools import partial
from importlib.metadata import entry_points
from typing import TypeVar

from opel.actions import DEFAULT_ACTION_PLAN
from opel.actions_load import load_action_plan
from opel.actions_show import render_change, render_level
from opel.assess_lines import LineAssessor
from opel.catalogue import AcuteCatalogue, IndicatorCatalogue, LevelMap
from opel.catalogue_load import (
    DEFAULT_ACUTE_CATALOGUE,
    DEFAULT_INDICATOR_CATALOGUE,
    load_catalogue,
    shipped_with_same_version,
)
from opel.catalogue_show import render_catalogue
from opel.errors import CatalogueError
from opel.levels import Level
from opel.sources import shipped_names

T = TypeVar("T")

EXIT_OK, EXIT_INVALID_INPUT, EXIT_USAGE = 0, 1, 2
READ_BYTES = 1 << 20
GC_THRESHOLDS = (50_000, 50, 100)  # as the stream worker's (streams/worker.py)


def _assess(args: argparse.Namespace) -> int:
    indicators: IndicatorCatalogue | None = None
    acute: AcuteCatalogue | None = None
    for name in args.catalogue or []:
        catalogue = load_catalogue(name)
        if isinstance(catalogue, LevelMap):
            raise CatalogueError(catalogue.meta.source, "kind", "a level map cannot assess lines on its own")
        if isinstance(catalogue, IndicatorCatalogue):
            indicators = catalogue
        else:
            acute = catalogue
    # A kind not named on the command line falls back to the current default catalogue.
    if indicators is None:
        indicators = _as(load_catalogue(DEFAULT_INDICATOR_CATALOGUE), IndicatorCatalogue)
    if acute is None:
        acute = _as(load_catalogue(DEFAULT_ACUTE_CATALOGUE), AcuteCatalogue)
    assessor = LineAssessor(indicators, acute)
    # What start-up built (modules, catalogues, schemas) lives until exit: frozen, the collector
    # no longer walks it; and the batches' readings are acyclic, so it may run far less often.
    # About a tenth of the run on 1,000,000 lines (docs/benchmarks.md, issue 11).
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    out = sys.stdout.buffer
    # os.read returns what a pipe holds as soon as it holds anything, and each block of answers
    # is flushed (one write per batch of up to 1,024 lines), so answers keep pace with a feed.
    for block in assessor.run(iter(partial(os.read, sys.stdin.fileno(), READ_BYTES), b"")):
        out.write(block)
        out.flush()
    return EXIT_INVALID_INPUT if assessor.invalid else EXIT_OK


def _as(catalogue: object, kind: type[T]) -> T:
    assert isinstance(catalogue, kind)
    return catalogue


def _validate(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in args.paths:
        try:
            catalogue = load_catalogue(path)
        except CatalogueError as exc:
            print(f"invalid: {exc}", file=sys.stderr)
            status = EXIT_INVALID_INPUT
            continue
        meta = catalogue.meta
        print(f"ok: {meta.source} ({meta.id} version {meta.version}, {meta.kind.value}, {meta.status})")
        shipped = shipped_with_same_version(catalogue)
        if shipped is not None:
            print(
                f"warning: {meta.source}: reuses id {meta.id} version {meta.version} of the shipped "
                f"{shipped.source} with different content ({meta.content_hash}, shipped "
                f"{shipped.content_hash}); a worker running the shipped catalogue refuses it: "
                "give the changed catalogue a new version",
                file=sys.stderr,
            )
    return status


def _show(args: argparse.Namespace) -> int:
    print(render_catalogue(load_catalogue(args.name)), end="")
    return EXIT_OK


def _list(_: argparse.Namespace) -> int:
    for name in shipped_names():
        meta = load_catalogue(name).meta
        print(f"{name:28} {meta.kind.value:11} version {meta.version:8} {meta.status}")
    return EXIT_OK


def _level(text: str) -> Level:
    try:
        return Level.parse(int(text) if text.isdigit() else text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _actions(args: argparse.Namespace) -> int:
    if args.level is not None and (args.from_level is not None or args.to_level is not None):
        print(
            "opel actions: --level goes alone: --level N shows what is in force at a level, "
            "--from A --to B what a change starts and stands down",
            file=sys.stderr,
        )
        return EXIT_USAGE
    plan = load_action_plan(args.plan)
    roles = list(plan.roles)
    if args.role:
        unknown = [role for role in args.role if role not in plan.roles]
        if unknown:
            raise CatalogueError(plan.id, "", f"unknown role {unknown[0]!r} (roles: {', '.join(plan.roles)})")
        roles = args.role
    if args.to_level is not None:
        print(render_change(plan, args.from_level, args.to_level, roles))
    elif args.from_level is not None:
        raise CatalogueError(plan.id, "", "--from needs --to: say which level the change goes to")
    else:
        for level in [args.level] if args.level else [Level.OPEL_2, Level.OPEL_3, Level.OPEL_4]:
            print(render_level(plan, level, roles))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opel", description="OPEL escalation levels for adult social care.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    assess = commands.add_parser(
        "assess",
        help="assess JSON lines from stdin, one JSON line out per line in",
        description=(
            "Read readings or acute submissions as JSON lines on stdin; write one JSON line per input "
            "line, in order. Exit 1 if any line was invalid (its output line has an 'error')."
        ),
    )
    assess.add_argument(
        "--catalogue",
        action="append",
        metavar="NAME|PATH",
        help=(
            f"catalogue to use; repeat to give an indicator and an acute catalogue. Defaults: "
            f"{DEFAULT_INDICATOR_CATALOGUE}, {DEFAULT_ACUTE_CATALOGUE}"
        ),
    )
    assess.set_defaults(handler=_assess)

    catalogue = commands.add_parser("catalogue", help="list, validate or show trigger catalogues")
    actions = catalogue.add_subparsers(dest="action", required=True, metavar="ACTION")
    validate = actions.add_parser("validate", help="check catalogue files; exit 1 if any is invalid")
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.set_defaults(handler=_validate)
    show = actions.add_parser("show", help="print a catalogue's trigger tables as a person reads them")
    show.add_argument("name", metavar="NAME|PATH")
    show.set_defaults(handler=_show)
    listing = actions.add_parser("list", help="list the catalogues shipped with opel")
    listing.set_defaults(handler=_list)

    actions_cmd = commands.add_parser(
        "actions",
        help="what each role does at a level, or what starts and stands down on a change",
        description=(
            "Show the action plan: --level N for what is in force, --from A --to B for a change "
            "(one or the other)."
        ),
    )
    actions_cmd.add_argument("--plan", default=DEFAULT_ACTION_PLAN, metavar="NAME|PATH")
    actions_cmd.add_argument("--level", type=_level, default=None, help="default: levels 2, 3 and 4")
    actions_cmd.add_argument("--from", dest="from_level", type=_level, default=None, metavar="LEVEL")
    actions_cmd.add_argument("--to", dest="to_level", type=_level, default=None, metavar="LEVEL")
    actions_cmd.add_argument("--role", action="append", metavar="ROLE", help="repeat to show several roles")
    actions_cmd.set_defaults(handler=_actions)

    from opel.backtest.cli import register as register_replay  # noqa: PLC0415 (its own module)

    register_replay(commands)
    from opel.exercise.cli import register as register_exercise  # noqa: PLC0415 (its own module)

    register_exercise(commands)
    for entry in entry_points(group="opel.commands"):
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] = entry.load()
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
    except CatalogueError as exc:
        print(f"opel: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    return status


if __name__ == "__main__":
    sys.exit(main())
