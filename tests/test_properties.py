"""Invariants of indicator assessment that must hold for any value, not just the tabled ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opel.assess import assess, rule_for, verdict_for
from opel.bands import Direction
from opel.catalogue import IndicatorRule
from opel.catalogue_load import load_indicator_catalogue
from opel.models import Reading

CATALOGUES = [load_indicator_catalogue(n) for n in ("kcc-asch-2025-26", "kcc-asch-2024-25")]
NUMERIC_RULES: list[IndicatorRule] = [
    rule for catalogue in CATALOGUES for rule in catalogue.rules.values() if rule.table is not None
]
values = st.floats(min_value=0, max_value=10_000, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize("rule", NUMERIC_RULES, ids=lambda r: f"{r.indicator.id}-{r.area}")
@given(a=values, b=values)
def test_level_is_monotonic_in_pressure_direction(rule: IndicatorRule, a: float, b: float) -> None:
    low, high = sorted((a, b))
    level_low, level_high = verdict_for(rule, low).level, verdict_for(rule, high).level
    assert level_low is not None
    assert level_high is not None
    if rule.indicator.direction is Direction.HIGHER_IS_WORSE:
        assert level_low <= level_high
    else:
        assert level_low >= level_high


@pytest.mark.parametrize("rule", NUMERIC_RULES, ids=lambda r: f"{r.indicator.id}-{r.area}")
@given(value=values)
def test_value_lies_in_the_exact_interval_of_its_band(rule: IndicatorRule, value: float) -> None:
    verdict = verdict_for(rule, value)
    assert verdict.band is not None
    assert value in verdict.band.exact


@given(
    value=st.one_of(st.integers(0, 10**9), values),
    indicator=st.sampled_from(sorted(CATALOGUES[0].indicators)),
    area=st.sampled_from(sorted(CATALOGUES[0].areas)),
)
def test_every_known_pair_gives_a_level_or_a_reason(value: float, indicator: str, area: str) -> None:
    catalogue = CATALOGUES[0]
    result = assess(
        catalogue,
        Reading(indicator=indicator, area=area, value=value, observed_at=datetime(2025, 1, 1, tzinfo=UTC)),
    )
    assert (result.level is None) == (result.verdict.reason is not None)
    assert rule_for(catalogue, indicator, area).area == area
