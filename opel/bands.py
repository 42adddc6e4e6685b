"""Band tables: the plan's published ranges turned into exact, gap-free numeric intervals.

A table partitions the non-negative numbers (and, for the rare measure that may be negative,
everything below its first band too) into bands, each with an outcome: an OPEL level or a
number of points. Lookup is a binary search over the boundaries, so it is cheap enough for
the hot path. How published ranges become intervals is explained in docs/semantics.md.

``check_coverage`` refuses a table whose published bands leave a hole at either end of its
domain (the values it must decide), which the stretched first or last band would otherwise
decide silently.
"""

from __future__ import annotations

import itertools
import math
import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial


class Direction(StrEnum):
    """Which way pressure grows as the value grows."""

    HIGHER_IS_WORSE = "higher_is_worse"
    LOWER_IS_WORSE = "lower_is_worse"


@dataclass(frozen=True, slots=True)
class Interval:
    """A numeric interval with open or closed ends; ``high`` may be infinity."""

    low: float
    low_closed: bool
    high: float
    high_closed: bool

    def __contains__(self, value: float) -> bool:
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return above and below

    def __str__(self) -> str:
        left = "[" if self.low_closed else "("
        right = "]" if self.high_closed else ")"
        return f"{left}{_num(self.low)}, {_num(self.high)}{right}"


def _num(value: float) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return str(int(value)) if float(value).is_integer() else str(value)


_INTERVAL = re.compile(
    r"^\s*(?P<left>[\[(])\s*(?P<low>-?(?:inf|\d+(?:\.\d+)?))\s*,"
    r"\s*(?P<high>-?(?:inf|\d+(?:\.\d+)?))\s*(?P<right>[\])])\s*$"
)


def parse_interval(text: str) -> Interval:
    """Parse interval notation such as ``"(2, 10]"`` or ``"(60, inf)"``."""
    match = _INTERVAL.match(text)
    if not match:
        raise ValueError(f"expected interval notation like '(2, 10]' or '[0, 15)', got {text!r}")
    low, high = float(match["low"]), float(match["high"])
    low_closed, high_closed = match["left"] == "[", match["right"] == "]"
    if (math.isinf(low) and low_closed) or (math.isinf(high) and high_closed):
        raise ValueError(f"an infinite end must be open in {text!r}")
    if low > high or (low == high and not (low_closed and high_closed)):
        raise ValueError(f"interval {text!r} is empty")
    return Interval(low, low_closed, high, high_closed)


@dataclass(frozen=True, slots=True)
class BandSpec:
    """One band as a catalogue states it, before the table is checked and compiled."""

    outcome: int
    interval: Interval  # exact: the published range with the unnamed gaps assigned
    stated: Interval  # as published, for explanations
    published: str
    path: str  # where it came from, for error messages


class Placement(StrEnum):
    """Where a value sits relative to the published band that decided it."""

    INSIDE = "inside"  # within the published range
    BETWEEN = "between"  # in the unnamed gap between two published ranges
    BEYOND = "beyond"  # past the published extremes; took the extreme band


class BandError(ValueError):
    """A table that does not partition the number line; ``path`` names the offending band."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True, slots=True)
class Band:
    """A compiled band. ``exact`` is the interval lookup really uses (gaps assigned, ends open)."""

    index: int
    outcome: int
    published: str
    stated: Interval
    exact: Interval


def integer_range_bands(ranges: list[tuple[int, int, int, str]], direction: Direction) -> list[BandSpec]:
    """Turn the plan's whole-number ranges ``(outcome, low, high, path)`` into exact intervals.

    Between two adjacent published ranges such as 0-39 and 40-59 lies a gap (39, 40) that the
    plan never names. It goes to the worse of the two bands, so a value never reads as less
    pressured than the published figures say: caseload 39.5 is amber, staffing 69.9% is amber.
    """
    for _outcome, low, high, path in ranges:
        if low > high:
            raise BandError(path, f"range {low}-{high} runs backwards; write it low to high")
    ordered = sorted(ranges, key=lambda item: (item[1], item[2]))
    _check_integer_contiguity(ordered)
    specs: list[BandSpec] = []
    for position, (outcome, low, high, path) in enumerate(ordered):
        published = f"{low}-{high}" if low != high else f"{low}"
        low_closed, high_closed = True, True
        exact_low, exact_high = float(low), float(high)
        if position > 0:
            prev_high = ordered[position - 1][2]
            if direction is Direction.LOWER_IS_WORSE:
                # The band below is worse, so it takes the gap up to this band's first value.
                exact_low = float(prev_high) + 1
            else:
                exact_low, low_closed = float(prev_high), False
        if position + 1 < len(ordered):
            next_low = ordered[position + 1][1]
            if direction is Direction.LOWER_IS_WORSE:
                exact_high, high_closed = float(next_low), False
            else:
                exact_high = float(next_low) - 1
        exact = Interval(exact_low, low_closed, exact_high, high_closed)
        stated = Interval(float(low), True, float(high), True)
        specs.append(BandSpec(outcome, exact, stated, published, path))
    return specs


def _check_integer_contiguity(ordered: list[tuple[int, int, int, str]]) -> None:
    for before, after in itertools.pairwise(ordered):
        if after[1] <= before[2]:
            raise BandError(after[3], f"range {after[1]}-{after[2]} overlaps {before[1]}-{before[2]}")
        if after[1] > before[2] + 1:
            first, last = before[2] + 1, after[1] - 1
            missing = f"{first}" if first == last else f"{first}-{last}"
            raise BandError(
                after[3],
                f"gap: no band covers {missing} between {before[1]}-{before[2]} and {after[1]}-{after[2]}",
            )


class BandTable:
    """An ordered, gap-free partition of the number line into bands.

    The first band extends down to the lowest allowed value and the last band up to infinity:
    a value past the published extremes takes the extreme band (``beyond_published`` says so).
    """

    __slots__ = ("_bounds", "bands", "bounds", "direction", "index_of", "minimum")

    def __init__(self, specs: list[BandSpec], direction: Direction, minimum: float = 0.0) -> None:
        if not specs:
            raise BandError("bands", "a table needs at least one band")
        ordered = sorted(specs, key=lambda spec: (spec.interval.low, not spec.interval.low_closed))
        _check_partition(ordered)
        _check_monotonic(ordered, direction)
        self.direction = direction
        self.minimum = minimum
        last = len(ordered) - 1
        bands: list[Band] = []
        for index, spec in enumerate(ordered):
            low = (minimum, True) if index == 0 else (spec.interval.low, spec.interval.low_closed)
            high = (math.inf, False) if index == last else (spec.interval.high, spec.interval.high_closed)
            exact = Interval(low[0], low[1], high[0], high[1])
            bands.append(Band(index, spec.outcome, spec.published, spec.stated, exact))
        self.bands: tuple[Band, ...] = tuple(bands)
        self._bounds: tuple[float, ...] = tuple(band.exact.high for band in bands[:-1])
        # At a boundary value the band on the right wins when its low end is closed.
        right = tuple(band.exact.low_closed for band in bands[1:])
        # The boundaries for bisect_right alone: its result is the band's index (see _right_leaning).
        self.bounds: tuple[float, ...] = _right_leaning(self._bounds, right)
        self.index_of: Callable[[float], int] = partial(bisect_right, self.bounds)

    def band_for(self, value: float) -> Band:
        """The band holding ``value``; the caller has already checked the value's domain."""
        band: Band = self.bands[self.index_of(value)]
        return band

    def placement(self, band: Band, value: float) -> Placement:
        """Say how ``value`` relates to what the plan published for ``band``."""
        if value in band.stated:
            return Placement.INSIDE
        outside = value > band.stated.high or value < band.stated.low
        if outside and band.index in (0, len(self.bands) - 1):
            return Placement.BEYOND
        return Placement.BETWEEN

    def segments(self) -> tuple[tuple[float, ...], tuple[tuple[Band, Placement], ...]]:
        """Points and cells: ``cells[bisect_right(points, value)]`` is ``value``'s band and placement.

        One bisect then answers what ``band_for`` and ``placement`` answer in two steps (the
        batch assessor's hot path). Every number either function compares a value with (each
        boundary, each published end) becomes a cell of its own, ``[c, just_above(c))``, so
        both functions are constant on every cell and are evaluated once per cell here.
        """
        constants = {*self._bounds}
        for band in self.bands:
            constants.update((band.stated.low, band.stated.high))
        finite = {c for c in constants if not math.isinf(c)}
        points = sorted({p for c in finite for p in (c, _just_above(c))})
        probes = [math.nextafter(points[0], -math.inf), *points] if points else [self.minimum]
        merged_points: list[float] = []
        cells: list[tuple[Band, Placement]] = []
        for index, probe in enumerate(probes):
            # Decided from the bands' exact intervals, not through the lookup this replaces.
            band = next((band for band in self.bands if probe in band.exact), self.bands[0])
            cell = (band, self.placement(band, probe))
            if cells and cells[-1] == cell:
                continue  # same answer as the cell to its left: no boundary needed
            if index > 0:
                merged_points.append(points[index - 1])
            cells.append(cell)
        return tuple(merged_points), tuple(cells)

    @property
    def outcomes(self) -> tuple[int, ...]:
        return tuple(band.outcome for band in self.bands)

    @property
    def worst_outcome(self) -> int:
        return max(self.outcomes)


def _right_leaning(bounds: tuple[float, ...], right: tuple[bool, ...]) -> tuple[float, ...]:
    """``bounds`` rewritten so that ``bisect_right(result, value)`` alone is the band index.

    A boundary whose value belongs to the band on its left moves just above itself: nothing
    compares differently with it except the boundary value itself, which now falls to the left.
    """
    return tuple(
        bound if leans_right else _just_above(bound) for bound, leans_right in zip(bounds, right, strict=True)
    )


def _just_above(value: float) -> float:
    """The next number up from ``value`` with no int or float between them.

    Below 2**53 that is the next float (every whole number there is a float too); from 2**53 on
    every float is a whole number at least 2 from the next, so it is the int one above.
    """
    if abs(value) < 2.0**53:
        return math.nextafter(value, math.inf)
    return int(value) + 1


def _check_partition(ordered: list[BandSpec]) -> None:
    for before, after in itertools.pairwise(ordered):
        left, right = before.interval, after.interval
        if right.low < left.high or (right.low == left.high and left.high_closed and right.low_closed):
            raise BandError(after.path, f"{right} overlaps {left}")
        if right.low > left.high or (
            right.low == left.high and not left.high_closed and not right.low_closed
        ):
            raise BandError(after.path, f"gap between {left} and {right}: some values have no band")


def _check_monotonic(ordered: list[BandSpec], direction: Direction) -> None:
    for before, after in itertools.pairwise(ordered):
        rising = after.outcome > before.outcome
        falling = after.outcome < before.outcome
        expected_rising = direction is Direction.HIGHER_IS_WORSE
        if (expected_rising and not rising) or (not expected_rising and not falling):
            raise BandError(
                after.path,
                f"out of order: {after.published} gives {after.outcome} after {before.published} "
                f"gives {before.outcome}, but the table says {direction.value}",
            )


@dataclass(frozen=True, slots=True)
class Domain:
    """Every value a table must decide: ``[low, high]``, or ``[low, inf)`` when ``high`` is infinite.

    ``name`` says what the values are ("percent", "count") for error messages.
    """

    low: float
    high: float
    name: str

    @property
    def interval(self) -> Interval:
        return Interval(self.low, True, self.high, not math.isinf(self.high))

    def __str__(self) -> str:
        return f"{self.name} {self.interval}"


def check_coverage(
    specs: Sequence[BandSpec],
    domain: Domain,
    path: str,
    *,
    open_top_outcome: int | None = None,
    outcome_name: Callable[[int], str] = str,
) -> None:
    """Refuse a table whose published bands leave part of ``domain`` without a band of its own.

    Run after :class:`BandTable` has accepted ``specs`` (no overlaps, no gaps between bands),
    so only the two ends can fall short. A compiled table stretches its first band down to the
    minimum and its last band up to infinity; that stretch silently decides values the plan
    gave no band, e.g. staffing 10 % in the 30-49 % band when the 0-29 % band is missing. So the
    bands as published must reach both ends of the domain. The one exception is an unbounded
    top (``domain.high`` infinite, written as whole-number ranges): values past the last range
    may take the last band when its outcome is ``open_top_outcome``, the extreme level in that
    direction ("past the worst band takes the worst level").
    """
    ordered = sorted(specs, key=lambda spec: (spec.stated.low, not spec.stated.low_closed))
    first, last = ordered[0], ordered[-1]
    low, high = first.stated, last.stated

    def hole_in(hole: Interval, band: BandSpec, advice: str) -> BandError:
        return BandError(
            path,
            f"hole in the domain ({domain}): no band covers {hole}, so those values would silently "
            f"take the band {band.published!r} ({outcome_name(band.outcome)}); {advice}",
        )

    if low.low > domain.low or (low.low == domain.low and not low.low_closed):
        hole = Interval(domain.low, True, low.low, not low.low_closed)
        raise hole_in(hole, first, "publish a band for them")
    unbounded = math.isinf(domain.high)
    if high.high > domain.high or (high.high == domain.high and (high.high_closed or unbounded)):
        return
    hole = Interval(high.high, not high.high_closed, domain.high, not unbounded)
    if not unbounded or open_top_outcome is None:
        raise hole_in(hole, last, "publish a band for them")
    if last.outcome != open_top_outcome:
        extreme = outcome_name(open_top_outcome)
        advice = f"only {extreme} may run on past the published ranges: publish the missing band"
        raise hole_in(hole, last, advice)
