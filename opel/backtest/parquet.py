"""Parquet histories, read and written with polars.

Two layouts, told apart by their columns as CSV headers are (docs/replay.md):

- readings: ``observed_at``, ``area``, ``indicator`` and ``value``; ``value`` is a number column,
  or a text column read as CSV cells are (a number when it reads as one, else a category). A
  number column may come with a text column ``category`` for categorical readings (``value``
  empty on their rows), so one file holds both kinds, as a generated history does;
- acute returns: ``site``, ``observed_at`` and any of the nine parameter columns (numbers; an
  empty cell is a parameter not reported).

``observed_at`` is a timestamp with a time zone, or RFC 3339 text with an offset. A naive
timestamp column is refused as a whole (naming the column): a time without a zone is not an
instant. Rows are counted from 1; problems with the file's columns are reported against its
``schema``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import ValidationError

from opel.errors import InputError
from opel.models import PARAMETER_IDS, AcuteSubmission, Reading
from opel.validation_errors import field_problems, first_problem

from .history import ACUTE_COLUMNS, READING_COLUMNS, Located, Problem, cell_value

if TYPE_CHECKING:
    import polars as pl

CATEGORY: Final = "category"


class SchemaError(Exception):
    """A Parquet file whose columns are not one of the two layouts."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def layout(schema: pl.Schema) -> str:
    """``"readings"`` or ``"acute"`` for a file's columns; SchemaError naming what is wrong."""
    import polars as pl  # noqa: PLC0415

    columns = set(schema.names())
    if "site" in columns:
        unknown = columns - set(ACUTE_COLUMNS) - set(PARAMETER_IDS)
        if unknown:
            raise SchemaError(
                sorted(unknown)[0], f"not an acute return column (parameters: {', '.join(PARAMETER_IDS)})"
            )
        kind = "acute"
        needed: tuple[str, ...] = ACUTE_COLUMNS
    elif columns & {"indicator", "area", "value"}:
        kind, needed = "readings", READING_COLUMNS
        extra = columns - set(READING_COLUMNS) - {CATEGORY}
        if extra:
            raise SchemaError(sorted(extra)[0], f"not a readings column ({', '.join(READING_COLUMNS)})")
    else:
        raise SchemaError(
            "(columns)",
            f"expected {','.join(READING_COLUMNS)} (readings) or {','.join(ACUTE_COLUMNS)} and parameter "
            f"columns (acute returns); got {','.join(schema.names())!r}",
        )
    for column in needed:
        if column not in columns:
            raise SchemaError(column, f"missing column (a {kind} file needs {', '.join(needed)})")
    observed = schema["observed_at"]
    if isinstance(observed, pl.Datetime) and observed.time_zone is None:
        raise SchemaError("observed_at", "a timestamp without a time zone is not an instant")
    if not isinstance(observed, pl.Datetime | pl.String):
        raise SchemaError(
            "observed_at", f"must be a timestamp with a time zone or RFC 3339 text, not {observed}"
        )
    return kind


def read_parquet(path: Path, problems: list[Problem]) -> Iterator[Located]:
    """The inputs of one Parquet file, row by row (the per-reading path); problems as for CSV."""
    import polars as pl  # noqa: PLC0415

    name = str(path)
    try:
        frame = pl.read_parquet(path)
        kind = layout(frame.schema)
    except SchemaError as exc:
        problems.append(Problem(name, 0, exc.field, exc.problem, "row"))
        return
    except (OSError, pl.exceptions.PolarsError) as exc:
        problems.append(Problem(name, 0, "(file)", f"not a readable Parquet file: {exc}", "row"))
        return
    parameters = [c for c in frame.columns if c in PARAMETER_IDS]
    for number, row in enumerate(frame.iter_rows(named=True), start=1):
        try:
            value: Reading | AcuteSubmission
            if kind == "readings":
                value = Reading.model_validate(
                    {
                        "indicator": row["indicator"],
                        "area": row["area"],
                        "value": _reading_value(row),
                        "observed_at": row["observed_at"],
                    }
                )
            else:
                reported = {p: _parameter(p, row[p]) for p in parameters if row[p] is not None}
                value = AcuteSubmission.model_validate(
                    {"site": row["site"], "observed_at": row["observed_at"], "parameters": reported}
                )
        except ValidationError as exc:
            path_, problem = first_problem(field_problems(exc))
            problems.append(Problem(name, number, path_ or "(row)", problem, "row"))
            continue
        except InputError as exc:
            problems.append(Problem(name, number, exc.field, exc.problem, "row"))
            continue
        yield Located(value, name, number, "row")


def _reading_value(row: dict[str, Any]) -> Any:
    value = row["value"]
    if isinstance(value, str):
        return cell_value(value)
    if value is None:
        category = row.get(CATEGORY)
        if category is None:
            raise InputError("value", "empty (a number, or a category in the category column)")
        return category
    return value


def _parameter(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(name, f"must be a finite number or empty, got {value!r}")
    return float(value)


def write_parquet(values: Iterator[dict[str, Any]], target: Path, *, acute: Path | None = None) -> int:
    """A generated history as two Parquet files: ``target`` (readings) and, beside it, the
    acute returns (``NAME.acute.parquet``); returns the number of inputs written.

    Readings keep their arrival order (late ones after their time), as the JSON lines do.
    """
    import polars as pl  # noqa: PLC0415

    readings: dict[str, list[Any]] = {c: [] for c in (*READING_COLUMNS, CATEGORY)}
    returns: dict[str, list[Any]] = {c: [] for c in (*ACUTE_COLUMNS, *PARAMETER_IDS)}
    count = 0
    for value in values:
        count += 1
        if "site" in value:
            returns["site"].append(value["site"])
            returns["observed_at"].append(datetime.fromisoformat(value["observed_at"]))
            for p in PARAMETER_IDS:
                returns[p].append(value["parameters"].get(p))
            continue
        readings["observed_at"].append(datetime.fromisoformat(value["observed_at"]))
        readings["area"].append(value["area"])
        readings["indicator"].append(value["indicator"])
        item = value["value"]
        readings["value"].append(None if isinstance(item, str) else float(item))
        readings[CATEGORY].append(item if isinstance(item, str) else None)
    zoned = pl.Datetime("us", "UTC")
    reading_schema: dict[str, pl.DataType] = {
        "observed_at": zoned,
        "area": pl.String(),
        "indicator": pl.String(),
        "value": pl.Float64(),
        CATEGORY: pl.String(),
    }
    pl.DataFrame(readings, schema=reading_schema).write_parquet(target)
    acute_schema: dict[str, pl.DataType] = {"site": pl.String(), "observed_at": zoned}
    acute_schema |= dict.fromkeys(PARAMETER_IDS, pl.Float64())
    pl.DataFrame(returns, schema=acute_schema).write_parquet(acute or acute_path(target))
    return count


def acute_path(target: Path) -> Path:
    stem = target.name.removesuffix(".parquet")
    return target.with_name(f"{stem}.acute.parquet")
