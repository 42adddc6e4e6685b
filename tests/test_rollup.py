"""Area, county and system levels (plan Table 2 wording; appendix 4 site principle)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opel.catalogue import CountyRule
from opel.catalogue_load import load_acute_catalogue, load_indicator_catalogue
from opel.errors import InputError
from opel.levels import Level
from opel.rollup import area_level, county_level, system_level

L1, L2, L3, L4 = Level.OPEL_1, Level.OPEL_2, Level.OPEL_3, Level.OPEL_4
KENT = load_indicator_catalogue("kcc-asch-2025-26").county
ACUTE = load_acute_catalogue("nhs-acute-2023-24")
SYSTEM = ACUTE.systems["kent-medway"]


def test_area_takes_its_worst_assessed_indicator() -> None:
    result = area_level(
        "dgs", {"stp_staffing_pct": L2, "referrals": L3, "health_caseload": L3, "dementia": None}
    )
    assert result.level == L3
    assert result.driving == ("health_caseload", "referrals")
    assert result.assessed == 3


def test_area_with_nothing_assessed_has_no_level() -> None:
    assert area_level("swale", {"referrals": None}).level is None


COUNTY_CASES = [
    # (dgs, east_kent, swale, west_kent) -> county, per plan Table 2 read literally (all areas)
    ((L1, L1, L1, L1), L1),
    ((L2, L1, L1, L1), L2),  # "in some areas"
    ((L4, L1, L1, L1), L2),  # one area at black is still only "some areas"
    ((L3, L3, L3, L2), L2),  # three of four at red is not county-wide
    ((L3, L3, L3, L3), L3),  # county-wide red
    ((L4, L4, L4, L3), L3),
    ((L4, L4, L4, L4), L4),
    ((L4, L3, None, L3), L3),  # an area with no assessed level is left out of the count
    ((None, None, None, None), None),
]


@pytest.mark.parametrize(("levels", "expected"), COUNTY_CASES)
def test_county_level_follows_plan_wording(levels: tuple[Level | None, ...], expected: Level | None) -> None:
    areas = dict(zip(("dgs", "east_kent", "swale", "west_kent"), levels, strict=True))
    assert county_level(KENT, areas).level == expected


@pytest.mark.parametrize(
    ("share", "levels", "expected"),
    [
        (0.75, (L3, L3, L3, L1), L3),
        (0.75, (L3, L3, L1, L1), L2),
        (0.5, (L4, L4, L1, L1), L4),
        (0.5, (L4, L3, L1, L1), L3),
        (0.25, (L4, L1, L1, L1), L4),
    ],
)
def test_county_wide_share_is_configurable(share: float, levels: tuple[Level, ...], expected: Level) -> None:
    rule = CountyRule("kent", some_areas_min=1, county_wide_min_share=share)
    assert county_level(rule, dict(zip("abcd", levels, strict=True))).level == expected


def test_some_areas_minimum_is_configurable() -> None:
    rule = CountyRule("kent", some_areas_min=2, county_wide_min_share=1.0)
    assert county_level(rule, {"a": L2, "b": L1, "c": L1}).level == L1
    assert county_level(rule, {"a": L2, "b": L3, "c": L1}).level == L2


@given(st.lists(st.sampled_from(list(Level)), min_size=1, max_size=8), st.floats(0.01, 1.0))
def test_county_never_exceeds_worst_area_and_is_monotonic(levels: list[Level], share: float) -> None:
    rule = CountyRule("kent", 1, share)
    areas = {f"a{i}": level for i, level in enumerate(levels)}
    county = county_level(rule, areas).level
    assert county is not None
    assert county <= max(levels)
    # Raising any one area never lowers the county.
    for name, level in areas.items():
        if level < L4:
            raised = county_level(rule, {**areas, name: Level(level + 1)}).level
            assert raised is not None
            assert raised >= county


@dataclass(frozen=True)
class Site:
    score: int
    level: Level


def site(score: int) -> Site:
    return Site(score, ACUTE.level_for_score(score))


def test_system_level_is_the_weighted_mean_when_no_site_is_at_3() -> None:
    result = system_level(ACUTE, SYSTEM, {"maidstone": site(10), "tunbridge_wells": site(20)})
    assert result.aggregate_score == 15
    assert result.level == result.aggregate_level == L2
    assert result.driving_sites == ()
    assert "darent_valley" in result.missing_sites


@pytest.mark.parametrize(("hot", "expected"), [(23, L3), (34, L4)])
def test_any_site_at_3_or_4_lifts_the_system(hot: int, expected: Level) -> None:
    scores = {name: site(2) for name in SYSTEM.weights}
    scores["maidstone"] = site(hot)
    result = system_level(ACUTE, SYSTEM, scores)
    assert result.aggregate_level == L1
    assert result.level == expected
    assert result.driving_sites == ("maidstone",)
    assert "maidstone" in result.reason


def test_a_site_at_2_does_not_lift_the_system() -> None:
    scores = {name: site(2) for name in SYSTEM.weights}
    scores["qeqm"] = site(20)
    assert system_level(ACUTE, SYSTEM, scores).level == L1


def test_system_with_no_reports_has_no_level() -> None:
    assert system_level(ACUTE, SYSTEM, {}).level is None


def test_site_outside_the_system_is_an_error() -> None:
    with pytest.raises(InputError, match="not part of system"):
        system_level(ACUTE, SYSTEM, {"st_elsewhere": site(3)})


@given(st.dictionaries(st.sampled_from(sorted(SYSTEM.weights)), st.integers(0, 44), min_size=1))
def test_system_level_is_at_least_aggregate_and_any_hot_site(scores: dict[str, int]) -> None:
    result = system_level(ACUTE, SYSTEM, {name: site(score) for name, score in scores.items()})
    assert result.level is not None
    assert result.aggregate_level is not None
    assert result.level >= result.aggregate_level
    for score in scores.values():
        if ACUTE.level_for_score(score) >= L3:
            assert result.level >= ACUTE.level_for_score(score)
