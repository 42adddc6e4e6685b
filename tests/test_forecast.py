"""Early warning (issue 16): the Theil-Sen projection, the crossing, the warning's life and the
area stage's warnings, which never change a level."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.stage_context import shipped_context

from opel.bands import BandTable
from opel.contracts.stage import ReadingItem
from opel.contracts.warning import WarningEvent
from opel.feeds import Override, ReferralEvent
from opel.forecast.crossing import Projection, Threshold, hours_to_cross, next_band, project
from opel.forecast.settings import WarningSettings
from opel.forecast.theil_sen import theil_sen
from opel.forecast.warnings import step
from opel.forecast.window import add_point, as_hours
from opel.models import AcuteSubmission, Reading
from opel.replay import replay
from opel.stages.area import apply_area
from opel.stages.context import Context
from streams import topics
from streams.catalogues import CatalogueStore
from streams.cli import resolve_topic
from streams.demo import SECONDS_PER_HOUR, winter_day
from streams.settings import Settings, SettingsError

T0 = datetime(2026, 1, 12, 6, 0, tzinfo=UTC)
SETTINGS = WarningSettings()
SCOPE = "indicator/stp_staffing_pct/east_kent"


@pytest.fixture(scope="module")
def ctx() -> Context:
    return shipped_context()


def table(ctx: Context, indicator: str) -> BandTable:
    rule = ctx.catalogue.rules[(indicator, "east_kent")]
    assert rule.table is not None
    return rule.table


def series(start: float, per_hour: float, hours: int) -> list[tuple[float, float]]:
    """(hours before the latest, value) points every half hour, the latest at hour 0."""
    n = hours * 2 + 1
    return [((i - (n - 1)) / 2, start + per_hour * i / 2) for i in range(n)]


@pytest.mark.parametrize(
    ("points", "slope", "level"),
    [
        ([(0, 1), (1, 3), (2, 5)], 2.0, 1.0),
        ([(0, 5), (1, 5), (2, 5), (3, 5)], 0.0, 5.0),
        # One wild reading moves a least-squares line; the median of slopes stays put.
        ([(0, 0), (1, 1), (2, 2), (3, 30), (4, 4), (5, 5)], 1.0, 0.0),
        ([(-2, 10), (-1, 8), (0, 6)], -2.0, 6.0),
    ],
)
def test_theil_sen_is_the_median_of_pairwise_slopes(
    points: list[tuple[float, float]], slope: float, level: float
) -> None:
    trend = theil_sen(points)
    assert trend is not None
    assert trend.slope == pytest.approx(slope)
    assert trend.level == pytest.approx(level)


def test_next_band_follows_the_tables_direction(ctx: Context) -> None:
    staffing = table(ctx, "stp_staffing_pct")  # lower is worse: green from 70 %
    assert next_band(staffing, 80) == Threshold(70.0, 2, rising=False)
    assert next_band(staffing, 10) is None  # already at the worst band
    caseload = table(ctx, "health_caseload")  # higher is worse: green to 39
    assert next_band(caseload, 30) == Threshold(39.0, 2, rising=True)


@pytest.mark.parametrize(
    ("indicator", "ramp", "expected"),
    [
        # (start, change per hour) over 6 h; expected (hours to the crossing, horizon) or None
        ("stp_staffing_pct", (85, -1.0), (85 - 6 - 70, 12)),  # 79 now, below 70 in 9 h
        ("stp_staffing_pct", (85, 0.0), None),
        ("stp_staffing_pct", (75, 1.0), None),  # improving
        ("health_caseload", (20, 1.0), (39 - 26, 24)),
        ("health_caseload", (30, 1.0), (3, 4)),
        ("health_caseload", (20, 0.05), None),  # crossing far beyond 48 h
    ],
)
def test_projection_table(
    ctx: Context, indicator: str, ramp: tuple[float, float], expected: tuple[float, int] | None
) -> None:
    points = series(*ramp, 6)
    projection = project(points, table(ctx, indicator), points[-1][1], SETTINGS)
    if expected is None:
        assert projection is None or not projection.warns
        return
    expected_hours, horizon = expected
    assert projection is not None
    assert projection.warns
    assert projection.hours == pytest.approx(expected_hours)
    assert projection.confidence == 1.0  # a clean ramp: every pair agrees
    assert projection.horizon_hours == horizon


@settings(max_examples=60, deadline=None)
@given(value=st.floats(0, 120), hours=st.integers(3, 12))
def test_a_flat_series_never_warns(ctx: Context, value: float, hours: int) -> None:
    for indicator in ("stp_staffing_pct", "health_caseload"):
        projection = project(series(value, 0.0, hours), table(ctx, indicator), value, SETTINGS)
        assert projection is None or not projection.warns or projection.hours == 0


@settings(max_examples=60, deadline=None)
@given(slow=st.floats(0.1, 5), faster=st.floats(1.01, 4))
def test_the_crossing_comes_sooner_the_steeper_the_slope(slow: float, faster: float) -> None:
    threshold = Threshold(39.0, 2, rising=True)
    a = theil_sen(series(10, slow, 4))
    b = theil_sen(series(10, slow * faster, 4))
    assert a is not None
    assert b is not None
    ha, hb = hours_to_cross(a, threshold), hours_to_cross(b, threshold)
    assert ha is not None
    assert hb is not None
    assert hb <= ha


def test_the_window_takes_one_reading_per_bucket_and_stays_bounded() -> None:
    window: list[list[float]] = []
    third = timedelta(minutes=SETTINGS.bucket_minutes / 3)
    taken = [add_point(window, T0 + third * i, float(i), SETTINGS) for i in range(200)]
    assert taken[:4] == [True, False, False, True]  # the first reading of each bucket
    assert len(window) == SETTINGS.window_points
    assert as_hours(window)[-1] == (0.0, 198.0)


def staffing_readings(values: Sequence[float], *, every: timedelta = timedelta(hours=1)) -> list[Reading]:
    return [
        Reading(indicator="stp_staffing_pct", area="east_kent", value=v, observed_at=T0 + every * i)
        for i, v in enumerate(values)
    ]


def test_a_ramp_is_warned_before_it_crosses_and_the_warning_comes_true(ctx: Context) -> None:
    # Staffing falls 1 point an hour from 85: amber (below 70) at the 16th reading.
    values = [85 - i for i in range(20)]
    out = replay(staffing_readings(values), ctx)
    statuses = [w.data.status for w in out.warnings]
    # Then, amber and still falling, a warning of red opens.
    assert statuses == ["open", "came_true", "open"]
    opened, came_true, _ = out.warnings
    crossing = next(
        e
        for e in out.escalations
        if e.subject == "indicator/stp_staffing_pct/east_kent" and e.data.to_level == 2
    )
    assert opened.data.opened_at < crossing.time
    assert crossing.time - opened.data.opened_at >= timedelta(hours=SETTINGS.min_lead_hours)
    assert came_true.data.escalation_id == crossing.id
    assert came_true.data.warning_id == opened.data.warning_id
    assert opened.data.projected_level == 2
    assert opened.data.current_level == 1
    assert len(opened.data.readings) >= SETTINGS.min_points
    WarningEvent.model_validate_json(opened.to_json())


def test_a_warning_is_closed_when_the_projection_falls_back(ctx: Context) -> None:
    values = [85 - i for i in range(8)] + [78] * 12
    out = replay(staffing_readings(values), ctx)
    assert [w.data.status for w in out.warnings] == ["open", "closed"]
    assert "fell back" in out.warnings[1].data.reason
    assert out.warnings[0].data.warning_id == out.warnings[1].data.warning_id


def test_warnings_are_audited(ctx: Context) -> None:
    book = None
    decisions: list[str] = []
    for value, reading in zip(
        [85 - i for i in range(20)], staffing_readings([85 - i for i in range(20)]), strict=True
    ):
        del value
        item = ReadingItem(**reading.model_dump(exclude_none=True))
        book, emit, _ = apply_area(book, "east_kent", [item], ctx, T0)
        decisions.extend(a.decision for a in emit.audit if a.decision.startswith("warning_"))
    assert decisions == ["warning_open", "warning_came_true", "warning_open"]


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.floats(-6, 6, allow_nan=False), min_size=5, max_size=40),
    start=st.floats(20, 95),
    minutes=st.integers(5, 120),
)
def test_a_warning_never_changes_a_level(
    ctx: Context, steps: list[float], start: float, minutes: int
) -> None:
    values, value = [], start
    for delta in steps:
        value = min(100.0, max(0.0, value + delta))
        values.append(round(value, 1))
    readings = staffing_readings(values, every=timedelta(minutes=minutes))
    with_warnings = replay(readings, ctx)
    without = replay(readings, replace(ctx, warnings=None))
    assert without.warnings == []
    assert with_warnings.transitions() == without.transitions()
    assert with_warnings.statuses == without.statuses


def test_lifecycle_step_is_deterministic() -> None:
    warns = Projection(projected_level=3, hours=5.0, horizon_hours=12, confidence=0.9, warns=True, holds=True)
    opened, changes = step("indicator/x/a", None, 2, warns, T0, evaluated=True, escalation_id=None)
    again, _ = step("indicator/x/a", None, 2, warns, T0, evaluated=True, escalation_id=None)
    assert opened == again
    assert [c.status for c in changes] == ["open"]
    # Not re-evaluated (same bucket) and the level did not move: nothing happens.
    held, changes = step("indicator/x/a", opened, 2, None, T0, evaluated=False, escalation_id=None)
    assert held == opened
    assert changes == []
    # A level already at or past the projected one never opens a warning.
    none, changes = step("indicator/x/a", None, 3, warns, T0, evaluated=True, escalation_id=None)
    assert none is None
    assert changes == []


def test_the_demo_day_warns_within_its_first_minutes(ctx: Context) -> None:
    """`opel run --demo` plays the day at 4.5 s an hour: a warning must open early in it."""
    start = datetime(2025, 11, 17, 6, 0, tzinfo=UTC)
    models: dict[str, type[Reading | AcuteSubmission | Override | ReferralEvent]] = {
        topics.ACUTE: AcuteSubmission,
        topics.COMMANDS: Override,
        topics.REFERRAL_EVENTS: ReferralEvent,
    }
    script = winter_day(start)
    inputs = [models.get(topic, Reading).model_validate(value) for _, topic, value in script]
    opened = [w for w in replay(inputs, ctx).warnings if w.data.status == "open"]
    assert opened
    first_hours = (opened[0].data.opened_at - start) / timedelta(hours=1)
    assert first_hours * SECONDS_PER_HOUR <= 60


def test_the_worker_takes_its_thresholds_from_its_settings() -> None:
    default = CatalogueStore(Settings.load()).context.warnings
    assert default == WarningSettings()
    chosen = CatalogueStore(
        Settings.load(warning_min_confidence=0.8, warning_min_lead_hours=2)
    ).context.warnings
    assert chosen is not None
    assert (chosen.min_confidence, chosen.min_lead_hours) == (0.8, 2.0)
    with pytest.raises(SettingsError, match=r"OPEL_WARNING_MIN_CONFIDENCE: .* got 1\.5"):
        Settings.load(warning_min_confidence=1.5)


@settings(max_examples=40, deadline=None)
@given(start=st.floats(75, 95), per_hour=st.floats(0.5, 5))
def test_a_falling_ramp_is_warned_before_it_crosses(ctx: Context, start: float, per_hour: float) -> None:
    """Hourly readings falling steadily toward amber (below 70 %): once six readings precede the
    crossing by two hours or more, a warning opens before it and comes true linked to it."""
    values = [round(start - per_hour * i, 3) for i in range(60) if start - per_hour * i >= 55]
    crossing = next(i for i, v in enumerate(values) if v < 70)
    out = replay(staffing_readings(values), ctx)
    escalation = next(e for e in out.escalations if e.subject == SCOPE and e.data.to_level == 2)
    if crossing < SETTINGS.min_points + 1:
        return
    opened, came_true = out.warnings[:2]
    assert opened.data.status == "open"
    assert opened.data.projected_level == 2
    assert opened.time < escalation.time
    assert came_true.data.status == "came_true"
    assert came_true.data.escalation_id == escalation.id


def test_opel_tail_knows_the_warnings_topic() -> None:
    assert resolve_topic("warnings") == topics.WARNINGS
