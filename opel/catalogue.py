"""Compiled trigger catalogues: what a loaded YAML file becomes, ready for fast lookup.

Every outcome a rule can give is built once at load time as a ``Verdict``, so assessing a
reading is a dictionary lookup plus a binary search and allocates nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from opel.bands import Band, BandTable, Direction
from opel.levels import Level


class Kind(StrEnum):
    INDICATORS = "indicators"
    ACUTE = "acute"
    LEVEL_MAP = "level_map"


@dataclass(frozen=True, slots=True)
class CatalogueMeta:
    """Who approved which version of which plan, and where the file came from."""

    id: str
    kind: Kind
    version: str
    title: str
    status: str
    plan_title: str
    plan_version: str
    plan_date: date | None
    plan_section: str
    approved_on: date | None
    approved_by: str
    source: str
    content_hash: str = ""  # "sha256:..." of the file's canonical content (opel.catalogue_load)

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    @property
    def version_key(self) -> tuple[int, ...]:
        return version_key(self.version)

    @property
    def identity(self) -> tuple[str, str, str]:
        """What makes two loaded catalogues the same: id, version and content."""
        return (self.id, self.version, self.content_hash)


def version_key(version: str) -> tuple[int, ...]:
    """``version`` as numbers for comparison: "1.10" > "1.9", and "1.8.0" equals "1.8".

    A catalogue version is dotted whole numbers ("1.8", "2023.24", "1.8.1") so that versions compare.

    Raises ValueError for text that is not dotted whole numbers (the loader refuses those).
    """
    parts = version.split(".")
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise ValueError(f"version {version!r} is not dotted whole numbers such as 1.8")
    numbers = [int(part) for part in parts]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One possible outcome of an indicator rule: a band's level, or 'not assessed' and why."""

    indicator: str
    area: str
    level: Level | None
    band: Band | None
    category: str | None
    reason: str | None
    plan_section: str
    catalogue: CatalogueMeta
    table: BandTable | None = None  # the table the band belongs to, to explain a value
    # Filled in at load time by opel.explain: the constant output fields and sentence parts.
    fixed: Mapping[str, Any] = field(default_factory=dict)
    sentence: Mapping[Any, tuple[str, str]] = field(default_factory=dict)
    json_parts: tuple[bytes, bytes] = (b"", b"")

    @property
    def colour(self) -> str | None:
        return None if self.level is None else self.level.colour


@dataclass(frozen=True, slots=True)
class IndicatorDef:
    id: str
    name: str
    unit: str
    plan_section: str
    direction: Direction | None


@dataclass(frozen=True, slots=True)
class IndicatorRule:
    """How one indicator is judged in one area."""

    indicator: IndicatorDef
    area: str
    table: BandTable | None = None
    band_verdicts: tuple[Verdict, ...] = ()
    categories: Mapping[str, Verdict] = field(default_factory=dict)
    not_assessed: Verdict | None = None

    @property
    def kind(self) -> str:
        if self.table is not None:
            return "numeric"
        if self.categories:
            return "categorical"
        return "not_assessed"


@dataclass(frozen=True, slots=True)
class AreaDef:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class CountyRule:
    """Plan Table 2 wording as numbers: "in some areas" and "county-wide"."""

    id: str
    some_areas_min: int
    county_wide_min_share: float


@dataclass(frozen=True, slots=True)
class IndicatorCatalogue:
    meta: CatalogueMeta
    areas: Mapping[str, AreaDef]
    indicators: Mapping[str, IndicatorDef]
    rules: Mapping[tuple[str, str], IndicatorRule]
    area_rule: str
    county: CountyRule
    step_down_dwell: timedelta
    action_plan: str | None


@dataclass(frozen=True, slots=True)
class LevelMap:
    """A reusable score-to-level map such as the 2024-26 normalised bands."""

    meta: CatalogueMeta
    table: BandTable

    def level_for(self, score: float) -> Level:
        return Level(self.table.band_for(score).outcome)


@dataclass(frozen=True, slots=True)
class AcuteParameterRule:
    id: str
    name: str
    unit: str
    plan_ref: str
    minimum: float
    table: BandTable

    @property
    def max_points(self) -> int:
        return self.table.worst_outcome


@dataclass(frozen=True, slots=True)
class SiteDef:
    id: str
    name: str
    delivery_board: str


@dataclass(frozen=True, slots=True)
class SystemDef:
    id: str
    name: str
    weights: Mapping[str, float]
    enact_site_level_at_or_above: Level


@dataclass(frozen=True, slots=True)
class AcuteCatalogue:
    meta: CatalogueMeta
    parameters: Mapping[str, AcuteParameterRule]
    score_levels: BandTable
    normalised_map: LevelMap | None
    missing_parameters: str
    sites: Mapping[str, SiteDef]
    systems: Mapping[str, SystemDef]

    @property
    def max_score(self) -> int:
        return sum(rule.max_points for rule in self.parameters.values())

    def level_for_score(self, score: float) -> Level:
        return Level(self.score_levels.band_for(score).outcome)

    def normalise(self, score: float) -> float:
        return score * 100.0 / self.max_score


Catalogue = IndicatorCatalogue | AcuteCatalogue | LevelMap
