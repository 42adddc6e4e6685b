"""Acute scoring against appendix 1 of plan v1.7 (NHS OPEL framework 2023/24), typed by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opel.acute_score import score_submission
from opel.catalogue_load import load_acute_catalogue, load_level_map
from opel.errors import InputError
from opel.levels import Level
from opel.models import PARAMETER_IDS, AcuteParameters, AcuteSubmission

AT = datetime(2025, 11, 12, 9, 30, tzinfo=UTC)
ACUTE = load_acute_catalogue("nhs-acute-2023-24")

# (value, points) on both sides of every published edge, and past the ends.
POINTS: dict[str, list[tuple[float, int]]] = {
    "ambulance_handover_mean_min": [  # <15 = 0, 15-30 = 2, >30-60 = 4, >60 = 6
        (0, 0),
        (14.99, 0),
        (15, 2),
        (22, 2),
        (30, 2),
        (30.01, 4),
        (60, 4),
        (60.01, 6),
        (600, 6),
    ],
    "ed_4h_performance_pct": [  # >95 = 0, >76-95 = 1, >60-76 = 2, <=60 = 4
        (100, 0),
        (95.01, 0),
        (95, 1),
        (76.01, 1),
        (76, 2),
        (60.01, 2),
        (60, 4),
        (0, 4),
    ],
    "ed_attendances_vs_expected_pct": [  # <=2 = 0, >2-10 = 1, >10-20 = 2, >20 = 4
        (-100, 0),
        (-5, 0),
        (0, 0),
        (2, 0),
        (2.01, 1),
        (10, 1),
        (10.01, 2),
        (20, 2),
        (20.01, 4),
        (300, 4),
    ],
    "majors_resus_occupancy_pct": [  # <=80 = 0, >80-100 = 2, >100-120 = 4, >120 = 6
        (0, 0),
        (80, 0),
        (80.01, 2),
        (100, 2),
        (100.01, 4),
        (120, 4),
        (120.01, 6),
        (250, 6),
    ],
    "time_to_treatment_median_min": [  # <=60 = 0, >60-90 = 1, 90-120 = 2, >120 = 4
        (0, 0),
        (60, 0),
        (60.01, 1),
        (89.99, 1),
        (90, 1),
        (90.01, 2),
        (120, 2),
        (120.01, 4),
        (480, 4),
    ],
    "ed_over_12h_pct": [  # <=2 = 0, >2-5 = 1, >5-10 = 2, >10 = 4
        (0, 0),
        (2, 0),
        (2.01, 1),
        (5, 1),
        (5.01, 2),
        (10, 2),
        (10.01, 4),
        (100, 4),
    ],
    "ga_bed_occupancy_pct": [  # <=92 = 0, >92-95 = 2, >95-98 = 4, >98 = 6
        (0, 0),
        (92, 0),
        (92.01, 2),
        (95, 2),
        (95.01, 4),
        (98, 4),
        (98.01, 6),
        (110, 6),
    ],
    "escalation_beds_pct": [  # <=2 = 0, >2-4 = 1, >4-6 = 2, >6 = 4
        (0, 0),
        (2, 0),
        (2.01, 1),
        (4, 1),
        (4.01, 2),
        (6, 2),
        (6.01, 4),
        (50, 4),
    ],
    "nctr_beds_pct": [  # <=10 = 0, >10-13 = 2, >13-15 = 4, >15 = 6
        (0, 0),
        (10, 0),
        (10.01, 2),
        (13, 2),
        (13.01, 4),
        (15, 4),
        (15.01, 6),
        (60, 6),
    ],
}
MAX_POINTS = {
    "ambulance_handover_mean_min": 6,
    "ed_4h_performance_pct": 4,
    "ed_attendances_vs_expected_pct": 4,
    "majors_resus_occupancy_pct": 6,
    "time_to_treatment_median_min": 4,
    "ed_over_12h_pct": 4,
    "ga_bed_occupancy_pct": 6,
    "escalation_beds_pct": 4,
    "nctr_beds_pct": 6,
}
CALM: dict[str, float] = {  # every parameter at 0 points
    "ambulance_handover_mean_min": 10,
    "ed_4h_performance_pct": 97,
    "ed_attendances_vs_expected_pct": 0,
    "majors_resus_occupancy_pct": 70,
    "time_to_treatment_median_min": 45,
    "ed_over_12h_pct": 1,
    "ga_bed_occupancy_pct": 90,
    "escalation_beds_pct": 1,
    "nctr_beds_pct": 8,
}


def submission(values: dict[str, Any], site: str = "maidstone") -> AcuteSubmission:
    return AcuteSubmission(site=site, observed_at=AT, parameters=AcuteParameters(**values))


@pytest.mark.parametrize(
    ("parameter", "value", "points"),
    [pytest.param(p, v, pts, id=f"{p}-{v}") for p, cases in POINTS.items() for v, pts in cases],
)
def test_parameter_points_at_every_edge(parameter: str, value: float, points: int) -> None:
    result = score_submission(ACUTE, submission({**CALM, parameter: value}))
    (part,) = [part for part in result.parts if part.parameter == parameter]
    assert part.points == points
    assert result.score == points  # every other parameter is calm


def test_every_parameter_is_tabled_and_maximum_is_44() -> None:
    assert set(POINTS) == set(PARAMETER_IDS) == set(ACUTE.parameters)
    assert {p: r.max_points for p, r in ACUTE.parameters.items()} == MAX_POINTS
    assert ACUTE.max_score == 44


@pytest.mark.parametrize(
    ("score", "level"),
    [(0, 1), (11, 1), (12, 2), (22, 2), (23, 3), (33, 3), (34, 4), (44, 4)],
)
def test_score_to_level_edges(score: int, level: int) -> None:
    assert ACUTE.level_for_score(score) == Level(level)


# Submissions built to land on each edge of the 0-44 level bands.
EDGE_SUBMISSIONS = [
    # 11: handover 6 + majors 4 + escalation 1 -> OPEL 1
    ({"ambulance_handover_mean_min": 61, "majors_resus_occupancy_pct": 110, "escalation_beds_pct": 3}, 11, 1),
    # 12: handover 6 + majors 6 -> OPEL 2
    ({"ambulance_handover_mean_min": 61, "majors_resus_occupancy_pct": 121}, 12, 2),
    # 22: 6 + 6 + 6 + 4 -> OPEL 2
    (
        {
            "ambulance_handover_mean_min": 61,
            "majors_resus_occupancy_pct": 121,
            "ga_bed_occupancy_pct": 99,
            "ed_4h_performance_pct": 50,
        },
        22,
        2,
    ),
    # 23: 6 + 6 + 6 + 4 + 1 -> OPEL 3
    (
        {
            "ambulance_handover_mean_min": 61,
            "majors_resus_occupancy_pct": 121,
            "ga_bed_occupancy_pct": 99,
            "ed_4h_performance_pct": 50,
            "time_to_treatment_median_min": 75,
        },
        23,
        3,
    ),
    # 33: 6 + 6 + 6 + 6 + 4 + 4 + 1 -> OPEL 3
    (
        {
            "ambulance_handover_mean_min": 61,
            "majors_resus_occupancy_pct": 121,
            "ga_bed_occupancy_pct": 99,
            "nctr_beds_pct": 16,
            "ed_4h_performance_pct": 50,
            "ed_over_12h_pct": 11,
            "escalation_beds_pct": 3,
        },
        33,
        3,
    ),
    # 34: 6 + 6 + 6 + 6 + 4 + 4 + 2 -> OPEL 4
    (
        {
            "ambulance_handover_mean_min": 61,
            "majors_resus_occupancy_pct": 121,
            "ga_bed_occupancy_pct": 99,
            "nctr_beds_pct": 16,
            "ed_4h_performance_pct": 50,
            "ed_over_12h_pct": 11,
            "escalation_beds_pct": 5,
        },
        34,
        4,
    ),
    # 44: everything at its worst
    (
        {p: cases[-1][0] if MAX_POINTS[p] == cases[-1][1] else cases[0][0] for p, cases in POINTS.items()},
        44,
        4,
    ),
]


@pytest.mark.parametrize(("overrides", "score", "level"), EDGE_SUBMISSIONS)
def test_full_submissions_on_level_edges(overrides: dict[str, float], score: int, level: int) -> None:
    result = score_submission(ACUTE, submission({**CALM, **overrides}))
    assert (result.score, result.level, result.complete) == (score, Level(level), True)
    assert result.score_max == result.score
    assert result.normalised_score == pytest.approx(score * 100 / 44)


@pytest.mark.parametrize(
    ("normalised", "level"),
    [(0, 1), (15, 1), (15.01, 2), (40, 2), (40.01, 3), (70, 3), (70.01, 4), (100, 4)],
)
def test_normalised_level_map_edges(normalised: float, level: int) -> None:
    assert load_level_map("nhs-opel-2024-26-levels").level_for(normalised) == Level(level)


def test_normalised_level_reported_beside_the_2023_level() -> None:
    # 7 points: OPEL 1 on the 0-44 table, but 15.9 normalised is OPEL 2 on the 2024-26 map.
    result = score_submission(
        ACUTE, submission({**CALM, "ambulance_handover_mean_min": 61, "escalation_beds_pct": 3})
    )
    assert result.score == 7
    assert result.level == Level.OPEL_1
    assert result.normalised_level == Level.OPEL_2
    assert result.to_dict()["normalised_score"] == 15.91


def test_missing_parameters_give_a_lower_bound_and_a_range() -> None:
    values = {k: v for k, v in CALM.items() if k not in ("nctr_beds_pct", "ga_bed_occupancy_pct")}
    values["ambulance_handover_mean_min"] = 61
    result = score_submission(ACUTE, submission(values))
    assert result.missing == ("ga_bed_occupancy_pct", "nctr_beds_pct")
    assert not result.complete
    assert (result.score, result.score_max) == (6, 18)
    assert (result.level, result.level_max) == (Level.OPEL_1, Level.OPEL_2)
    out = result.to_dict()
    assert out["complete"] is False
    assert "at least 6 and at most 18" in out["explanation"]


def test_null_parameter_counts_as_missing() -> None:
    result = score_submission(ACUTE, submission({**CALM, "nctr_beds_pct": None}))
    assert result.missing == ("nctr_beds_pct",)


def test_submission_with_no_parameters_is_an_error() -> None:
    with pytest.raises(InputError, match="parameters"):
        score_submission(ACUTE, submission({}))


def test_unknown_site_is_an_error_naming_site() -> None:
    with pytest.raises(InputError) as info:
        score_submission(ACUTE, submission(CALM, site="st_elsewhere"))
    assert info.value.field == "site"
    assert "maidstone" in info.value.problem


@given(
    parameter=st.sampled_from(PARAMETER_IDS),
    a=st.floats(min_value=0, max_value=1000, allow_nan=False),
    b=st.floats(min_value=0, max_value=1000, allow_nan=False),
)
def test_points_are_monotonic_in_pressure(parameter: str, a: float, b: float) -> None:
    low, high = sorted((a, b))
    rule = ACUTE.parameters[parameter]
    p_low, p_high = rule.table.band_for(low).outcome, rule.table.band_for(high).outcome
    if parameter == "ed_4h_performance_pct":  # performance: lower is worse
        assert p_low >= p_high
    else:
        assert p_low <= p_high


@given(
    st.fixed_dictionaries({p: st.floats(min_value=0, max_value=500, allow_nan=False) for p in PARAMETER_IDS})
)
def test_score_and_level_stay_in_range(values: dict[str, float]) -> None:
    result = score_submission(ACUTE, submission(values))
    assert 0 <= result.score <= 44
    assert 0 <= result.normalised_score <= 100
    assert result.level == ACUTE.level_for_score(result.score)
