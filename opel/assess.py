"""Assess one indicator reading against a catalogue: which band, which level, and why."""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime
from typing import Any

from pydantic_core import to_json

from opel.bands import Placement
from opel.catalogue import IndicatorCatalogue, IndicatorRule, Verdict
from opel.errors import InputError
from opel.levels import Level
from opel.models import Reading


class Assessment(tuple[float | str, datetime, Verdict]):
    """A reading's outcome with everything needed to explain it: ``(value, observed_at, verdict)``.

    Built as ``Assessment((value, observed_at, verdict))``. A plain tuple subclass rather than a
    NamedTuple or dataclass: it is built once per reading on the hot path, and tuple's own C
    constructor costs less than half of a NamedTuple's Python ``__new__`` (the result was most
    of ``assess()``'s time; docs/benchmarks.md, issue 11).
    """

    __slots__ = ()

    @property
    def value(self) -> float | str:
        return self[0]

    @property
    def observed_at(self) -> datetime:
        return self[1]

    @property
    def verdict(self) -> Verdict:
        return self[2]

    def __repr__(self) -> str:
        return f"Assessment(value={self[0]!r}, observed_at={self[1]!r}, verdict={self[2]!r})"

    @property
    def placement(self) -> Placement:
        band, value = self.verdict.band, self.value
        if band is None or isinstance(value, str):
            return Placement.INSIDE
        table = self.verdict.table
        assert table is not None
        return table.placement(band, value)

    @property
    def level(self) -> Level | None:
        return self.verdict.level

    @property
    def assessed(self) -> bool:
        return self.verdict.level is not None

    def explanation(self, placement: Placement | None = None) -> str:
        before, after = self.verdict.sentence[placement or self.placement]
        return f"{before}{self.value}{after}" if after else before

    def to_dict(self) -> dict[str, Any]:
        """The output shape of `opel assess` and the status topic.

        ``observed_at`` stays a datetime: serialise with pydantic_core.to_json (or
        to_jsonable_python), which writes it in ISO 8601.
        """
        verdict = self.verdict
        placement = self.placement
        return {
            "indicator": verdict.indicator,
            "area": verdict.area,
            "value": self.value,
            "observed_at": self.observed_at,
            **verdict.fixed,
            "placement": None if verdict.band is None else placement.value,
            "explanation": self.explanation(placement),
        }

    def to_json(self) -> bytes:
        """``to_dict()`` serialised as compact JSON, without building the dict (the batch hot path)."""
        verdict = self.verdict
        placement = self.placement
        head, fixed = verdict.json_parts
        return b"".join(
            (
                head,
                to_json(self.value),
                b',"observed_at":',
                to_json(self.observed_at),
                fixed,
                b"null" if verdict.band is None else _PLACEMENT_JSON[placement],
                b',"explanation":',
                to_json(self.explanation(placement)),
                b"}",
            )
        )


_PLACEMENT_JSON = {placement: to_json(placement.value) for placement in Placement}


def rule_for(catalogue: IndicatorCatalogue, indicator: str, area: str) -> IndicatorRule:
    """The rule for an indicator in an area; an unknown indicator or area is an InputError."""
    rule = catalogue.rules.get((indicator, area))
    if rule is not None:
        return rule
    if indicator not in catalogue.indicators:
        known = ", ".join(catalogue.indicators)
        raise InputError(
            "indicator", f"unknown indicator {indicator!r} in {catalogue.meta.id} (known: {known})"
        )
    raise InputError(
        "area", f"unknown area {area!r} in {catalogue.meta.id} (known: {', '.join(catalogue.areas)})"
    )


def verdict_for(rule: IndicatorRule, value: float | str) -> Verdict:
    """Decide a value under a rule. Values must already be finite and in range (see Reading)."""
    table = rule.table
    if table is not None:
        if isinstance(value, str):
            raise InputError("value", f"{rule.indicator.id} takes a number, got {value!r}")
        return rule.band_verdicts[table.band_for(value).index]
    if rule.categories:
        verdict = rule.categories.get(value) if isinstance(value, str) else None
        if verdict is None:
            choices = ", ".join(rule.categories)
            raise InputError("value", f"{rule.indicator.id} takes one of {choices}, got {value!r}")
        return verdict
    assert rule.not_assessed is not None
    return rule.not_assessed


def assess(catalogue: IndicatorCatalogue, reading: Reading) -> Assessment:
    """Assess one reading. Raises InputError naming the field for anything it cannot decide."""
    # The hot path, inlined: one dictionary lookup and one bisect per reading. A model's fields
    # live in its __dict__, and reading them there skips BaseModel.__getattr__, which makes
    # every attribute read take the slow path (about a tenth of this function's time).
    fields = reading.__dict__
    rule = catalogue.rules.get((fields["indicator"], fields["area"]))
    if rule is not None:
        value = fields["value"]
        table = rule.table
        if table is not None:
            if not isinstance(value, str):
                verdict = rule.band_verdicts[bisect_right(table.bounds, value)]
                return Assessment((value, fields["observed_at"], verdict))
        elif rule.not_assessed is not None:
            return Assessment((value, fields["observed_at"], rule.not_assessed))
    else:
        rule = rule_for(catalogue, reading.indicator, reading.area)  # raises, naming the field
    return Assessment((reading.value, reading.observed_at, verdict_for(rule, reading.value)))
