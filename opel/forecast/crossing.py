"""When a projected series crosses into the next worse band, and how sure that is.

The next band is read from the catalogue's band table in force (:mod:`opel.bands`), so a
change of catalogue changes what counts as crossing. The confidence is one sentence: *the
share of the pairs of recent readings whose slope would reach the next band within the
warning's horizon.*
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from opel.bands import BandTable, Direction
from opel.forecast.settings import WarningSettings
from opel.forecast.theil_sen import Trend, theil_sen

METHOD = "theil-sen"
METHOD_TEXT = (
    "Theil-Sen trend: the median rise per hour between every two of the recent readings, "
    "projected forward from the line through them; the confidence is the share of those pairs "
    "whose rise would reach the next band within the horizon (the shortest of 4, 12, 24 and 48 h "
    "where that share is at least the minimum confidence)."
)


@dataclass(frozen=True, slots=True)
class Threshold:
    """The edge of the next worse band: the value where it starts and the level it gives."""

    value: float
    level: int
    rising: bool  # pressure grows as the value grows


def next_band(table: BandTable, value: float) -> Threshold | None:
    """The next worse band above (or below, for lower-is-worse) ``value``'s band; None at the worst."""
    index = table.index_of(value)
    if table.direction is Direction.HIGHER_IS_WORSE:
        if index + 1 >= len(table.bands):
            return None
        band = table.bands[index + 1]
        return Threshold(band.exact.low, band.outcome, rising=True)
    if index == 0:
        return None
    band = table.bands[index - 1]
    return Threshold(band.exact.high, band.outcome, rising=False)


def _gap_and_rate(trend_level: float, slope: float, threshold: Threshold) -> tuple[float, float]:
    if threshold.rising:
        return threshold.value - trend_level, slope
    return trend_level - threshold.value, -slope


def hours_to_cross(trend: Trend, threshold: Threshold) -> float | None:
    """Hours from the latest reading until the trend line reaches the threshold; None if it
    never does (flat or moving away). 0 when the line is already past it."""
    gap, rate = _gap_and_rate(trend.level, trend.slope, threshold)
    if gap <= 0:
        return 0.0
    if rate <= 0:
        return None
    return gap / rate


def confidence(trend: Trend, threshold: Threshold, horizon_hours: float) -> float:
    """The share of pairwise slopes that would carry the line to the threshold within the horizon."""
    if not trend.slopes:
        return 0.0
    reaching = 0
    for slope in trend.slopes:
        gap, rate = _gap_and_rate(trend.level, slope, threshold)
        if gap <= 0 or (rate > 0 and gap <= rate * horizon_hours):
            reaching += 1
    return reaching / len(trend.slopes)


@dataclass(frozen=True, slots=True)
class Projection:
    """A series' projection toward its next worse band, whether or not it warrants a warning.

    ``horizon_hours`` is the shortest horizon in which enough pairs reach the band (at least
    the minimum confidence), ``confidence`` the share there; with no such horizon, the longest
    and its share.
    """

    projected_level: int
    hours: float  # until the expected crossing (the median slope's)
    horizon_hours: int
    confidence: float
    warns: bool  # sure enough within some horizon, and far enough ahead to open a warning
    holds: bool  # sure enough within some horizon: keeps an open warning open, however near


def project(
    points: Sequence[tuple[float, float]], table: BandTable, value: float, settings: WarningSettings
) -> Projection | None:
    """Project ``points`` (hours, value; the latest at hour 0, whose value is ``value``) toward
    the band after ``value``'s; None when there is no worse band, too few points, or the
    median slope does not reach it within the longest horizon."""
    if len(points) < settings.min_points:
        return None
    threshold = next_band(table, value)
    if threshold is None:
        return None
    trend = theil_sen(points)
    if trend is None:
        return None
    hours = hours_to_cross(trend, threshold)
    if hours is None or hours > settings.longest:
        return None
    horizon, sure = settings.longest, 0.0
    for h in settings.horizons_hours:
        horizon, sure = h, confidence(trend, threshold, h)
        if sure >= settings.min_confidence:
            break
    holds = sure >= settings.min_confidence
    # Opening asks for more than holding (a crossing far enough ahead to act on), so a warning
    # whose crossing draws near stays open until the level comes or the projection falls back.
    warns = holds and hours >= settings.min_lead_hours
    return Projection(threshold.level, hours, horizon, sure, warns, holds)
