"""The columnar path: a history of readings replayed a series at a time instead of a reading at a time.

For the indicator and area scopes, which are nearly all of the work (one reading, one indicator
update and one area update), the replay is done on whole columns:

- **bands**: each (indicator, area) rule's band table is looked up for all its readings at
  once (``numpy.searchsorted`` on the same bounds :class:`opel.bands.BandTable` bisects);
- **indicator levels**: per series, the dwell in its windowed form (:mod:`.window`, proved
  equal to :mod:`opel.escalation` with hypothesis);
- **area levels**: the worst held indicator level after every reading, from running counts of
  indicators at or above each level; the area's own dwell is the same windowed form;
- **evidence**: only for the transitions (few): built by the stage's own functions from the
  reading (or area roll-up) the stage holds when it publishes the transition.

What stays per item, through the stage functions themselves: the **county** (the real
:func:`opel.stages.county.apply_county`, fed one area report per change of an area's level,
instead of one per reading: its merge gives the same transitions however reports are batched,
as it must for the service) and **acute returns** (:func:`opel.replay.replay` on them alone:
sites and systems do not share books with areas). A history with referral events or commands
(overrides, withdrawals) is not taken here: :class:`UnsupportedHistoryError` sends it to the per-reading
replay, as do two readings of one series at one instant with different values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import numpy.typing as npt

from opel.assess import Assessment, verdict_for
from opel.catalogue import IndicatorRule
from opel.contracts.escalation import EscalationEvent
from opel.escalation import transition_id
from opel.levels import Level
from opel.models import AcuteSubmission, Reading
from opel.replay import replay
from opel.rollup import area_level, county_level
from opel.scopes import Scope
from opel.stages.context import Context
from opel.stages.outputs import direction_of, escalation_event

from .acute_columns import AcuteColumns, from_submissions, replay_acute
from .arrays import EPOCH, MICRO, Floats, Ints, UnsupportedHistoryError
from .window import Moves, transitions

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True, slots=True)
class Columns:
    """Readings as columns: codes into ``areas`` and ``indicators`` (both sorted, so code order
    is name order, the order the replay takes readings of one instant in), microseconds since
    1970 UTC, the number (NaN for a category), the category (None for a number) and whether the
    number was written as a whole number (an int in JSON keeps its form in the evidence)."""

    area: Ints
    indicator: Ints
    time: Ints
    number: Floats
    category: npt.NDArray[np.object_]
    whole: npt.NDArray[np.bool_]
    areas: list[str]
    indicators: list[str]

    def __len__(self) -> int:
        return len(self.time)

    def value(self, row: int) -> float | int | str:
        category = self.category[row]
        if category is not None:
            return str(category)
        number = float(self.number[row])
        return int(number) if self.whole[row] else number

    def when(self, row: int) -> datetime:
        return EPOCH + int(self.time[row]) * MICRO


def _codes(names: Sequence[str]) -> tuple[Ints, list[str]]:
    vocabulary = sorted(set(names))
    index = {n: i for i, n in enumerate(vocabulary)}
    return np.fromiter((index[n] for n in names), dtype=np.int64, count=len(names)), vocabulary


def from_readings(readings: Sequence[Reading]) -> Columns:
    area, areas = _codes([r.area for r in readings])
    indicator, indicators = _codes([r.indicator for r in readings])
    time = np.fromiter(
        ((r.observed_at - EPOCH) // MICRO for r in readings), dtype=np.int64, count=len(readings)
    )
    number = np.array([np.nan if isinstance(r.value, str) else float(r.value) for r in readings])
    category = np.array([r.value if isinstance(r.value, str) else None for r in readings], dtype=object)
    whole = np.array([isinstance(r.value, int) for r in readings], dtype=bool)
    return Columns(area, indicator, time, number, category, whole, areas, indicators)


def from_frame(frame: pl.DataFrame) -> Columns:
    """Readings from a Parquet layout (opel.backtest.parquet) already checked row by row."""
    import polars as pl  # noqa: PLC0415

    areas = sorted(frame["area"].unique().to_list())
    indicators = sorted(frame["indicator"].unique().to_list())

    def codes(column: str, vocabulary: list[str]) -> Ints:
        mapping = {name: n for n, name in enumerate(vocabulary)}
        coded = frame[column].replace_strict(mapping, return_dtype=pl.Int64)
        return coded.to_numpy().astype(np.int64)

    area, indicator = codes("area", areas), codes("indicator", indicators)
    observed = frame["observed_at"]
    if observed.dtype == pl.String:
        observed = observed.str.to_datetime(time_zone="UTC")
    time = observed.dt.convert_time_zone("UTC").dt.cast_time_unit("us").to_physical().to_numpy()
    value = frame["value"]
    category: npt.NDArray[np.object_]
    if value.dtype == pl.String:
        as_number = value.cast(pl.Float64, strict=False)
        number = as_number.fill_null(np.nan).to_numpy()
        category = np.array(value.to_list(), dtype=object)
        category[~np.isnan(number)] = None
        whole = np.array([v is not None and v.lstrip("-").isdigit() for v in value.to_list()], dtype=bool)
    else:
        number = value.cast(pl.Float64).fill_null(np.nan).to_numpy()
        whole = np.zeros(len(number), dtype=bool) if value.dtype.is_float() else ~np.isnan(number)
        texts = frame["category"].to_list() if "category" in frame.columns else [None] * len(number)
        category = np.array(texts, dtype=object)
    return Columns(
        area, indicator, time.astype(np.int64), number.astype(np.float64), category, whole, areas, indicators
    )


@dataclass(slots=True)
class Levels:
    """Per reading under one catalogue: taken or not, and its level (0: not assessed)."""

    taken: npt.NDArray[np.bool_]
    level: Ints
    refused: dict[str, int]  # "indicator: field" -> count, as opel.backtest.history counts them


def levels(columns: Columns, ctx: Context) -> Levels:
    """Every reading's band under ``ctx``'s catalogue, one rule at a time."""
    n = len(columns)
    taken = np.zeros(n, dtype=bool)
    level = np.zeros(n, dtype=np.int64)
    refused: dict[str, int] = {}
    pair = columns.indicator * len(columns.areas) + columns.area
    order = np.argsort(pair, kind="stable")
    bounds = np.flatnonzero(np.diff(pair[order])) + 1
    catalogue = ctx.catalogue
    for rows in np.split(order, bounds):
        if len(rows) == 0:
            continue
        indicator = columns.indicators[int(columns.indicator[rows[0]])]
        area = columns.areas[int(columns.area[rows[0]])]
        rule = catalogue.rules.get((indicator, area))
        if rule is None:
            field = "indicator" if indicator not in catalogue.indicators else "area"
            refused[f"{indicator}: {field}"] = refused.get(f"{indicator}: {field}", 0) + len(rows)
            continue
        ok, lv = _rule_levels(rule, columns.number[rows], columns.category[rows])
        taken[rows] = ok
        level[rows] = lv
        bad = int((~ok).sum())
        if bad:
            refused[f"{indicator}: value"] = refused.get(f"{indicator}: value", 0) + bad
    return Levels(taken, level, refused)


def _rule_levels(
    rule: IndicatorRule, number: Floats, category: npt.NDArray[np.object_]
) -> tuple[npt.NDArray[np.bool_], Ints]:
    table = rule.table
    if table is not None:
        ok = ~np.isnan(number)
        cuts = np.array([b.exact.high for b in table.bands[:-1]], dtype=np.float64)
        right = np.array([b.exact.low_closed for b in table.bands[1:]], dtype=bool)
        index = np.searchsorted(cuts, number, side="left")
        at_cut = index < len(cuts)
        clipped = np.minimum(index, max(len(cuts) - 1, 0))
        if len(cuts):
            index = index + (at_cut & (cuts[clipped] == number) & right[clipped])
        outcomes = np.array([_level(v.level) for v in rule.band_verdicts], dtype=np.int64)
        return ok, np.where(ok, outcomes[np.minimum(index, len(outcomes) - 1)], 0)
    if rule.categories:
        names = {name: _level(v.level) for name, v in rule.categories.items()}
        found = [names.get(c) if c is not None else None for c in category]
        ok = np.array([f is not None for f in found], dtype=bool)
        return ok, np.array([f or 0 for f in found], dtype=np.int64)
    return np.ones(len(number), dtype=bool), np.zeros(len(number), dtype=np.int64)


def _level(level: Level | None) -> int:
    return 0 if level is None else int(level)


@dataclass(slots=True)
class AreaRun:
    """The taken readings in the order the replay applies them: by area, time, indicator."""

    rows: Ints  # into Columns
    area: Ints
    indicator: Ints
    time: Ints
    level: Ints
    computed: Ints  # the area's worst held level after each reading (0: none)
    first_of_area: Ints  # per area code: first position in this order (len: areas + 1)


def area_run(columns: Columns, lv: Levels) -> AreaRun:
    rows = np.flatnonzero(lv.taken).astype(np.int64)
    order = np.lexsort((columns.indicator[rows], columns.time[rows], columns.area[rows]))
    rows = rows[order]
    area, indicator, time = columns.area[rows], columns.indicator[rows], columns.time[rows]
    same = np.zeros(len(rows), dtype=bool)
    same[1:] = (area[1:] == area[:-1]) & (indicator[1:] == indicator[:-1]) & (time[1:] == time[:-1])
    if same.any():
        # A second reading of a series at one instant is a duplicate (same value) or stale.
        dup = np.flatnonzero(same)
        values_differ = [columns.value(int(rows[d])) != columns.value(int(rows[d - 1])) for d in dup]
        if any(values_differ):
            raise UnsupportedHistoryError("two readings of one series at one instant with different values")
        rows = rows[~same]
        area, indicator, time = area[~same], indicator[~same], time[~same]
    level = lv.level[rows]
    # The level each reading replaces: the previous reading of the same series.
    series = area * len(columns.indicators) + indicator
    by_series = np.lexsort((time, series))
    previous = np.zeros(len(rows), dtype=np.int64)
    s_sorted = series[by_series]
    follows = np.zeros(len(rows), dtype=bool)
    follows[1:] = s_sorted[1:] == s_sorted[:-1]
    prev_sorted = np.zeros(len(rows), dtype=np.int64)
    prev_sorted[1:] = level[by_series][:-1]
    previous[by_series] = np.where(follows, prev_sorted, 0)
    counts = np.zeros(len(rows), dtype=np.int64)
    computed = np.zeros(len(rows), dtype=np.int64)
    first_of_area = np.searchsorted(area, np.arange(len(columns.areas) + 1), side="left")
    for k in (1, 2, 3, 4):
        delta = (level >= k).astype(np.int64) - (previous >= k).astype(np.int64)
        total = np.cumsum(delta)
        # Counts restart at each area: subtract the running total before the area's first row.
        before = np.concatenate([[0], total])[first_of_area[area]]
        counts = total - before
        computed = np.where(counts > 0, k, computed)
    return AreaRun(rows, area, indicator, time, level, computed, first_of_area.astype(np.int64))


def replay_areas(columns: Columns, run: AreaRun, ctx: Context) -> list[EscalationEvent]:
    """The indicator and area events of these readings (areas share nothing below the county,
    so a history can be replayed here a block of areas at a time)."""
    dwell = ctx.policy.step_down_dwell // MICRO
    n_ind = len(columns.indicators)
    last = np.full(len(columns.areas), -1, dtype=np.int64)  # each area's clock at the end
    ends = run.first_of_area[1:] - 1
    has = run.first_of_area[1:] > run.first_of_area[:-1]
    last[has] = run.time[ends[has]]
    events: list[EscalationEvent] = []
    builder = Evidence(columns, run, ctx)

    # Indicator scopes: each series' assessed readings, in time order.
    series = run.area * n_ind + run.indicator
    by_series = np.lexsort((run.time, series))
    assessed = by_series[run.level[by_series] > 0]
    moves = transitions(
        series[assessed], run.time[assessed], run.level[assessed], dwell, last[run.area[assessed]]
    )
    for n in range(len(moves.time)):
        row = int(moves.row[n])
        position = int(assessed[row]) if row >= 0 else -1
        s = int(moves.series[n])
        area, indicator = s // n_ind, s % n_ind
        events.append(builder.indicator_event(area, indicator, moves, n, position))

    # Area scopes: every reading is an observation of the area's worst held level.
    observed = np.flatnonzero(run.computed > 0)
    area_moves = transitions(
        run.area[observed], run.time[observed], run.computed[observed], dwell, last[run.area[observed]]
    )
    for n in range(len(area_moves.time)):
        row = int(area_moves.row[n])
        events.append(builder.area_event(area_moves, n, int(observed[row]) if row >= 0 else -1))

    return events


@dataclass(frozen=True, slots=True)
class AreaChanges:
    """Each change of an area's worst held level: what the area stage reports to the county."""

    area: list[str]
    time: Ints
    level: Ints


def area_changes(run: AreaRun, columns: Columns) -> AreaChanges:
    previous = np.zeros(len(run.rows), dtype=np.int64)
    previous[1:] = run.computed[:-1]
    starts = run.first_of_area[:-1][run.first_of_area[:-1] < run.first_of_area[1:]]
    previous[starts] = 0
    where = np.flatnonzero(run.computed != previous)
    names = [columns.areas[int(a)] for a in run.area[where]]
    return AreaChanges(names, run.time[where], run.computed[where])


def replay_columns(
    columns: Columns,
    acute: Sequence[AcuteSubmission] | AcuteColumns,
    ctx: Context,
    *,
    seen: datetime,
    lv: Levels | None = None,
) -> list[EscalationEvent]:
    """Every escalation event the replay gives for these readings and acute returns."""
    lv = levels(columns, ctx) if lv is None else lv
    run = area_run(columns, lv)
    events = replay_areas(columns, run, ctx)
    events += county_events([area_changes(run, columns)], ctx, seen)
    return events + acute_events(acute, ctx, seen)


def acute_events(
    acute: Sequence[AcuteSubmission] | AcuteColumns, ctx: Context, seen: datetime
) -> list[EscalationEvent]:
    """Sites and systems share no book with areas: their events in columns, or from the core
    when :mod:`.acute_columns` does not take them."""
    if len(acute) == 0:
        return []
    try:
        columns = acute if isinstance(acute, AcuteColumns) else from_submissions(acute)
        return replay_acute(columns, ctx, seen=seen)
    except UnsupportedHistoryError:
        submissions = (
            [acute.submission(row) for row in range(len(acute))] if isinstance(acute, AcuteColumns) else acute
        )
        return replay(list(submissions), ctx, seen=seen).escalations


class Evidence:
    """An escalation event for a transition, with the evidence the stage publishes it with: the
    scope's facts when the transition is published (a dwell step-down is published by the
    first reading of the area at or after it, with the facts the scope holds then)."""

    def __init__(self, columns: Columns, run: AreaRun, ctx: Context) -> None:
        self.columns = columns
        self.run = run
        self.ctx = ctx
        n_ind = len(columns.indicators)
        self.series = run.area * n_ind + run.indicator
        self.by_series = np.lexsort((run.time, self.series))
        self.series_key = self.series[self.by_series]

    def _publisher(self, area: int, at: int) -> int:
        """The position (area order) of the first reading of ``area`` at or after ``at``."""
        lo, hi = int(self.run.first_of_area[area]), int(self.run.first_of_area[area + 1])
        return lo + int(np.searchsorted(self.run.time[lo:hi], at, side="left"))

    def _held(self, area: int, indicator: int, before: int) -> int:
        """The position of the series' latest reading strictly before time ``before``."""
        s = area * len(self.columns.indicators) + indicator
        lo = int(np.searchsorted(self.series_key, s, side="left"))
        hi = int(np.searchsorted(self.series_key, s, side="right"))
        times = self.run.time[self.by_series[lo:hi]]
        return int(self.by_series[lo + int(np.searchsorted(times, before, side="left")) - 1])

    def indicator_event(
        self, area: int, indicator: int, moves: Moves, n: int, position: int
    ) -> EscalationEvent:
        at = int(moves.time[n])
        if position < 0:
            publisher = self._publisher(area, at)
            same = int(self.run.indicator[publisher]) == indicator
            position = publisher if same else self._held(area, indicator, int(self.run.time[publisher]))
        columns, ctx = self.columns, self.ctx
        row = int(self.run.rows[position])
        name, area_name = columns.indicators[indicator], columns.areas[area]
        rule = ctx.catalogue.rules[(name, area_name)]
        value = columns.value(row)
        observed_at = columns.when(row)
        verdict = verdict_for(rule, value)
        facts = {
            "computed_level": None if verdict.level is None else int(verdict.level),
            "value": value,
            "explanation": Assessment((value, observed_at, verdict)).explanation(),
            "band": verdict.fixed["band"],
            "catalogue": verdict.catalogue.id,
            "catalogue_version": verdict.catalogue.version,
            "observed_at": observed_at.isoformat(),
        }
        return event_for(ctx, Scope("indicator", area_name, name), moves, n, facts)

    def area_event(self, moves: Moves, n: int, position: int) -> EscalationEvent:
        area = int(moves.series[n])
        if position < 0:
            position = self._publisher(area, int(moves.time[n])) - 1
        lo = int(self.run.first_of_area[area])
        held: dict[str, Level | None] = {}
        for indicator in np.unique(self.run.indicator[lo : position + 1]):
            i = int(indicator)
            last = self._held(area, i, int(self.run.time[position]) + 1)
            held[self.columns.indicators[i]] = (
                None if self.run.level[last] == 0 else Level(int(self.run.level[last]))
            )
        name = self.columns.areas[area]
        result = area_level(name, held)
        facts = {
            "computed_level": None if result.level is None else int(result.level),
            "explanation": result.reason,
            "driving": list(result.driving),
            "catalogue": self.ctx.catalogue.meta.id,
            "catalogue_version": self.ctx.catalogue.meta.version,
            "observed_at": self.columns.when(int(self.run.rows[position])).isoformat(),
        }
        return event_for(self.ctx, Scope("area", name), moves, n, facts)


def event_for(ctx: Context, scope: Scope, moves: Moves, n: int, evidence: dict[str, Any]) -> EscalationEvent:
    before, after = int(moves.from_level[n]), int(moves.to_level[n])
    from_level = None if before == 0 else before
    at = EPOCH + int(moves.time[n]) * MICRO
    return escalation_event(
        ctx,
        scope,
        event_id=transition_id(
            scope.key, None if from_level is None else Level(from_level), Level(after), at
        ),
        from_level=from_level,
        to_level=after,
        at=at,
        direction=direction_of(from_level, after),
        cause="observation" if from_level is None or after > from_level else "dwell",
        evidence=evidence,
    )


def county_events(parts: Sequence[AreaChanges], ctx: Context, seen: datetime) -> list[EscalationEvent]:
    """The county's events from its areas' changes of level (one or more blocks of areas).

    The county stage merges the areas' reports in event time and computes its level at every
    instant at which an area changed (:func:`opel.rollup.county_level`, from running counts of
    areas at or above each level here); its dwell is the windowed form, its clock at the end
    just past the last change (the end of the history releases everything). Evidence is
    ``county_level`` on the areas' levels at the instant that publishes a transition; for a
    step-down by dwell, the last instant before it (docs/replay.md: the one difference).
    """
    del seen  # the county's merge compares wall time with nothing in a replay: no ticks come
    names = [name for part in parts for name in part.area]
    vocabulary = sorted(set(names))
    code = {name: n for n, name in enumerate(vocabulary)}
    area = np.fromiter((code[n] for n in names), dtype=np.int64, count=len(names))
    empty = np.empty(0, dtype=np.int64)
    time = np.concatenate([empty, *(part.time for part in parts)])
    level = np.concatenate([empty, *(part.level for part in parts)])
    if len(time) == 0:
        return []
    order = np.lexsort((area, time))
    area, time, level = area[order], time[order], level[order]
    previous = _previous_of_member(area, level)
    assessed = np.cumsum((level > 0).astype(np.int64) - (previous > 0).astype(np.int64))
    at_least = {
        k: np.cumsum((level >= k).astype(np.int64) - (previous >= k).astype(np.int64)) for k in (2, 3, 4)
    }
    instant = np.flatnonzero(np.append(time[1:] != time[:-1], True))
    rule = ctx.catalogue.county
    total = assessed[instant]
    needed = np.maximum(1, np.ceil(rule.county_wide_min_share * total - 1e-9)).astype(np.int64)
    county = np.where(at_least[2][instant] >= rule.some_areas_min, 2, 1)
    county = np.where(at_least[3][instant] >= needed, 3, county)
    county = np.where(at_least[4][instant] >= needed, 4, county)
    observed = instant[total > 0]  # no area assessed: no level to observe
    county = county[total > 0]
    until = int(time[-1]) + 1
    dwell = ctx.policy.step_down_dwell // MICRO
    moves = transitions(
        np.zeros(len(observed), dtype=np.int64), time[observed], county, dwell, np.full(len(observed), until)
    )
    events = []
    for n in range(len(moves.time)):
        row = int(moves.row[n])
        if row < 0:  # a step-down by dwell: the facts of the last instant before it
            row = int(np.searchsorted(time[observed], int(moves.time[n]), side="left")) - 1
        position = int(observed[row])
        held = _previous_of_member(area[: position + 1], level[: position + 1], latest=True)
        levels = {vocabulary[a]: None if lv == 0 else Level(lv) for a, lv in held.items()}
        result = county_level(rule, levels)
        facts = {
            "computed_level": None if result.level is None else int(result.level),
            "explanation": result.reason,
            "areas_assessed": result.areas_assessed,
            "catalogue": ctx.catalogue.meta.id,
            "catalogue_version": ctx.catalogue.meta.version,
            "observed_at": (EPOCH + int(time[position]) * MICRO).isoformat(),
            "late": None,
        }
        events.append(event_for(ctx, Scope("county", ctx.county), moves, n, facts))
    return events


@overload
def _previous_of_member(member: Ints, value: Ints) -> Ints: ...
@overload
def _previous_of_member(member: Ints, value: Ints, *, latest: Literal[True]) -> dict[int, int]: ...
def _previous_of_member(member: Ints, value: Ints, *, latest: bool = False) -> Ints | dict[int, int]:
    """Each row's member's value before it (0 at its first row); with ``latest``, each member's
    last value instead."""
    by_member = np.lexsort((np.arange(len(member)), member))
    sorted_member = member[by_member]
    if latest:
        last = np.append(sorted_member[1:] != sorted_member[:-1], True)
        return {int(m): int(v) for m, v in zip(sorted_member[last], value[by_member][last], strict=True)}
    follows = np.zeros(len(member), dtype=bool)
    follows[1:] = sorted_member[1:] == sorted_member[:-1]
    before = np.zeros(len(member), dtype=np.int64)
    before[1:] = value[by_member][:-1]
    out = np.zeros(len(member), dtype=np.int64)
    out[by_member] = np.where(follows, before, 0)
    return out
