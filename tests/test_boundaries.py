"""Both sides of every published boundary, for every indicator, area and catalogue.

The tables below are typed by hand from the plan text in ../shared/plan/, independently of the
YAML catalogues, so a slip in either shows up here. Semantics (docs/semantics.md): a published
whole-number range [low, high] keeps both its figures; a value strictly between two published
ranges goes to the worse band; values past the published ends take the extreme band.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from opel.assess import assess
from opel.catalogue_load import load_indicator_catalogue
from opel.levels import Level
from opel.models import Reading

AREAS = ("dgs", "east_kent", "swale", "west_kent")
AT = datetime(2025, 11, 12, 9, 30, tzinfo=UTC)


@dataclass(frozen=True)
class PlanTable:
    """A table as printed: (level, low, high) whole-number ranges; which way is worse."""

    catalogue: str
    indicator: str
    area: str
    higher_is_worse: bool
    ranges: tuple[tuple[int, int, int], ...]


def _for_areas(
    catalogue: str,
    indicator: str,
    areas: tuple[str, ...],
    higher_is_worse: bool,
    ranges: tuple[tuple[int, int, int], ...],
) -> list[PlanTable]:
    return [PlanTable(catalogue, indicator, area, higher_is_worse, ranges) for area in areas]


STAFFING_2025 = ((1, 70, 100), (2, 50, 69), (3, 30, 49), (4, 0, 29))  # v1.8 4.3
STAFFING_2024 = ((1, 70, 100), (2, 50, 69), (3, 35, 49), (4, 0, 34))  # v1.7 4.3: the 35 % boundary
HEALTH_CASELOAD = ((1, 0, 39), (2, 40, 59), (3, 60, 99), (4, 100, 200))
HEALTH_CASELOAD_SWALE = ((1, 0, 39), (2, 40, 49), (3, 50, 69), (4, 70, 80))
SOCIAL_CASELOAD = ((1, 0, 39), (2, 40, 59), (3, 60, 99), (4, 100, 500))
REFERRALS_DGS = ((1, 0, 9), (2, 10, 14), (3, 15, 19), (4, 20, 29))
REFERRALS = ((1, 0, 9), (2, 10, 14), (3, 15, 19), (4, 20, 100))
KEAH_2025 = ((1, 5, 6), (2, 3, 4), (3, 1, 2), (4, 0, 0))
D2A_WEEKLY = ((1, 35, 42), (2, 15, 34), (3, 6, 14), (4, 0, 5))
D2A_YESTERDAY = ((1, 5, 6), (2, 3, 4), (3, 1, 2), (4, 0, 0))

TABLES: list[PlanTable] = [
    *_for_areas("kcc-asch-2025-26", "stp_staffing_pct", AREAS, False, STAFFING_2025),
    *_for_areas(
        "kcc-asch-2025-26", "health_caseload", ("dgs", "east_kent", "west_kent"), True, HEALTH_CASELOAD
    ),
    PlanTable("kcc-asch-2025-26", "health_caseload", "swale", True, HEALTH_CASELOAD_SWALE),
    *_for_areas("kcc-asch-2025-26", "social_caseload", AREAS, True, SOCIAL_CASELOAD),
    PlanTable("kcc-asch-2025-26", "referrals", "dgs", True, REFERRALS_DGS),
    *_for_areas("kcc-asch-2025-26", "referrals", ("east_kent", "west_kent"), True, REFERRALS),
    *_for_areas("kcc-asch-2025-26", "keah_capacity", AREAS, False, KEAH_2025),
    PlanTable("kcc-asch-2025-26", "d2a_p1_weekly_availability", "west_kent", False, D2A_WEEKLY),
    *_for_areas("kcc-asch-2024-25", "stp_staffing_pct", AREAS, False, STAFFING_2024),
    PlanTable("kcc-asch-2024-25", "d2a_p1_weekly_availability", "west_kent", False, D2A_WEEKLY),
    PlanTable("kcc-asch-2024-25", "d2a_p1_discharged_yesterday", "west_kent", False, D2A_YESTERDAY),
]


def _edge_cases(table: PlanTable) -> list[tuple[float, int]]:
    """Each published figure on both sides of each boundary, the gap between, and the ends."""
    ordered = sorted(table.ranges, key=lambda r: r[1])
    cases: list[tuple[float, int]] = []
    for (level_a, low_a, high_a), (level_b, low_b, _high_b) in itertools.pairwise(ordered):
        worse = max(level_a, level_b)
        cases += [(high_a, level_a), (high_a + 0.5, worse), (high_a + 0.999, worse), (low_b, level_b)]
        cases += [(low_a, level_a)]
    lowest, highest = ordered[0], ordered[-1]
    cases += [(0, lowest[0]), (highest[1], highest[0]), (highest[2], highest[0])]
    cases += [(highest[2] + 1, highest[0]), (highest[2] * 10 + 7, highest[0])]  # past the top
    return cases


BOUNDARY_CASES = [
    pytest.param(
        t.catalogue, t.indicator, t.area, value, level, id=f"{t.catalogue}-{t.indicator}-{t.area}-{value}"
    )
    for t in TABLES
    for value, level in _edge_cases(t)
]


def _level(catalogue: str, indicator: str, area: str, value: float | str) -> Level | None:
    reading = Reading(indicator=indicator, area=area, value=value, observed_at=AT)
    return assess(load_indicator_catalogue(catalogue), reading).level


@pytest.mark.parametrize(("catalogue", "indicator", "area", "value", "expected"), BOUNDARY_CASES)
def test_both_sides_of_every_boundary(
    catalogue: str, indicator: str, area: str, value: float, expected: int
) -> None:
    assert _level(catalogue, indicator, area, value) == Level(expected)


# Worked examples a duty manager would check by hand; each names the plan's wording it follows.
EXAMPLES = [
    ("kcc-asch-2025-26", "stp_staffing_pct", "east_kent", 65, 2),  # the example in the issue
    ("kcc-asch-2025-26", "stp_staffing_pct", "east_kent", 69.9, 2),  # "falls below 70%": amber
    ("kcc-asch-2025-26", "stp_staffing_pct", "east_kent", 70, 1),  # "70% and above": green
    ("kcc-asch-2025-26", "stp_staffing_pct", "dgs", 49.99, 3),  # below 50%: red
    ("kcc-asch-2025-26", "stp_staffing_pct", "dgs", 29.5, 4),  # below 30%: black
    ("kcc-asch-2025-26", "stp_staffing_pct", "dgs", 30, 3),
    ("kcc-asch-2025-26", "stp_staffing_pct", "swale", 105, 1),  # above 100 %: still green
    ("kcc-asch-2024-25", "stp_staffing_pct", "swale", 34.9, 4),  # v1.7: below 35% is black
    ("kcc-asch-2024-25", "stp_staffing_pct", "swale", 35, 3),
    ("kcc-asch-2025-26", "health_caseload", "swale", 50, 3),  # Swale's own health bands
    ("kcc-asch-2025-26", "health_caseload", "dgs", 50, 2),
    ("kcc-asch-2025-26", "health_caseload", "swale", 81, 4),  # past Swale's published 80
    ("kcc-asch-2025-26", "referrals", "dgs", 30, 4),  # past DGS's published 29
    ("kcc-asch-2025-26", "referrals", "east_kent", 101, 4),
    ("kcc-asch-2025-26", "keah_capacity", "dgs", 7, 1),  # more capacity than the table shows
    ("kcc-asch-2025-26", "d2a_p1_weekly_availability", "west_kent", 50, 1),
]


@pytest.mark.parametrize(("catalogue", "indicator", "area", "value", "expected"), EXAMPLES)
def test_worked_examples(catalogue: str, indicator: str, area: str, value: float, expected: int) -> None:
    assert _level(catalogue, indicator, area, value) == Level(expected)


NOT_ASSESSED = [
    ("kcc-asch-2025-26", "referrals", "swale", 12, "N/A"),
    *[
        ("kcc-asch-2025-26", "d2a_p1_weekly_availability", a, 3, "West Kent only")
        for a in ("dgs", "east_kent", "swale")
    ],
    *[("kcc-asch-2025-26", "assessment_bed_availability", a, 4, "no triggers") for a in AREAS],
    *[("kcc-asch-2025-26", "dementia_bed_availability", a, 2, "no triggers") for a in AREAS],
    *[("kcc-asch-2025-26", "d2a_p1_discharged_yesterday", a, 2, "v1.8") for a in AREAS],
    *[
        ("kcc-asch-2024-25", ind, a, 55, "under development")
        for ind in ("health_caseload", "social_caseload", "referrals")
        for a in AREAS
    ],
    *[
        ("kcc-asch-2024-25", "d2a_p1_discharged_yesterday", a, 0, "West Kent only")
        for a in ("dgs", "east_kent", "swale")
    ],
    *[("kcc-asch-2024-25", "assessment_bed_availability", a, 0, "no triggers") for a in AREAS],
]


@pytest.mark.parametrize(("catalogue", "indicator", "area", "value", "reason"), NOT_ASSESSED)
def test_not_assessed_gives_null_level_with_reason(
    catalogue: str, indicator: str, area: str, value: float, reason: str
) -> None:
    reading = Reading(indicator=indicator, area=area, value=value, observed_at=AT)
    result = assess(load_indicator_catalogue(catalogue), reading)
    out = result.to_dict()
    assert out["level"] is None
    assert out["colour"] is None
    assert out["status"] == "not_assessed"
    assert reason in out["reason"]


KEAH_2024 = [("good", 1), ("limited", 2), ("very_limited", 3), ("none", 4)]


@pytest.mark.parametrize("area", AREAS)
@pytest.mark.parametrize(("category", "expected"), KEAH_2024)
def test_keah_2024_categories(area: str, category: str, expected: int) -> None:
    assert _level("kcc-asch-2024-25", "keah_capacity", area, category) == Level(expected)


def test_every_numeric_rule_is_covered_by_a_plan_table() -> None:
    """No table in a catalogue escapes the hand-typed tables above."""
    covered = {(t.catalogue, t.indicator, t.area) for t in TABLES}
    for name in ("kcc-asch-2025-26", "kcc-asch-2024-25"):
        catalogue = load_indicator_catalogue(name)
        numeric = {
            (name, ind, area) for (ind, area), rule in catalogue.rules.items() if rule.table is not None
        }
        assert numeric == {key for key in covered if key[0] == name}
