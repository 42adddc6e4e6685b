"""Roll levels up: indicators to an area, areas to the county, acute sites to a system."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from opel.catalogue import AcuteCatalogue, CountyRule, SystemDef
from opel.errors import InputError
from opel.levels import Level


@dataclass(frozen=True, slots=True)
class AreaLevel:
    area: str
    level: Level | None
    driving: tuple[str, ...]  # the indicators at the area's level
    assessed: int
    reason: str


def area_level(area: str, indicator_levels: Mapping[str, Level | None]) -> AreaLevel:
    """An area takes the level of its worst assessed indicator (rule ``worst_indicator``)."""
    assessed = {name: level for name, level in indicator_levels.items() if level is not None}
    if not assessed:
        return AreaLevel(area, None, (), 0, "no indicator in this area has an assessed level")
    worst = max(assessed.values())
    driving = (name for name, level in assessed.items() if level == worst)
    return area_roll_up(area, worst, driving, len(assessed))


def area_roll_up(area: str, worst: Level, driving: Iterable[str], assessed: int) -> AreaLevel:
    """:func:`area_level` from the worst level, the indicators at it and how many are assessed:
    what the area stage keeps per level as readings arrive (:mod:`opel.stages.area`)."""
    names = tuple(sorted(driving))
    reason = f"worst of {assessed} assessed indicators: {', '.join(names)} at {worst.label}"
    return AreaLevel(area, worst, names, assessed, reason)


@dataclass(frozen=True, slots=True)
class CountyLevel:
    county: str
    level: Level | None
    areas_assessed: int
    at_or_above: Mapping[Level, tuple[str, ...]]
    reason: str


def county_level(rule: CountyRule, area_levels: Mapping[str, Level | None]) -> CountyLevel:
    """Plan Table 2: OPEL 2 when pressure is "in some areas", 3 and 4 only when county-wide."""
    assessed = {area: level for area, level in area_levels.items() if level is not None}
    at_or_above = {
        level: tuple(sorted(area for area, got in assessed.items() if got >= level)) for level in Level
    }
    counts = [0, 0, 0, 0]
    for got in assessed.values():
        counts[got - 1] += 1
    result, reason = county_from_counts(rule, counts)
    return CountyLevel(rule.id, result, len(assessed), at_or_above, reason)


def county_from_counts(rule: CountyRule, counts: Sequence[int]) -> tuple[Level | None, str]:
    """:func:`county_level` from how many assessed areas are at each level (``counts[0]`` at
    OPEL 1 ... ``counts[3]`` at OPEL 4): four numbers, whatever the number of areas, so the county
    stage keeps them as areas change (:mod:`opel.stages.county`) rather than rescanning."""
    total = sum(counts)
    if total == 0:
        return None, "no area has an assessed level"
    # A tiny tolerance keeps e.g. 0.75 * 4 from needing 4 areas through float rounding.
    needed = max(1, math.ceil(rule.county_wide_min_share * total - 1e-9))
    for level in (Level.OPEL_4, Level.OPEL_3):
        count = sum(counts[level - 1 :])
        if count >= needed:
            reason = (
                f"county-wide: {count} of {total} assessed areas at {level.label} or above (needs {needed})"
            )
            return level, reason
    some = sum(counts[1:])
    if some >= rule.some_areas_min:
        worst = Level(max(n for n in range(1, 5) if counts[n - 1]))
        reason = f"in some areas: {some} of {total} assessed areas at OPEL 2 or above"
        if worst > Level.OPEL_2:
            reason += f" (worst {worst.label}, not county-wide: needs {needed} areas)"
        return Level.OPEL_2, reason
    return Level.OPEL_1, f"all {total} assessed areas at OPEL 1"


class SiteScore(Protocol):
    @property
    def score(self) -> int | float: ...

    @property
    def level(self) -> Level: ...


@dataclass(frozen=True, slots=True)
class SystemLevel:
    system: str
    level: Level | None  # the level whose actions the system enacts
    aggregate_score: float | None
    aggregate_level: Level | None
    normalised_score: float | None
    driving_sites: tuple[str, ...]  # sites that lift the system above its aggregate
    missing_sites: tuple[str, ...]
    reason: str


def system_level(
    catalogue: AcuteCatalogue, system: SystemDef, site_scores: Mapping[str, SiteScore]
) -> SystemLevel:
    """Weighted mean of site scores, lifted to any site's level at or above the enact threshold.

    Plan appendix 4 (v1.8): if any provider is at OPEL 3 or 4, the system carries out that
    level's actions whatever its aggregated score.
    """
    for site in site_scores:
        if site not in system.weights:
            raise InputError("site", f"site {site!r} is not part of system {system.id!r}")
    present = {site: site_scores[site] for site in system.weights if site in site_scores}
    missing = tuple(site for site in system.weights if site not in site_scores)
    if not present:
        return SystemLevel(system.id, None, None, None, None, (), missing, "no site has reported")
    total_weight = sum(system.weights[site] for site in present)
    aggregate = sum(system.weights[site] * float(s.score) for site, s in present.items()) / total_weight
    aggregate_level = catalogue.level_for_score(aggregate)
    threshold = system.enact_site_level_at_or_above
    lifting = {
        site: s.level for site, s in present.items() if s.level >= threshold and s.level > aggregate_level
    }
    level = max([aggregate_level, *lifting.values()])
    reason = (
        f"weighted mean score {aggregate:.1f} of {catalogue.max_score} over {len(present)} sites: "
        f"{aggregate_level.label}"
    )
    if lifting:
        names = ", ".join(f"{site} at {lvl.label}" for site, lvl in sorted(lifting.items()))
        reason += f"; enacting {level.label} because {names}"
    if missing:
        reason += f"; not reported: {', '.join(missing)}"
    return SystemLevel(
        system.id,
        level,
        aggregate,
        aggregate_level,
        catalogue.normalise(aggregate),
        tuple(sorted(lifting)),
        missing,
        reason,
    )
