"""The JSON-lines batch assessor behind `opel assess`: one output line per input line, in order.

Lines go in batches. A batch of well-formed readings is validated in one call into pydantic's
Rust core (``READING_BATCH``), its readings' fields are written back in one ``to_json`` call, and
each answer line is then joined from text compiled per rule ahead of time (``opel.assess_table``),
with no Python call per line. Any line that path does not take whole (a bad line, an acute
submission, an unknown indicator) is answered alone by ``answer``, the reference path with the
tested error messages; the others in its batch still take the quick one.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from pydantic import ValidationError
from pydantic_core import from_json, to_json

from opel.acute_score import score_submission
from opel.assess import assess
from opel.assess_table import AnswerTable, answer_table
from opel.catalogue import AcuteCatalogue, IndicatorCatalogue
from opel.errors import InputError
from opel.models import READING_BATCH, READING_FIELDS, AcuteSubmission, Reading
from opel.validation_errors import field_problems, join_problems

MAX_LINE_BYTES = 64 * 1024
# Lines per batch: large enough to spread each batch's calls thin, small enough that one bad
# line sends few others down the line-by-line path.
BATCH_LINES = 1024


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each field, its problem and the value (``streams.codec`` words Kafka refusals so)."""
    return join_problems(field_problems(exc))


@dataclass
class LineAssessor:
    """Assesses JSON lines; counts the invalid ones so the caller can set the exit status."""

    indicators: IndicatorCatalogue | None
    acute: AcuteCatalogue | None
    invalid: int = 0
    table: AnswerTable = field(init=False)

    def __post_init__(self) -> None:
        empty = AnswerTable({}, {}, {})
        self.table = empty if self.indicators is None else answer_table(self.indicators)

    def answer(self, number: int, line: bytes) -> bytes:
        try:
            return self._assess(line)
        except (InputError, ValidationError, ValueError) as exc:
            self.invalid += 1
            if isinstance(exc, ValidationError):
                message = describe_validation_error(exc)
            elif isinstance(exc, InputError):
                message = str(exc)
            else:
                message = f"(line): not valid JSON: {exc}"
            return to_json({"line": number, "error": message})

    def _assess(self, line: bytes) -> bytes:
        if len(line) > MAX_LINE_BYTES:
            raise InputError("(line)", f"line is {len(line)} bytes; the limit is {MAX_LINE_BYTES}")
        # Validating straight from the bytes is one pass in pydantic's Rust core; the cheap sniff
        # picks the model, and a failure is re-checked against a real parse before reporting.
        acute = b'"site"' in line
        try:
            return self._decide(acute, line)
        except ValidationError:
            data = from_json(line)
            if not isinstance(data, dict):
                raise InputError("(line)", f"expected a JSON object, got {type(data).__name__}") from None
            if ("site" in data) == acute:
                raise
            return self._decide(not acute, line)

    def _decide(self, acute: bool, line: bytes) -> bytes:
        if acute:
            if self.acute is None:
                raise InputError("site", "an acute submission needs an acute catalogue (--catalogue)")
            return to_json(score_submission(self.acute, AcuteSubmission.model_validate_json(line)).to_dict())
        if self.indicators is None:
            raise InputError("indicator", "a reading needs an indicator catalogue (--catalogue)")
        return assess(self.indicators, Reading.model_validate_json(line)).to_json()

    def run(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Answer the lines in ``chunks`` (the input cut anywhere); yields blocks of whole answer lines."""
        number = 1
        for lines in _split_lines(chunks):
            for start in range(0, len(lines), BATCH_LINES):
                batch = lines[start : start + BATCH_LINES]
                yield self.answer_batch(number, batch)
                number += len(batch)

    def answer_batch(self, first: int, lines: list[bytes]) -> bytes:
        """The answers to ``lines`` (numbered from ``first``, without their newlines), one per line."""
        joined = b"\n".join(lines)
        if b"\r" in joined:
            lines = [line.rstrip(b"\r\n") for line in lines]
            joined = b"\n".join(lines)
        # Only lines that are each one object in braces are validated as one JSON array: with
        # every line boundary "}\n{", a line that held more or less than one object would change
        # the count or fail to validate, so readings[i] is line i's.
        if (
            joined[:1] == b"{"
            and joined[-1:] == b"}"
            and joined.count(b"}\n{") == len(lines) - 1
            and max(map(len, lines)) <= MAX_LINE_BYTES
        ):
            try:
                readings = READING_BATCH.validate_json(b"[" + joined.replace(b"\n", b",") + b"]")
            except ValidationError:
                pass
            else:
                if len(readings) == len(lines):
                    return self._join(first, lines, readings)
        return b"".join(self._one(first + index, line) for index, line in enumerate(lines))

    def _one(self, number: int, line: bytes) -> bytes:
        if len(line) <= MAX_LINE_BYTES and line[:1] == b"{":
            with suppress(ValidationError):  # else answered by the reference path, with its message
                return self._join(number, [line], [READING_FIELDS.validate_json(line)])
        return self._answer_line(number, line) + b"\n"

    def _join(self, first: int, lines: list[bytes], readings: list[dict[str, Any]]) -> bytes:
        values = list(map(_VALUE, readings))
        as_json, as_python = _value_texts(values)
        times = _time_texts(readings)
        numeric, fixed, categories = self.table.numeric, self.table.fixed, self.table.categories
        parts: list[bytes] = []
        add = parts.append
        for index, key in enumerate(map(_KEY, readings)):
            value = values[index]
            banded = numeric.get(key)
            if banded is not None:
                if not isinstance(value, str):
                    head, points, cells = banded
                    before, after = cells[bisect_right(points, value)]
                    parts += (head, as_json[index], times[index], before, as_python[index], after)
                    continue
            else:
                whole = fixed.get(key)
                if whole is None and isinstance(value, str):
                    whole = categories.get((*key, value))
                if whole is not None:
                    parts += (whole[0], as_json[index], times[index], whole[1])
                    continue
            add(self._answer_line(first + index, lines[index]))
            add(b"\n")
        return b"".join(parts)

    def _answer_line(self, number: int, raw: bytes) -> bytes:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            self.invalid += 1
            return to_json({"line": number, "error": "(line): empty line; expected a JSON object"})
        return self.answer(number, line)


_KEY = itemgetter("indicator", "area")
_VALUE = itemgetter("value")
_TIME = itemgetter("observed_at")
_TIME_TEXT = itemgetter("observed_at_text")
# A number whose JSON text has an exponent, or is below 1e-4 (JSON writes 0.00001 where Python
# writes 1e-05): its JSON text may differ from the explanation's. Strings start with a quote.
_NOT_AS_PYTHON = re.compile(rb"[\[,]-?[0-9.]+e|[\[,]-?0\.0000")
# Times that pydantic writes back exactly as given: no fraction, a capital T, and Z or an offset
# other than zero (it writes a zero offset as Z).
_TIME_AS_WRITTEN = (
    rb'"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:Z|[+-](?!00:00)[0-9]{2}:[0-9]{2})"'
)
_TIMES_AS_WRITTEN = re.compile(rb"\[(?:%s,)*%s\]" % (_TIME_AS_WRITTEN, _TIME_AS_WRITTEN))


def _value_texts(values: list[Any]) -> tuple[list[bytes], list[bytes]]:
    """Each value as JSON (as Assessment.to_json writes it) and as the explanation writes it.

    One call writes the whole batch's JSON; a number's JSON is Python's repr of it (the
    explanation's text; ints are digits either way) unless _NOT_AS_PYTHON finds otherwise
    (tests/test_reading_batch.py checks both).
    """
    text = to_json(values)
    as_json = text[1:-1].split(b",")  # neither numbers nor category names hold a comma
    if _NOT_AS_PYTHON.search(text):
        return as_json, [f"{value}".encode() for value in values]
    return as_json, as_json


def _time_texts(readings: list[dict[str, Any]]) -> list[bytes]:
    """Each reading's ``,"observed_at":"..."`` as Assessment.to_json writes it."""
    text = to_json(list(map(_TIME_TEXT, readings)))
    if not _TIMES_AS_WRITTEN.fullmatch(text):
        text = to_json(list(map(_TIME, readings)))  # written out again from the datetimes
    # Times hold no comma: "," separates them, and each gains the field's name in front.
    return (b',"observed_at":' + text[1:-1].replace(b",", b'\n,"observed_at":')).split(b"\n")


def _split_lines(chunks: Iterable[bytes]) -> Iterator[list[bytes]]:
    """The lines in ``chunks``, without their newlines, a list per chunk that ends one or more."""
    pending: list[bytes] = []  # the start of a line that has not ended yet
    for chunk in chunks:
        if b"\n" not in chunk:
            pending.append(chunk)  # joined once its line ends, so a long line is copied once
            continue
        if pending:
            pending.append(chunk)
            lines = b"".join(pending).split(b"\n")
            pending.clear()
        else:
            lines = chunk.split(b"\n")
        rest = lines.pop()
        if rest:
            pending.append(rest)
        yield lines
    last = b"".join(pending)
    if last:  # a last line without a newline
        yield [last]
