#!/usr/bin/env python3
"""Validate messages dumped from opel's topics against the published JSON Schemas.

Reads JSON lines from files, directories (every file in them, recursively) or standard input
(``-``). A line is either what ``opel tail`` prints, ``{"topic", "partition", "offset", "key",
"value"}``, whose value is checked against the schema of its topic, or a bare message, checked
against the schema named with ``--schema``. Needs only the ``jsonschema`` package and the schema
files (docs/schemas/, or ``--schemas DIR``), so a partner can run it without opel installed::

    opel tail status --count 1000 > status.jsonl
    python scripts/check_contracts.py status.jsonl
    python scripts/check_contracts.py --schema escalation dumps/escalations/

Exit status: 0 when every message validates, 1 when any is refused, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

SCHEMA_DIR: Final = Path(__file__).resolve().parent.parent / "docs" / "schemas"
TOPIC_SCHEMAS: Final[dict[str, str]] = {
    "opel.capacity.v1": "reading",
    "opel.referrals.v1": "reading",
    "opel.referral-events.v1": "referral-event",
    "opel.acute.v1": "acute-submission",
    "opel.commands.v1": "command",
    "opel.status.v1": "status",
    "opel.escalations.v1": "escalation",
    "opel.alerts.v1": "alert",
    "opel.audit.v1": "audit",
    "opel.deadletter.v1": "deadletter",
    "opel.action-items.v1": "action-item",
    "opel.warnings.v1": "warning",
    "opel.internal.area.v1": "stage",
    "opel.internal.county.v1": "stage",
    "opel.internal.system.v1": "stage",
    "opel.partner-deliveries.v1": "partner-delivery",
}
"""The schema (docs/schemas/<name>.schema.json) every message on a topic validates against."""
ENVELOPE: Final = frozenset({"topic", "partition", "offset", "key", "value"})
"""What `opel tail` prints per record (plus ``encoding`` for a value that is not UTF-8); a dead
letter has these fields too, and more, so it is never taken for one."""
SHOWN_ERRORS: Final = 3


@dataclass(frozen=True)
class Refusal:
    where: str
    schema: str
    errors: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.where}: refused by {self.schema}: " + "; ".join(self.errors)


class Checker:
    def __init__(self, schema_dir: Path, schema: str | None) -> None:
        self.schema_dir = schema_dir
        self.schema = schema
        self._validators: dict[str, Draft202012Validator] = {}
        self.checked: Counter[str] = Counter()
        self.refusals: list[Refusal] = []

    def validator(self, name: str) -> Draft202012Validator:
        if name not in self._validators:
            path = self.schema_dir / f"{name}.schema.json"
            document = json.loads(path.read_text(encoding="utf-8"))
            self._validators[name] = Draft202012Validator(
                document, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
        return self._validators[name]

    def line(self, text: str, where: str) -> None:
        if not text.strip():
            return
        try:
            data: Any = json.loads(text)
        except ValueError as exc:
            self.refusals.append(Refusal(where, "json", (f"not JSON: {exc}",)))
            return
        name, message = self.schema, data
        if isinstance(data, dict) and ENVELOPE <= set(data) <= ENVELOPE | {"encoding"}:
            where = f"{where} {data['topic']}@{data['partition']}:{data['offset']} key={data['key']}"
            message = data["value"]
            if message is None:
                return  # a tombstone on a compacted topic: nothing to validate
            if data.get("encoding") == "base64":
                self.refusals.append(Refusal(where, "json", ("the value is not UTF-8 text",)))
                return
            name = self.schema or TOPIC_SCHEMAS.get(str(data["topic"]))
            if name is None:
                self.refusals.append(Refusal(where, "?", (f"no published schema for topic {data['topic']}",)))
                return
        if name is None:
            raise UsageError(f"{where}: a bare message (not an `opel tail` line) needs --schema")
        errors = [leaf for e in self.validator(name).iter_errors(message) for leaf in explain(e)]
        self.checked[name] += 1
        if errors:
            shown = tuple(errors[:SHOWN_ERRORS])
            extra = (f"(+{len(errors) - SHOWN_ERRORS} more)",) if len(errors) > SHOWN_ERRORS else ()
            self.refusals.append(Refusal(where, f"{name}.schema.json", shown + extra))


def explain(error: ValidationError) -> list[str]:
    """What is wrong, at the field at fault. For a union (``oneOf``: a status is one of five kinds)
    the errors of the branch the message meant, the one whose tag (``const``) it matches, rather
    than "not valid under any of the given schemas"."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[object, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)

        def fit(subs: list[ValidationError]) -> tuple[bool, int]:
            return any(sub.validator == "const" for sub in subs), len(subs)

        best = min(branches.values(), key=fit)
        return [leaf for sub in best for leaf in explain(sub)]
    where = "/".join(map(str, error.absolute_path)) or "(message)"
    return [f"{where}: {error.message[:300]}"]


class UsageError(Exception):
    pass


def lines(sources: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(where, text) for every line of every source, in order."""
    for source in sources:
        if source == "-":
            for number, text in enumerate(sys.stdin, 1):
                yield f"<stdin>:{number}", text
            continue
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            files = [path]
        else:
            raise UsageError(f"{source}: no such file or directory")
        for file in files:
            with file.open(encoding="utf-8") as handle:
                for number, text in enumerate(handle, 1):
                    yield f"{file}:{number}", text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="check_contracts.py",
        description="Validate JSON lines dumped from opel topics against the published schemas.",
    )
    parser.add_argument(
        "sources", nargs="*", default=["-"], help="files or directories of JSON lines; - is stdin"
    )
    parser.add_argument(
        "--schema",
        choices=sorted(set(TOPIC_SCHEMAS.values())),
        help="the schema for every line (default: from each `opel tail` line's topic)",
    )
    parser.add_argument("--schemas", type=Path, default=SCHEMA_DIR, help="folder of *.schema.json files")
    parser.add_argument("--show", type=int, default=20, help="how many refusals to print (default 20)")
    args = parser.parse_args(argv)
    checker = Checker(args.schemas, args.schema)
    try:
        for where, text in lines(args.sources):
            checker.line(text, where)
    except (UsageError, OSError, UnicodeDecodeError) as exc:
        print(f"check_contracts: {exc}", file=sys.stderr)
        return 2
    for refusal in checker.refusals[: args.show]:
        print(refusal)
    if len(checker.refusals) > args.show:
        print(f"... and {len(checker.refusals) - args.show} more refusals")
    counts = ", ".join(f"{count} {name}" for name, count in sorted(checker.checked.items())) or "nothing"
    print(f"checked {counts}: {len(checker.refusals)} refused", file=sys.stderr)
    return 1 if checker.refusals else 0


if __name__ == "__main__":
    sys.exit(main())
