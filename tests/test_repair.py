"""An operator repair rebuilds an area bent by a reading stamped far in the future (a reading that
got in before the edge refused such times), instead of leaving it stuck for good."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support.stage_context import shipped_context

from opel.contracts.stage import ReadingItem, ResetItem
from opel.feeds import ResetScope
from opel.stages.area import apply_area
from opel.stages.context import Context
from opel.stages.county import apply_county

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
FAR = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.fixture(scope="module")
def ctx() -> Context:
    return shipped_context(dwell=timedelta(hours=1))


def reading(indicator: str, value: float, at: datetime) -> ReadingItem:
    return ReadingItem(indicator=indicator, area="west_kent", value=value, observed_at=at)


def reset(scope: str, at: datetime) -> ResetItem:
    return ResetItem(
        command=ResetScope(type="reset_scope", scope=scope, author="duty-engineer", reason="clock bug", at=at)
    )


def test_reset_drops_a_far_future_reading_and_the_area_moves_again(ctx: Context) -> None:
    book, _, _ = apply_area(None, "west_kent", [reading("stp_staffing_pct", 45, T0)], ctx, T0)
    poisoned, _, statuses = apply_area(book, "west_kent", [reading("social_caseload", 400, FAR)], ctx, T0)
    assert statuses["area/west_kent"].observed_at == FAR
    stuck, emit, _ = apply_area(
        poisoned, "west_kent", [reading("social_caseload", 10, T0 + timedelta(minutes=5))], ctx, T0
    )
    assert [outcome for _, outcome in emit.outcomes] == ["stale"], "the future reading holds the indicator"

    repaired, emit, statuses = apply_area(
        stuck, "west_kent", [reset("area/west_kent", T0 + timedelta(minutes=10))], ctx, T0
    )
    (record,) = [a for a in emit.audit if a.decision == "reset"]
    assert record.author == "duty-engineer"
    assert record.outcome is not None
    assert [d["indicator"] for d in record.outcome["dropped"]] == ["social_caseload"]
    assert statuses["area/west_kent"].observed_at == T0
    assert emit.reports[0].reset

    _after, emit, statuses = apply_area(
        repaired, "west_kent", [reading("social_caseload", 10, T0 + timedelta(minutes=15))], ctx, T0
    )
    assert [outcome for _, outcome in emit.outcomes] == ["assessed"]
    assert statuses["indicator/social_caseload/west_kent"].model_dump()["value"] == 10
    assert statuses["area/west_kent"].observed_at == T0 + timedelta(minutes=15)


def test_reset_of_one_indicator_drops_only_that_indicator(ctx: Context) -> None:
    book, _, _ = apply_area(
        None,
        "west_kent",
        [reading("stp_staffing_pct", 45, T0), reading("social_caseload", 10, T0 + timedelta(minutes=1))],
        ctx,
        T0,
    )
    book, emit, statuses = apply_area(
        book,
        "west_kent",
        [reset("indicator/stp_staffing_pct/west_kent", T0 + timedelta(minutes=2))],
        ctx,
        T0,
    )
    assert "stp_staffing_pct" not in book["readings"]
    assert "social_caseload" in book["readings"]
    assert statuses["area/west_kent"].computed_level == 1
    # OPEL 3 from staffing is gone at once: the repair is a decision, not a reading to dwell on.
    assert [(e.data.cause, e.data.to_level) for e in emit.escalations] == [("reset", 1)]


def test_the_county_takes_a_rebuilt_area_whose_data_time_went_back(ctx: Context) -> None:
    areas = ("dgs", "east_kent", "swale", "west_kent")
    county = None
    for area in areas:
        at = FAR if area == "west_kent" else T0
        book, emit, _ = apply_area(
            None,
            area,
            [ReadingItem(indicator="stp_staffing_pct", area=area, value=80, observed_at=at)],
            ctx,
            T0,
        )
        county, _, _ = apply_county(county, emit.reports, ctx, T0)
        if area == "west_kent":
            west = book
    _repaired, emit, _ = apply_area(west, "west_kent", [reset("area/west_kent", T0)], ctx, T0)
    county, _, _ = apply_county(county, emit.reports, ctx, T0)
    assert (
        county["timeline"]["members"]["west_kent"]["wm"] is None
        or county["timeline"]["members"]["west_kent"]["wm"] < FAR.isoformat()
    )
