"""A batch of readings checked as `opel assess` checks a line, all of them, before any is used.

Each item is validated as the JSON text of a :class:`~opel.models.Reading` (the same call and
the same wording as `opel assess`: the field, the problem and the value given), then assessed
under the indicator catalogue in force (an unknown indicator or area, a value of the wrong kind:
:func:`opel.assess.assess`). Every bad item is reported, not only the first, so that a caller
can fix a whole file in one go; the caller decides that nothing is used unless nothing is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError, to_json, to_jsonable_python

from opel.assess import Assessment, assess
from opel.catalogue import IndicatorCatalogue
from opel.errors import InputError
from opel.models import Reading
from opel.validation_errors import field_problems

__all__ = ["BatchCheck", "ItemProblem", "check_readings"]

WHOLE_ITEM = "(item)"
"""The field an error names when the item as a whole is wrong (not an object)."""


@dataclass(frozen=True, slots=True)
class ItemProblem:
    """What is wrong with one item: its position, the field, the value given and why.

    ``index`` counts from 0 in the batch; ``row`` is the spreadsheet or CSV row (the header is
    row 1) when the batch came from a file. ``message`` is `opel assess`'s ``field: problem``.
    """

    index: int
    row: int | None
    field: str
    value: Any
    message: str

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"index": self.index}
        if self.row is not None:
            found["row"] = self.row
        return found | {"field": self.field, "value": self.value, "message": self.message}


@dataclass(frozen=True, slots=True)
class BatchCheck:
    """The readings of a batch with their assessments (in order), or what is wrong with it."""

    readings: list[Reading] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)
    problems: list[ItemProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _given(item: Any, loc: tuple[int | str, ...]) -> Any:
    """The value an error's location points at in ``item`` (None when absent)."""
    value, found = item, False
    for step in loc:
        if not (isinstance(value, dict) and step in value):
            break  # a union's branch name, or a field that is missing
        value, found = value[step], True
    return _jsonable(value) if found else None


def _jsonable(value: Any) -> Any:
    try:
        return to_jsonable_python(value)
    except PydanticSerializationError:
        return repr(value)


def check_readings(
    catalogue: IndicatorCatalogue, items: Sequence[Any], rows: Sequence[int | None] | None = None
) -> BatchCheck:
    """Check every item of a batch; ``rows`` (one per item) says where each was read."""
    checked = BatchCheck()
    for index, item in enumerate(items):
        row = rows[index] if rows is not None else None
        if not isinstance(item, dict):
            kind = "an array" if isinstance(item, list) else type(item).__name__
            checked.problems.append(
                ItemProblem(
                    index,
                    row,
                    WHOLE_ITEM,
                    _jsonable(item),
                    f"{WHOLE_ITEM}: expected a JSON object, got {kind}",
                )
            )
            continue
        try:
            # As JSON text, as `opel assess` reads a line: the same validation, the same words.
            reading = Reading.model_validate_json(to_json(item))
        except ValidationError as exc:
            for problem in field_problems(exc):
                name = problem.path or WHOLE_ITEM
                checked.problems.append(
                    ItemProblem(index, row, name, _given(item, problem.loc), f"{name}: {problem.problem}")
                )
            continue
        except PydanticSerializationError as exc:  # a value JSON cannot hold (from a spreadsheet)
            checked.problems.append(ItemProblem(index, row, WHOLE_ITEM, None, f"{WHOLE_ITEM}: {exc}"))
            continue
        try:
            assessment = assess(catalogue, reading)
        except InputError as exc:
            checked.problems.append(ItemProblem(index, row, exc.field, item.get(exc.field), str(exc)))
            continue
        checked.readings.append(reading)
        checked.assessments.append(assessment)
    return checked
