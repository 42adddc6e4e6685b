"""Assess one indicator reading against a catalogue: which band, which level, and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opel.bands import Placement
from opel.catalogue import IndicatorCatalogue, IndicatorRule, Verdict
from opel.errors import InputError
from opel.levels import Level
from opel.models import Reading


@dataclass(frozen=True, slots=True)
class Assessment:
    """A reading's outcome with everything needed to explain it."""

    value: float | str
    observed_at: datetime
    verdict: Verdict
    placement: Placement

    @property
    def level(self) -> Level | None:
        return self.verdict.level

    @property
    def assessed(self) -> bool:
        return self.verdict.level is not None

    def explanation(self) -> str:
        verdict = self.verdict
        source = f"{verdict.catalogue.ref} §{verdict.plan_section}"
        if verdict.level is None:
            return f"{verdict.indicator} in {verdict.area} is not assessed: {verdict.reason} ({source})"
        if verdict.category is not None:
            return (
                f"{verdict.indicator} in {verdict.area} is '{verdict.category}': "
                f"{verdict.level.label} {verdict.level.colour} ({source})"
            )
        band = verdict.band
        assert band is not None
        where = {
            Placement.INSIDE: f"in the published band {band.published}",
            Placement.BETWEEN: f"between published bands; exact band {band.exact} ({band.published})",
            Placement.BEYOND: f"beyond the published range; takes the extreme band {band.published}",
        }[self.placement]
        return (
            f"{verdict.indicator} {self.value} in {verdict.area} is {where}: "
            f"{verdict.level.label} {verdict.level.colour} ({source})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape used by `opel assess` and the status topic."""
        verdict = self.verdict
        band = verdict.band
        return {
            "indicator": verdict.indicator,
            "area": verdict.area,
            "value": self.value,
            "observed_at": self.observed_at.isoformat(),
            "level": None if verdict.level is None else int(verdict.level),
            "colour": verdict.colour,
            "status": "assessed" if verdict.level is not None else "not_assessed",
            "reason": verdict.reason,
            "band": None if band is None else band.published,
            "interval": None if band is None else str(band.exact),
            "placement": None if band is None else self.placement.value,
            "category": verdict.category,
            "catalogue": verdict.catalogue.id,
            "catalogue_version": verdict.catalogue.version,
            "plan_section": verdict.plan_section,
            "explanation": self.explanation(),
        }


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


def verdict_for(rule: IndicatorRule, value: float | str) -> tuple[Verdict, Placement]:
    """Decide a value under a rule. Values must already be finite and non-negative (see Reading)."""
    table = rule.table
    if table is not None:
        if isinstance(value, str):
            raise InputError("value", f"{rule.indicator.id} takes a number, got {value!r}")
        band = table.band_for(value)
        return rule.band_verdicts[band.index], table.placement(band, value)
    if rule.categories:
        verdict = rule.categories.get(value) if isinstance(value, str) else None
        if verdict is None:
            choices = ", ".join(rule.categories)
            raise InputError("value", f"{rule.indicator.id} takes one of {choices}, got {value!r}")
        return verdict, Placement.INSIDE
    assert rule.not_assessed is not None
    return rule.not_assessed, Placement.INSIDE


def assess(catalogue: IndicatorCatalogue, reading: Reading) -> Assessment:
    """Assess one reading. Raises InputError naming the field for anything it cannot decide."""
    rule = rule_for(catalogue, reading.indicator, reading.area)
    verdict, placement = verdict_for(rule, reading.value)
    return Assessment(reading.value, reading.observed_at, verdict, placement)
