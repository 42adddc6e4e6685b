"""Readings from a table: CSV text or an Excel workbook (``.xlsx``), with the header `opel replay` reads.

The header is ``observed_at,area,indicator,value`` in any column order (docs/replay.md), on the
first row. Every later row that is not blank is one reading; each is returned with its row
number (the header is row 1) so that an error can name the row. A cell is read as a CSV cell is
by `opel replay`: a value that reads as a number is a number, any other text a category name.
In a workbook, the first sheet is read; a number cell is that number, and a date-time cell
without a time zone (Excel keeps none) is Kent wall-clock time (Europe/London), written out with
its offset. Nothing is judged here: the items go through :func:`opel.reading_check.check_readings`.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Final
from zoneinfo import ZoneInfo

from opel.backtest.history import READING_COLUMNS, cell_value

__all__ = ["HEADER", "MAX_ROWS", "TableError", "TableItems", "read_csv_items", "read_xlsx_items"]

HEADER: Final = ",".join(READING_COLUMNS)
MAX_ROWS: Final = 1000
"""Readings one file may hold."""
MAX_XLSX_UNPACKED: Final = 8 * 1024 * 1024
"""The most a workbook may hold once unzipped: a small file must not unpack into gigabytes."""
LONDON: Final = ZoneInfo("Europe/London")


class TableError(ValueError):
    """A file that cannot be read as a table of readings at all; ``row`` and ``field`` say where."""

    def __init__(self, row: int, field: str, problem: str) -> None:
        self.row = row
        self.field = field
        self.problem = problem
        super().__init__(f"row {row}: {field}: {problem}")


@dataclass(frozen=True, slots=True)
class TableItems:
    """The rows of a table as reading objects, and the row each came from."""

    items: list[dict[str, Any]]
    rows: list[int | None]


def _header(cells: Sequence[Any]) -> list[str]:
    header = ["" if cell is None else str(cell).strip() for cell in cells]
    while header and not header[-1]:
        header.pop()  # a spreadsheet's empty columns on the right
    if sorted(header) != sorted(READING_COLUMNS):
        raise TableError(
            1, "(header)", f"expected the columns {HEADER} (any order); got {','.join(header)!r}"
        )
    return header


def _items(header: list[str], rows: Iterable[tuple[int, Sequence[Any]]]) -> TableItems:
    found = TableItems([], [])
    for number, cells in rows:
        values = list(cells)
        if all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in values):
            continue
        extra = values[len(header) :]
        if any(cell is not None and str(cell).strip() for cell in extra):
            raise TableError(number, "(row)", f"{len(values)} cells for the header's {len(header)} columns")
        values = (values + [None] * len(header))[: len(header)]
        if len(found.items) == MAX_ROWS:
            raise TableError(number, "(file)", f"more than {MAX_ROWS} readings; send them in several files")
        found.items.append({name: _cell(name, value) for name, value in zip(header, values, strict=True)})
        found.rows.append(number)
    return found


def _cell(column: str, value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        return cell_value(text) if column == "value" else text
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=LONDON)).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()  # a date alone or a time alone: refused as a time, naming it
    return value


def read_csv_items(text: str) -> TableItems:
    """The readings of CSV text (a UTF-8 byte-order mark removed by the caller's decoding)."""
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = _header(next(rows))
    except StopIteration:
        raise TableError(1, "(header)", f"empty file; expected the header {HEADER}") from None
    except csv.Error as exc:
        raise TableError(1, "(header)", f"not CSV: {exc}") from None

    def numbered() -> Iterable[tuple[int, Sequence[Any]]]:
        try:
            for row in rows:
                yield rows.line_num, row
        except csv.Error as exc:
            raise TableError(rows.line_num, "(row)", f"not CSV: {exc}") from None

    return _items(header, numbered())


def read_xlsx_items(data: bytes) -> TableItems:
    """The readings of the first sheet of an Excel workbook (``.xlsx``)."""
    from openpyxl import load_workbook  # noqa: PLC0415  (only uploads need it)

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise TableError(1, "(file)", "not an Excel workbook (.xlsx)") from None
    if unpacked > MAX_XLSX_UNPACKED:
        raise TableError(1, "(file)", f"unpacks to {unpacked} bytes; the limit is {MAX_XLSX_UNPACKED}")
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise TableError(
            1, "(file)", f"not a readable Excel workbook (.xlsx): {type(exc).__name__}"
        ) from None
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        first = next(rows, None)
        if first is None:
            raise TableError(1, "(header)", f"empty sheet; expected the header {HEADER}")
        header = _header(first)
        return _items(header, ((number, row) for number, row in enumerate(rows, start=2)))
    finally:
        workbook.close()
