"""Reading a history: JSON lines as the input topics carry them, and CSV with a documented header.

Every input keeps where it came from (file and line), so whatever is wrong with it, at parsing
or when the catalogue does not know one of its ids, is reported as ``FILE: line N: FIELD:
PROBLEM``, like ``opel assess`` reports a bad line. Nothing is skipped silently.

JSON lines (``.jsonl``, ``.json``, ``.ndjson``, or any other name): one object per line, in the
shape of its topic (docs/topics.md): a reading (``indicator``), a referral event (``event_id``
and ``kind``), an acute return (``site``) or a command (``type``: ``override`` or ``withdraw``).

CSV (``.csv``): the first line is one of two headers, in any column order:

- readings: ``observed_at,area,indicator,value``;
- acute returns: ``site,observed_at`` and any of the nine parameter ids
  (:data:`opel.models.PARAMETER_IDS`); an empty cell is a parameter not reported.

A value that reads as a number is a number (``65``, ``69.9``); any other text is a category
(``limited``).

Parquet (``.parquet``): the same two layouts as columns (:mod:`opel.backtest.parquet`), read
with polars; a problem names the file, the row (counted from 1) and the column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError
from pydantic_core import from_json

from opel.destinations import destinations
from opel.errors import InputError
from opel.feeds import Override, ReferralEvent, Withdraw
from opel.models import PARAMETER_IDS, AcuteSubmission, Reading
from opel.replay import Input, event_time
from opel.stages.context import Context
from opel.validation_errors import field_problems, first_problem

READING_COLUMNS: Final = ("observed_at", "area", "indicator", "value")
ACUTE_COLUMNS: Final = ("site", "observed_at")
MAX_PROBLEMS: Final = 50
"""How many problems an error message lists before it says how many more there were."""

_COMMANDS: Final[TypeAdapter[Override | Withdraw]] = TypeAdapter(Override | Withdraw)


@dataclass(frozen=True, slots=True)
class Located:
    """One input and where it was read: ``line`` is the line of the file it starts on."""

    value: Input
    file: str
    line: int
    unit: str = "line"


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with one line: the field (``(line)`` for the line as a whole) and why."""

    file: str
    line: int
    field: str
    problem: str
    unit: str = "line"  # "row" for Parquet, whose rows have no line; row 0 is the file's schema

    def __str__(self) -> str:
        where = "schema" if self.unit == "row" and self.line == 0 else f"{self.unit} {self.line}"
        return f"{self.file}: {where}: {self.field}: {self.problem}"


class HistoryError(Exception):
    """A history that cannot be replayed; ``problems`` names each bad line."""

    def __init__(self, problems: Sequence[Problem], total: int | None = None) -> None:
        self.problems = list(problems)
        count = len(self.problems) if total is None else total
        shown = "\n".join(str(p) for p in self.problems[:MAX_PROBLEMS])
        more = f"\n... and {count - MAX_PROBLEMS} more" if count > MAX_PROBLEMS else ""
        super().__init__(f"{count} invalid input{'s' if count != 1 else ''}:\n{shown}{more}")


def _validation_problem(file: str, line: int, exc: ValidationError) -> Problem:
    path, problem = first_problem(field_problems(exc))
    return Problem(file, line, path or "(line)", problem)


def parse_json_object(data: Any) -> Input:
    """The input a JSON object stands for, told apart by its fields as ingest tells topics apart."""
    if not isinstance(data, dict):
        raise InputError("(line)", f"expected a JSON object, got {type(data).__name__}")
    if "site" in data:
        return AcuteSubmission.model_validate(data)
    if "event_id" in data and "kind" in data:
        return ReferralEvent.model_validate(data)
    if "type" in data:
        if data["type"] not in ("override", "withdraw"):
            raise InputError("type", f"a replay takes override and withdraw commands, got {data['type']!r}")
        return _COMMANDS.validate_python(data)
    if "indicator" in data:
        return Reading.model_validate(data)
    raise InputError(
        "(line)",
        "not a reading (indicator), referral event (event_id, kind), acute return (site) or command (type)",
    )


def read_json_lines(name: str, lines: Iterable[bytes], problems: list[Problem]) -> Iterator[Located]:
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            yield Located(parse_json_object(from_json(line)), name, number)
        except ValidationError as exc:
            problems.append(_validation_problem(name, number, exc))
        except InputError as exc:
            problems.append(Problem(name, number, exc.field, exc.problem))
        except ValueError as exc:
            problems.append(Problem(name, number, "(line)", f"not valid JSON: {exc}"))


def cell_value(text: str) -> int | float | str:
    """A CSV cell as a reading value: a number when it reads as one, else a category name."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def read_csv(name: str, text: Iterable[str], problems: list[Problem]) -> Iterator[Located]:
    rows = csv.reader(text)
    try:
        header = [column.strip() for column in next(rows)]
    except StopIteration:
        problems.append(Problem(name, 1, "(header)", "empty file; expected a header line"))
        return
    columns = set(header)
    readings = columns == set(READING_COLUMNS)
    acute = set(ACUTE_COLUMNS) <= columns and columns - set(ACUTE_COLUMNS) <= set(PARAMETER_IDS)
    if not (readings or acute) or len(columns) != len(header):
        problems.append(
            Problem(
                name,
                1,
                "(header)",
                f"expected {','.join(READING_COLUMNS)} (readings) or {','.join(ACUTE_COLUMNS)} and "
                f"parameter columns among {', '.join(PARAMETER_IDS)} (acute returns); "
                f"got {','.join(header)!r}",
            )
        )
        return
    for row in rows:
        number = rows.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(
                Problem(name, number, "(row)", f"{len(row)} cells for the header's {len(header)} columns")
            )
            continue
        cells = dict(zip(header, (cell.strip() for cell in row), strict=True))
        try:
            if readings:
                value: Input = Reading.model_validate({**cells, "value": cell_value(cells["value"])})
            else:
                parameters: dict[str, float] = {}
                for parameter in columns - set(ACUTE_COLUMNS):
                    if cells[parameter]:
                        try:
                            parameters[parameter] = float(cells[parameter])
                        except ValueError:
                            raise InputError(
                                parameter, f"must be a number or empty, got {cells[parameter]!r}"
                            ) from None
                value = AcuteSubmission.model_validate(
                    {"site": cells["site"], "observed_at": cells["observed_at"], "parameters": parameters}
                )
        except ValidationError as exc:
            problems.append(_validation_problem(name, number, exc))
            continue
        except InputError as exc:
            problems.append(Problem(name, number, exc.field, exc.problem))
            continue
        yield Located(value, name, number)


def read_file(path: Path, problems: list[Problem]) -> Iterator[Located]:
    """The inputs of one file; what is wrong goes to ``problems``."""
    name = str(path)
    if path.suffix.lower() == ".parquet":
        from .parquet import read_parquet  # noqa: PLC0415  (polars is loaded only for Parquet)

        yield from read_parquet(path, problems)
        return
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(name, 0, "(file)", f"cannot be read: {exc.strerror or exc}"))
        return
    if path.suffix.lower() == ".csv":
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            problems.append(Problem(name, 1, "(file)", f"not UTF-8 text: {exc}"))
            return
        yield from read_csv(name, io.StringIO(text, newline=""), problems)
    else:
        yield from read_json_lines(name, raw.splitlines(), problems)


@dataclass(frozen=True, slots=True)
class History:
    """The inputs of a history, in the order they were read, and the span of their event times."""

    inputs: list[Located]
    problems: list[Problem] = field(default_factory=list)

    @property
    def start(self) -> datetime | None:
        return min((event_time(x.value).astimezone(UTC) for x in self.inputs), default=None)

    @property
    def end(self) -> datetime | None:
        return max((event_time(x.value).astimezone(UTC) for x in self.inputs), default=None)


def read_history(paths: Sequence[Path]) -> History:
    """Every input of every file, and what is wrong with the lines that are not inputs (the
    check against the catalogues, :func:`check_history`, reports both together)."""
    problems: list[Problem] = []
    inputs = [item for path in paths for item in read_file(path, problems)]
    return History(inputs, problems)


@dataclass(slots=True)
class Accepted:
    """The inputs one catalogue takes, and how many of each kind it does not (see check_history)."""

    inputs: list[Input]
    not_taken: dict[str, int]


def check_history(history: History, contexts: Sequence[Context], seen: datetime) -> list[Accepted]:
    """Route every input with the core's own routing (:func:`opel.destinations.destinations`,
    as the service's ingest does) under each catalogue.

    An input that no catalogue takes (an unknown indicator, area or site, a value of the wrong
    kind) is an error naming its file, line and field, and the history is refused. One that only
    some catalogues take (a KEaH capacity sent both as a count for 2025-26 and as a category for
    2024-25, an indicator one plan added) is replayed under those and counted as not taken,
    by field and indicator, under the others.
    """
    problems = list(history.problems)
    out = [Accepted([], {}) for _ in contexts]
    for item in history.inputs:
        refusals: list[InputError] = []
        for ctx, accepted in zip(contexts, out, strict=True):
            try:
                destinations(item.value, ctx, seen)
            except InputError as exc:
                refusals.append(exc)
                what = item.value.indicator if isinstance(item.value, Reading) else type(item.value).__name__
                key = f"{what}: {exc.field}"
                accepted.not_taken[key] = accepted.not_taken.get(key, 0) + 1
            else:
                accepted.inputs.append(item.value)
        if len(refusals) == len(contexts):
            problems.append(Problem(item.file, item.line, refusals[0].field, refusals[0].problem, item.unit))
    if problems:
        order = {name: n for n, name in enumerate(dict.fromkeys(p.file for p in problems))}
        raise HistoryError(sorted(problems, key=lambda p: (order[p.file], p.line)))
    return out
