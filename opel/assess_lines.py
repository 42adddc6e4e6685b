"""The JSON-lines batch assessor behind `opel assess`: one output line per input line, in order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import from_json, to_json

from opel.acute_score import score_submission
from opel.assess import assess
from opel.catalogue import AcuteCatalogue, IndicatorCatalogue
from opel.errors import InputError
from opel.models import AcuteSubmission, Reading
from opel.validation_errors import field_problems, join_problems

MAX_LINE_BYTES = 64 * 1024


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each field, its problem and the value (``streams.codec`` words Kafka refusals so)."""
    return join_problems(field_problems(exc))


@dataclass
class LineAssessor:
    """Assesses JSON lines; counts the invalid ones so the caller can set the exit status."""

    indicators: IndicatorCatalogue | None
    acute: AcuteCatalogue | None
    invalid: int = 0

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

    def run(self, lines: Iterable[bytes]) -> Iterator[bytes]:
        for number, raw in enumerate(lines, start=1):
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                self.invalid += 1
                yield to_json({"line": number, "error": "(line): empty line; expected a JSON object"})
                continue
            yield self.answer(number, line)
