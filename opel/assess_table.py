"""Every answer `opel assess` can give for a reading, compiled per (indicator, area) ahead of time.

An answer line is the reading's own fields, then text fixed by the verdict and by where the
value sits in its band, then the explanation sentence, in which only the value changes. So per
rule this holds that text in the pieces around the value, and one bisect over the table's cells
(``BandTable.segments``) picks the pieces for a value. ``Assessment.to_json`` stays the
reference: tests/test_reading_batch.py checks that both give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic_core import to_json

from opel.bands import Placement
from opel.catalogue import IndicatorCatalogue, Verdict

Key = tuple[str, str]
Banded = tuple[bytes, tuple[float, ...], tuple[tuple[bytes, bytes], ...]]


@dataclass(frozen=True, slots=True)
class AnswerTable:
    """The text of answer lines around a reading's value and time, by rule.

    Each entry starts with the head, the answer's text up to its value. ``numeric``: head,
    points and cells; ``cells[bisect_right(points, value)]`` is the text from after the time up
    to the value's digits in the explanation, and from there to the end of the line.
    ``fixed``: rules that are not assessed, head and one tail for any value. ``categories``:
    head and tail by (indicator, area, category).
    """

    numeric: dict[Key, Banded]
    fixed: dict[Key, tuple[bytes, bytes]]
    categories: dict[tuple[str, str, str], tuple[bytes, bytes]]


def answer_table(catalogue: IndicatorCatalogue) -> AnswerTable:
    numeric: dict[Key, Banded] = {}
    fixed: dict[Key, tuple[bytes, bytes]] = {}
    categories: dict[tuple[str, str, str], tuple[bytes, bytes]] = {}
    for key, rule in catalogue.rules.items():
        if rule.table is not None:
            points, cells = rule.table.segments()
            verdicts = rule.band_verdicts
            answers = tuple(_around_value(verdicts[band.index], place) for band, place in cells)
            numeric[key] = (verdicts[0].json_parts[0], points, answers)
        elif rule.categories:
            for name, verdict in rule.categories.items():
                categories[(*key, name)] = (verdict.json_parts[0], _whole(verdict))
        elif rule.not_assessed is not None:
            fixed[key] = (rule.not_assessed.json_parts[0], _whole(rule.not_assessed))
    return AnswerTable(numeric, fixed, categories)


def _around_value(verdict: Verdict, placement: Placement) -> tuple[bytes, bytes]:
    before, after = verdict.sentence[placement]
    # The explanation's JSON string is escaped character by character, and a number's digits
    # need no escaping, so the escaped halves can be joined around them.
    assert after, "a banded verdict's explanation carries the value"
    return (
        _fields(verdict, placement) + b',"explanation":"' + to_json(before)[1:-1],
        to_json(after)[1:-1] + b'"}\n',
    )


def _whole(verdict: Verdict) -> bytes:
    before, after = verdict.sentence[Placement.INSIDE]
    assert not after, "a category or not-assessed explanation does not carry the value"
    return _fields(verdict, Placement.INSIDE) + b',"explanation":' + to_json(before) + b"}\n"


def _fields(verdict: Verdict, placement: Placement) -> bytes:
    # As Assessment.to_json writes them: the verdict's fixed fields, then the placement.
    return verdict.json_parts[1] + (b"null" if verdict.band is None else to_json(placement.value))
