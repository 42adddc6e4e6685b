"""Synthetic histories for trying the replay without real data: ``opel replay generate``.

Every series (an indicator in an area, an acute site's nine parameters) follows a pressure
between 0 (calm) and 1 (worst) made of:

- **winter season**: a rise to a peak about five weeks into the history (early January for a
  history starting on 1 December) and back;
- **weekday effects**: Mondays and Tuesdays worst, weekends calmest, and a midday peak;
- **noise**: a per-area bias and a slowly wandering (AR(1)) disturbance per series;

then mapped onto the indicator's calm-to-worst range. Readings go **missing** (one in fifty,
plus outages of a few hours), and a few **arrive late**: the lines are written in arrival
order, not event time, as an export of what the topics received would be.

The KEaH capacity is written twice, as the count the 2025-26 plan triggers on and as the
category the 2024-25 plan used, so the one history replays under both (``--keah``).

Deterministic for a given seed: the same arguments give the same bytes.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from opel.catalogue_load import load_acute_catalogue

KENT_AREAS: Final = ("dgs", "east_kent", "swale", "west_kent")
# indicator -> (calm value, worst value, whole numbers?, reported every N hours (0: every slot))
SERIES: Final[dict[str, tuple[float, float, bool, int]]] = {
    "stp_staffing_pct": (86, 34, False, 0),
    "keah_capacity": (7, 0, True, 0),
    "health_caseload": (28, 112, True, 0),
    "social_caseload": (30, 118, True, 0),
    "referrals": (4, 24, True, 0),
    "d2a_p1_weekly_availability": (40, 3, True, 0),
    "d2a_p1_discharged_yesterday": (6, 0, True, 24),
    "assessment_bed_availability": (8, 0, True, 24),
    "dementia_bed_availability": (4, 0, True, 24),
}
CALM_TO_WORST: Final[dict[str, tuple[float, float]]] = {
    "ambulance_handover_mean_min": (12, 80),
    "ed_4h_performance_pct": (88, 52),
    "ed_attendances_vs_expected_pct": (-5, 28),
    "majors_resus_occupancy_pct": (70, 130),
    "time_to_treatment_median_min": (45, 140),
    "ed_over_12h_pct": (1, 14),
    "ga_bed_occupancy_pct": (89, 99.5),
    "escalation_beds_pct": (1, 8),
    "nctr_beds_pct": (9, 17),
}
SERIES_STAGGER: Final = timedelta(seconds=5)
"""An area's series are stamped a few seconds apart, as senders' clocks are: no two readings of
one area share an instant (the order of such readings is not what a history should test)."""
WEEKDAY: Final = (0.08, 0.05, 0.02, 0.0, 0.02, -0.05, -0.07)  # Monday first
KEAH_CATEGORIES: Final = ((5, "good"), (3, "limited"), (1, "very_limited"), (0, "none"))
Keah = Literal["both", "count", "category"]


@dataclass(frozen=True, slots=True)
class Shape:
    """What to generate: areas, acute sites, the period and the cadence."""

    areas: tuple[str, ...]
    sites: tuple[str, ...]
    start: datetime
    days: int
    every: timedelta = timedelta(minutes=15)
    acute_every: timedelta = timedelta(hours=1)
    missing: float = 0.02
    late: float = 0.01
    keah: Keah = "both"


def kent(start: datetime, days: int, **options: Any) -> Shape:
    sites = tuple(load_acute_catalogue("nhs-acute-2023-24").sites)
    return Shape(KENT_AREAS, sites, start, days, **options)


def keah_category(count: float) -> str:
    return next(name for floor, name in KEAH_CATEGORIES if count >= floor)


class Pressure:
    """One series' pressure over time: season, weekday, time of day, bias and AR(1) noise."""

    def __init__(self, rng: random.Random, start: datetime, days: int, bias: float) -> None:
        self.rng = rng
        self.start = start
        self.peak = min(35.0, days * 0.45)
        self.width = max(days / 4, 2.0)
        self.bias = bias
        self.noise = 0.0

    def at(self, when: datetime) -> float:
        day = (when - self.start) / timedelta(days=1)
        season = 0.34 * math.exp(-(((day - self.peak) / self.width) ** 2))
        local = when.astimezone(UTC)
        hour = local.hour + local.minute / 60
        daily = 0.05 * math.sin((hour - 6) / 24 * 2 * math.pi)
        self.noise = 0.985 * self.noise + self.rng.gauss(0, 0.025)
        return min(1.0, max(0.0, 0.16 + season + WEEKDAY[local.weekday()] + daily + self.bias + self.noise))


def _number(value: float, whole: bool) -> int | float:
    return round(value) if whole else round(value, 1)


def generate(shape: Shape, seed: int) -> Iterator[dict[str, Any]]:
    """The history's inputs as JSON objects, in arrival order (late ones after their time)."""
    rng = random.Random(seed)
    slots = int(timedelta(days=shape.days) / shape.every)
    area_bias = {a: rng.uniform(-0.1, 0.1) for a in shape.areas}
    pressures = {
        (i, a): Pressure(random.Random(rng.random()), shape.start, shape.days, area_bias[a])
        for a in shape.areas
        for i in SERIES
    }
    outage: dict[tuple[str, str], datetime] = {}
    pending: list[tuple[datetime, int, dict[str, Any]]] = []
    order = 0
    for slot in range(slots + 1):
        when = shape.start + shape.every * slot
        for area in shape.areas:
            for index, (indicator, (calm, worst, whole, hours)) in enumerate(SERIES.items()):
                stamp = (when + SERIES_STAGGER * index).isoformat()
                pressure = pressures[(indicator, area)].at(when)
                if hours and (when - shape.start) % timedelta(hours=hours):
                    continue
                key = (indicator, area)
                if key in outage and when < outage[key]:
                    continue
                if rng.random() < 0.0015:
                    outage[key] = when + timedelta(hours=rng.uniform(2, 12))
                    continue
                if rng.random() < shape.missing:
                    continue
                value = calm + (worst - calm) * pressure + rng.gauss(0, abs(worst - calm) * 0.02)
                value = max(0.0, value)
                arrival = when
                if rng.random() < shape.late:
                    arrival = when + timedelta(hours=rng.uniform(1, 6))
                for item in _values(indicator, value, whole, shape.keah):
                    order += 1
                    reading = {"indicator": indicator, "area": area, "value": item, "observed_at": stamp}
                    pending.append((arrival, order, reading))
    pending.extend(_acute(shape, rng, order))
    pending.sort(key=lambda p: (p[0], p[1]))
    for entry in pending:
        yield entry[2]


def _values(indicator: str, value: float, whole: bool, keah: Keah) -> list[int | float | str]:
    if indicator != "keah_capacity":
        return [_number(value, whole)]
    count = _number(value, True)
    out: list[int | float | str] = []
    if keah in ("both", "count"):
        out.append(count)
    if keah in ("both", "category"):
        out.append(keah_category(count))
    return out


def _acute(shape: Shape, rng: random.Random, order: int) -> list[tuple[datetime, int, dict[str, Any]]]:
    out: list[tuple[datetime, int, dict[str, Any]]] = []
    slots = int(timedelta(days=shape.days) / shape.acute_every)
    pressures = {s: Pressure(random.Random(rng.random()), shape.start, shape.days, 0.0) for s in shape.sites}
    for slot in range(slots):
        when = shape.start + shape.acute_every * slot + timedelta(minutes=15)
        for site in shape.sites:
            pressure = pressures[site].at(when)
            if rng.random() < shape.missing:
                continue
            parameters = {
                name: round(
                    calm + (worst - calm) * min(1.0, max(0.0, pressure * 1.1 + rng.gauss(0, 0.04))), 1
                )
                for name, (calm, worst) in CALM_TO_WORST.items()
                if rng.random() >= 0.03
            }
            if not parameters:
                continue
            order += 1
            out.append(
                (when, order, {"site": site, "observed_at": when.isoformat(), "parameters": parameters})
            )
    return out


def write_json_lines(values: Iterator[dict[str, Any]], out: Any) -> int:
    count = 0
    for value in values:
        out.write(json.dumps(value, separators=(",", ":")) + "\n")
        count += 1
    return count


def default_start(days: int, end: datetime | None) -> datetime:
    """1 December 2025 by default; with ``end``, the start that makes the history end there."""
    if end is None:
        return datetime(2025, 12, 1, tzinfo=UTC)
    return (end - timedelta(days=days)).astimezone(UTC)


def shape_for(
    scale: str, days: int, *, end: datetime | None = None, every: timedelta | None = None, keah: Keah = "both"
) -> Shape:
    start = default_start(days, end)
    options: dict[str, Any] = {"keah": keah}
    if every is not None:
        options["every"] = every
    if scale == "kent":
        return kent(start, days, **options)
    raise ValueError(f"unknown scale {scale!r} (kent or national)")
