"""A generated national winter: ``opel replay generate --scale national --days N --seed S --out DIR``.

153 councils x 40 indicator series and 130 acute sites x 9 parameters, every 15 minutes (about 84
million readings over 120 days). No national plan is shipped, so the catalogues are generated
too and written into DIR beside the histories, never into ``triggers/``:

- ``catalogue.yaml``: an indicator catalogue of 153 areas (``council_001`` ...) and 40 indicators
  made from five kinds of Kent trigger (a percentage that falls under pressure, caseloads,
  referrals, places, a capacity category) with thresholds moved a little per indicator, and two
  indicators reported but not assessed; one county (``england``) over all the areas;
- ``acute-catalogue.yaml``: the NHS acute parameters and score levels of ``nhs-acute-2023-24``
  with 130 sites in 42 systems;
- ``readings.parquet`` and ``acute.parquet``: the histories, in the Parquet layouts of
  docs/replay.md.

The series follow the Kent generator's model (:mod:`.generate`: winter season, weekday and daily
effects, a per-area bias, AR(1) noise; missing readings, outages, one in a hundred arriving one
to six hours late) computed with numpy a block of areas at a time, and streamed into Parquet
(polars ``sink_parquet`` from a generator of blocks), so memory stays at one block whatever the
number of days. Rows are grouped by block of areas and, within one, in arrival order: an export
partitioned by council, as a national collection would be.

Deterministic for a seed (each block has its own seeded generator).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import yaml

from opel.catalogue_load import DEFAULT_ACUTE_CATALOGUE
from opel.models import PARAMETER_IDS
from opel.yaml_files import read_yaml_file

from .generate import CALM_TO_WORST, KEAH_CATEGORIES, WEEKDAY

if TYPE_CHECKING:
    import polars as pl

AREAS: Final = 153
SITES: Final = 130
SYSTEMS: Final = 42
SERIES_PER_AREA: Final = 40
AREAS_PER_BLOCK: Final = 8
"""Areas generated (and held) at once: 8 x 40 series x 11,521 slots is about 3.7 million readings."""
SITES_PER_BLOCK: Final = 26
STAGGER_US: Final = 5_000_000  # an area's series five seconds apart, as in the Kent generator
US: Final = 1_000_000
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
CATALOGUE_FILE: Final = "catalogue.yaml"
ACUTE_CATALOGUE_FILE: Final = "acute-catalogue.yaml"
READINGS_FILE: Final = "readings.parquet"
ACUTE_FILE: Final = "acute.parquet"


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of indicator: its Kent bands (published whole-number ranges, level 1 first), the
    values a calm and a worst day give, and whether its values are whole numbers."""

    name: str
    unit: str
    direction: str
    bands: tuple[tuple[int, int], ...]
    calm: float
    worst: float
    whole: bool


KINDS: Final = (
    Kind(
        "staffing_pct", "percent", "lower_is_worse", ((70, 100), (50, 69), (30, 49), (0, 29)), 86, 34, False
    ),
    Kind("caseload", "cases", "higher_is_worse", ((0, 39), (40, 59), (60, 99), (100, 500)), 28, 112, True),
    Kind("referrals", "cases", "higher_is_worse", ((0, 9), (10, 14), (15, 19), (20, 100)), 4, 24, True),
    Kind("places", "places", "lower_is_worse", ((35, 60), (15, 34), (6, 14), (0, 5)), 40, 3, True),
)
CATEGORY_KIND: Final = "capacity"
NOT_ASSESSED: Final = 2


@dataclass(frozen=True, slots=True)
class Series:
    """One national indicator: its id, how it is assessed and the range its values move in."""

    id: str
    kind: Kind | None  # None: the capacity category, or (assessed False) reported only
    shift: int  # thresholds moved by this many units (per indicator, so rules differ)
    assessed: bool = True

    @property
    def calm(self) -> float:
        return 6.0 if self.kind is None else self.kind.calm

    @property
    def worst(self) -> float:
        return 0.0 if self.kind is None else self.kind.worst

    @property
    def whole(self) -> bool:
        return True if self.kind is None else self.kind.whole


def national_series() -> list[Series]:
    """The 40 indicators: 37 banded (kinds in turn), one capacity category, two not assessed."""
    out: list[Series] = []
    banded = SERIES_PER_AREA - 1 - NOT_ASSESSED
    for n in range(banded):
        kind = KINDS[n % len(KINDS)]
        out.append(Series(f"{kind.name}_{n // len(KINDS) + 1:02d}", kind, (n // len(KINDS)) % 3 - 1))
    out.append(Series(f"{CATEGORY_KIND}_01", None, 0))
    out += [Series(f"reported_{n + 1:02d}", KINDS[1], 0, assessed=False) for n in range(NOT_ASSESSED)]
    return sorted(out, key=lambda s: s.id)


@dataclass(frozen=True, slots=True)
class NationalShape:
    """What to generate: the national sizes by default; tests make smaller ones of the same shape."""

    start: datetime
    days: int
    every: timedelta = timedelta(minutes=15)
    areas: int = AREAS
    sites: int = SITES
    systems: int = SYSTEMS

    def area_ids(self) -> list[str]:
        return [f"council_{n:03d}" for n in range(1, self.areas + 1)]

    def site_ids(self) -> list[str]:
        return [f"site_{n:03d}" for n in range(1, self.sites + 1)]

    def system_of(self, site: int) -> str:
        """Sites dealt to systems in turn (each site in one system, as in England's ICSs)."""
        return f"icb_{site % self.systems + 1:02d}"

    def slots(self, every: timedelta) -> int:
        return int(timedelta(days=self.days) / every)


def _bands(kind: Kind, shift: int) -> list[dict[str, Any]]:
    """The kind's bands with the thresholds between them moved by ``shift`` (the ends stay)."""
    bottom = min(low for low, _ in kind.bands)
    top = max(high for _, high in kind.bands)
    return [
        {"level": level, "range": [low + shift * (low != bottom), high + shift * (high != top)]}
        for level, (low, high) in enumerate(kind.bands, start=1)
    ]


def indicator_catalogue(shape: NationalShape) -> dict[str, Any]:
    """The generated national indicator catalogue (a mapping, written as YAML)."""
    indicators: dict[str, Any] = {}
    for series in national_series():
        entry: dict[str, Any] = {
            "name": series.id.replace("_", " ").capitalize(),
            "plan_section": "generated",
        }
        if series.kind is None:
            entry |= {
                "unit": "capacity category",
                "categories": {"all": {name: level for level, (_, name) in enumerate(KEAH_CATEGORIES, 1)}},
            }
        elif not series.assessed:
            entry |= {"unit": series.kind.unit, "bands": {"all": {"not_assessed": "reported only"}}}
        else:
            kind = series.kind
            entry |= {
                "unit": kind.unit,
                "direction": kind.direction,
                "bands": {"all": _bands(kind, series.shift)},
            }
        indicators[series.id] = entry
    return {
        "id": "national-generated",
        "kind": "indicators",
        "version": "1",
        "title": f"Generated national catalogue ({shape.areas} councils, {SERIES_PER_AREA} indicators)",
        "status": "draft",
        "plan": {"title": "Generated for opel replay", "version": "1", "date": "2025-10-01", "section": "-"},
        "approval": {"date": "2025-10-01", "body": "nobody: generated test data"},
        "action_plan": None,  # no national action plan exists to generate from
        "areas": {a: {"name": a.replace("_", " ").capitalize()} for a in shape.area_ids()},
        "aggregation": {
            "area": {"rule": "worst_indicator"},
            "county": {"id": "england", "some_areas_min": 1, "county_wide_min_share": 0.5},
        },
        "escalation": {"step_down_dwell": "P1D"},
        "indicators": indicators,
    }


def acute_catalogue(shape: NationalShape) -> dict[str, Any]:
    """The shipped acute catalogue's parameters and score levels with the generated sites."""
    raw = read_yaml_file(_shipped(DEFAULT_ACUTE_CATALOGUE))
    sites = shape.site_ids()
    raw["id"] = "national-acute-generated"
    raw["title"] = f"NHS acute parameters of {DEFAULT_ACUTE_CATALOGUE} with {shape.sites} generated sites"
    raw["sites"] = {
        s: {"name": s.replace("_", " ").capitalize(), "delivery_board": shape.system_of(n)}
        for n, s in enumerate(sites)
    }
    raw["systems"] = {
        f"icb_{k:02d}": {
            "name": f"Generated system {k:02d}",
            "sites": {s: 1 for n, s in enumerate(sites) if shape.system_of(n) == f"icb_{k:02d}"},
            "enact_site_level_at_or_above": 3,
        }
        for k in range(1, shape.systems + 1)
    }
    return raw


def _shipped(catalogue_id: str) -> Path:
    import opel  # noqa: PLC0415

    return Path(opel.__file__).resolve().parent.parent / "triggers" / f"{catalogue_id}.yaml"


# --- the series ---------------------------------------------------------------------------------


def _pressure(
    rng: np.random.Generator,
    start_us: int,
    times: npt.NDArray[np.int64],
    days: int,
    bias: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Pressure (0 calm .. 1 worst) of len(bias) series at ``times`` (µs): as generate.Pressure."""
    day = (times - start_us) / (86_400 * US)
    peak, width = min(35.0, days * 0.45), max(days / 4, 2.0)
    season = 0.34 * np.exp(-(((day - peak) / width) ** 2))
    seconds = (times // US) % 86_400
    daily = 0.05 * np.sin((seconds / 3600 - 6) / 24 * 2 * math.pi)
    weekday = np.array(WEEKDAY)[((times // US // 86_400) + 3) % 7]  # 1 Jan 1970 was a Thursday
    noise = np.empty((len(bias), len(times)))
    shocks = rng.normal(0, 0.025, size=noise.shape)
    level = np.zeros(len(bias))
    for t in range(len(times)):  # AR(1): one step at a time, all series together
        level = 0.985 * level + shocks[:, t]
        noise[:, t] = level
    pressure: npt.NDArray[np.float64] = np.clip(
        0.16 + season + weekday + daily + bias[:, None] + noise, 0.0, 1.0
    )
    return pressure


def _gaps(rng: np.random.Generator, shape: tuple[int, int], every_us: int) -> npt.NDArray[np.bool_]:
    """Which slots have no reading: one in fifty at random, and outages of 2 to 12 hours."""
    missing = rng.random(shape) < 0.02
    starts = rng.random(shape) < 0.0015
    edges = np.zeros((shape[0], shape[1] + 1), dtype=np.int64)
    rows, cols = np.nonzero(starts)
    lengths = np.ceil(rng.uniform(2, 12, size=len(rows)) * 3600 * US / every_us).astype(np.int64)
    np.add.at(edges, (rows, cols), 1)
    np.add.at(edges, (rows, np.minimum(cols + lengths, shape[1])), -1)
    return missing | (np.cumsum(edges, axis=1)[:, :-1] > 0)


def _arrival_order(rng: np.random.Generator, observed: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Rows in arrival order: one in a hundred arrives one to six hours after its time."""
    late = rng.random(len(observed)) < 0.01
    arrival = observed + np.where(
        late, (rng.uniform(1, 6, size=len(observed)) * 3600 * US).astype(np.int64), 0
    )
    return np.argsort(arrival, kind="stable")


def reading_blocks(shape: NationalShape, seed: int) -> Iterator[pl.DataFrame]:
    """The readings, a block of areas at a time, each block in arrival order."""
    import polars as pl  # noqa: PLC0415

    series = national_series()
    names = [s.id for s in series]
    areas = shape.area_ids()
    days, every_us, start_us = shape.days, _us(shape.every), _us(shape.start - EPOCH)
    times = start_us + every_us * np.arange(shape.slots(shape.every) + 1, dtype=np.int64)
    calm = np.array([s.calm for s in series])
    worst = np.array([s.worst for s in series])
    whole = np.array([s.whole for s in series])
    category = np.array([s.kind is None for s in series])
    stagger = STAGGER_US * np.arange(len(series), dtype=np.int64)
    biases = np.random.default_rng([seed, 0]).uniform(-0.1, 0.1, size=len(areas))
    for block, first in enumerate(range(0, len(areas), AREAS_PER_BLOCK)):
        rng = np.random.default_rng([seed, 1, block])
        members = list(range(first, min(first + AREAS_PER_BLOCK, len(areas))))
        bias = np.repeat(biases[members], len(series))
        pressure = _pressure(rng, start_us, times, days, bias).reshape(len(members), len(series), len(times))
        span = (worst - calm)[None, :, None]
        value = (
            calm[None, :, None]
            + span * pressure
            + rng.normal(0, 1, size=pressure.shape) * np.abs(span) * 0.02
        )
        value = np.maximum(value, 0.0)
        value = np.where(whole[None, :, None], np.round(value), np.round(value, 1))
        kept = ~_gaps(rng, (len(members) * len(series), len(times)), every_us).reshape(value.shape)
        a, s, t = np.nonzero(kept)
        observed = times[t] + stagger[s]
        number = value[a, s, t]
        is_category = category[s]
        order = _arrival_order(rng, observed)
        a, s, observed, number, is_category = (
            a[order],
            s[order],
            observed[order],
            number[order],
            is_category[order],
        )
        labels = _category_labels(number)
        yield pl.DataFrame(
            {
                "observed_at": pl.Series(observed).cast(pl.Datetime("us", "UTC")),
                "area": _names(np.asarray(members)[a], areas),
                "indicator": _names(s, names),
                "value": pl.Series(np.where(is_category, np.nan, number)).fill_nan(None),
                "category": pl.Series(labels).zip_with(
                    pl.Series(is_category), pl.Series([None], dtype=pl.String)
                ),
            }
        )


def _category_labels(count: npt.NDArray[np.float64]) -> npt.NDArray[np.str_]:
    floors = np.array([f for f, _ in KEAH_CATEGORIES])
    labels = np.array([name for _, name in KEAH_CATEGORIES])
    out: npt.NDArray[np.str_] = labels[np.argmax(count[:, None] >= floors[None, :], axis=1)]
    return out


def _names(codes: npt.NDArray[np.int64], vocabulary: list[str]) -> pl.Series:
    import polars as pl  # noqa: PLC0415

    return pl.Series(codes.astype(np.uint32)).replace_strict(
        list(range(len(vocabulary))), vocabulary, return_dtype=pl.String
    )


def acute_blocks(shape: NationalShape, seed: int) -> Iterator[pl.DataFrame]:
    """Acute returns every ``every`` from each site, a block of sites at a time, arrival order."""
    import polars as pl  # noqa: PLC0415

    sites = shape.site_ids()
    days, every_us, start_us = shape.days, _us(shape.every), _us(shape.start - EPOCH)
    # On the quarter hour after each slot, as the Kent generator's hourly returns are.
    times = start_us + every_us * np.arange(shape.slots(shape.every), dtype=np.int64) + 15 * 60 * US
    calm = np.array([CALM_TO_WORST[p][0] for p in PARAMETER_IDS])
    worst = np.array([CALM_TO_WORST[p][1] for p in PARAMETER_IDS])
    for block, first in enumerate(range(0, len(sites), SITES_PER_BLOCK)):
        rng = np.random.default_rng([seed, 2, block])
        members = np.arange(first, min(first + SITES_PER_BLOCK, len(sites)))
        pressure = _pressure(rng, start_us, times, days, np.zeros(len(members)))
        sent = rng.random(pressure.shape) >= 0.02
        site, slot = np.nonzero(sent)
        share = np.clip(
            pressure[site, slot][:, None] * 1.1 + rng.normal(0, 0.04, (len(site), len(PARAMETER_IDS))), 0, 1
        )
        values = np.round(calm + (worst - calm) * share, 1)
        values[rng.random(values.shape) < 0.03] = np.nan
        observed = times[slot]
        order = _arrival_order(rng, observed)
        columns: dict[str, Any] = {
            "site": _names(members[site[order]], sites),
            "observed_at": pl.Series(observed[order]).cast(pl.Datetime("us", "UTC")),
        }
        for n, name in enumerate(PARAMETER_IDS):
            columns[name] = pl.Series(values[order, n]).fill_nan(None)
        frame = pl.DataFrame(columns)
        # A return with no parameter at all is not a return: drop it (1 in 10^14, but exact).
        yield frame.filter(pl.any_horizontal(pl.col(list(PARAMETER_IDS)).is_not_null()))


def _sink(blocks: Iterator[pl.DataFrame], schema: pl.Schema, target: Path) -> int:
    """Write blocks into one Parquet file as they come; returns the number of rows."""
    from polars.io.plugins import register_io_source  # noqa: PLC0415

    count = 0

    def source(*_: Any) -> Iterator[pl.DataFrame]:
        nonlocal count
        for frame in blocks:
            count += len(frame)
            yield frame.cast(dict(schema))  # type: ignore[arg-type]

    register_io_source(source, schema=schema).sink_parquet(target, row_group_size=1_000_000)
    return count


def write_national(folder: Path, shape: NationalShape, seed: int) -> tuple[int, int]:
    """Both catalogues and both histories into ``folder`` (which must exist); (readings, returns)."""
    import polars as pl  # noqa: PLC0415

    (folder / CATALOGUE_FILE).write_text(_yaml(indicator_catalogue(shape)), encoding="utf-8")
    (folder / ACUTE_CATALOGUE_FILE).write_text(_yaml(acute_catalogue(shape)), encoding="utf-8")
    zoned = pl.Datetime("us", "UTC")
    readings = pl.Schema(
        {
            "observed_at": zoned,
            "area": pl.String(),
            "indicator": pl.String(),
            "value": pl.Float64(),
            "category": pl.String(),
        }
    )
    acute = pl.Schema(
        {"site": pl.String(), "observed_at": zoned} | dict.fromkeys(PARAMETER_IDS, pl.Float64())
    )
    n_readings = _sink(reading_blocks(shape, seed), readings, folder / READINGS_FILE)
    n_returns = _sink(acute_blocks(shape, seed), acute, folder / ACUTE_FILE)
    return n_readings, n_returns


def _us(span: timedelta) -> int:
    return span // timedelta(microseconds=1)


def _yaml(value: dict[str, Any]) -> str:
    header = "# Generated by `opel replay generate --scale national`: test data, not a plan.\n"
    return header + yaml.safe_dump(value, sort_keys=False, default_flow_style=None, width=110)
