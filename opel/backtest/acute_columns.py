"""Acute returns replayed in columns: site scores, site levels and system levels for whole histories.

The per-reading replay sends each return through :func:`opel.stages.system.apply_system`: score it,
update the site's scope, queue the site's (score, level) on the system's event-time timeline,
release what every site's watermark allows, compute the system's level for each instant released
and step scopes down. In a replay every input comes in event-time order, so that reduces to:

- **site scores**: each parameter's points from its band table for all returns at once
  (``numpy.searchsorted`` on the bounds :meth:`opel.bands.BandTable.band_for` bisects), the score
  their sum (a lower bound when parameters are missing), the level the score table's;
- **site levels**: each site's returns are observations of its scope; the dwell in the windowed
  form (:mod:`.window`); expiries reach as far as the system's clock at the end (just past its
  last return, where the end of the history releases everything);
- **system levels**: at every instant at which a site of the system reported, the weighted mean
  score over the sites that have reported, lifted to the worst site at or above the enact level
  (:func:`opel.rollup.system_level`), from running sums; then the same windowed dwell;
- **evidence**, for the transitions only: the stage's own functions (``score_submission``,
  ``system_level``) on what the stage holds when it publishes. A step-down by dwell is published
  by the first observation at or after it, or, for a system, by the system's release clock
  passing it (then with the facts of the last instant before it): the release clock after a
  return is the earliest latest return of the system's sites.

Histories this does not replay exactly raise :class:`~opel.backtest.columnar.UnsupportedHistoryError`
(the per-reading replay takes them): a site in two systems, weights that are not whole numbers,
two different returns from one site at one instant, a return with no parameter, or missing
parameters under a catalogue that rejects them. tests/test_backtest_acute.py holds it to the core.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from opel.acute_score import score_submission
from opel.bands import BandTable
from opel.catalogue import AcuteCatalogue, SystemDef
from opel.contracts.escalation import EscalationEvent
from opel.levels import Level
from opel.models import PARAMETER_IDS, AcuteSubmission
from opel.rollup import system_level
from opel.scopes import Scope
from opel.stages.context import Context
from opel.stages.system import SITE_FACTS, system_facts

from .arrays import EPOCH, MICRO, Floats, Ints, UnsupportedHistoryError
from .window import Moves, transitions

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True, slots=True)
class AcuteColumns:
    """Acute returns as columns: site codes into ``sites`` (sorted), microseconds since 1970 UTC,
    and the nine parameters in :data:`~opel.models.PARAMETER_IDS` order (NaN: not reported)."""

    site: Ints
    time: Ints
    values: Floats
    sites: list[str]

    def __len__(self) -> int:
        return len(self.time)

    def submission(self, row: int) -> AcuteSubmission:
        reported = {
            name: float(v) for name, v in zip(PARAMETER_IDS, self.values[row], strict=True) if not np.isnan(v)
        }
        return AcuteSubmission(
            site=self.sites[int(self.site[row])],
            observed_at=EPOCH + int(self.time[row]) * MICRO,
            parameters=reported,  # pydantic validates the mapping into AcuteParameters
        )


def from_submissions(submissions: Sequence[AcuteSubmission]) -> AcuteColumns:
    sites = sorted({s.site for s in submissions})
    index = {name: n for n, name in enumerate(sites)}
    site = np.fromiter((index[s.site] for s in submissions), dtype=np.int64, count=len(submissions))
    time = np.fromiter(
        ((s.observed_at - EPOCH) // MICRO for s in submissions), dtype=np.int64, count=len(submissions)
    )
    values = np.full((len(submissions), len(PARAMETER_IDS)), np.nan)
    for row, s in enumerate(submissions):
        for col, (_, v) in enumerate((p, s.parameters.reported().get(p)) for p in PARAMETER_IDS):
            if v is not None:
                values[row, col] = v
    return AcuteColumns(site, time, values, sites)


def from_frame(frame: pl.DataFrame) -> AcuteColumns:
    """Acute returns from their Parquet layout; UnsupportedHistoryError for anything the per-row
    reader would refuse or name (it then reads the file row by row)."""
    import polars as pl  # noqa: PLC0415

    sites = sorted(frame["site"].unique().to_list())
    site = frame["site"].replace_strict({n: i for i, n in enumerate(sites)}, return_dtype=pl.Int64)
    observed = frame["observed_at"]
    if observed.dtype == pl.String:
        observed = observed.str.to_datetime(time_zone="UTC")
    time = observed.dt.convert_time_zone("UTC").dt.cast_time_unit("us").to_physical().to_numpy()
    values = np.full((len(frame), len(PARAMETER_IDS)), np.nan)
    for col, name in enumerate(PARAMETER_IDS):
        if name in frame.columns:
            values[:, col] = frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
    reported = ~np.isnan(values)
    floor = np.array([-100.0 if p == "ed_attendances_vs_expected_pct" else 0.0 for p in PARAMETER_IDS])
    finite = np.isfinite(np.where(reported, values, 0.0)) & (np.where(reported, values, 0.0) >= floor)
    if not bool(np.all(finite)) or not bool(np.all(reported.any(axis=1))) or frame["site"].null_count():
        raise UnsupportedHistoryError("a value, site or parameter set the per-row reader must name")
    return AcuteColumns(site.to_numpy().astype(np.int64), time.astype(np.int64), values, sites)


def _lookup(table: BandTable, values: Floats) -> Ints:
    """Each value's band outcome, as ``table.band_for(value).outcome``."""
    index = np.searchsorted(np.array(table.bounds, dtype=np.float64), values, side="right")
    outcomes = np.array([band.outcome for band in table.bands], dtype=np.int64)
    return outcomes[np.minimum(index, len(outcomes) - 1)]


@dataclass(slots=True)
class Scored:
    """The returns a system takes, in the order the replay applies them (time, then site)."""

    rows: Ints  # into AcuteColumns
    site: Ints
    time: Ints
    score: Ints
    level: Ints


def score(columns: AcuteColumns, catalogue: AcuteCatalogue) -> tuple[Ints, Ints]:
    """Every return's score (a lower bound when parameters are missing) and level."""
    total = np.zeros(len(columns), dtype=np.int64)
    reported = ~np.isnan(columns.values)
    if catalogue.missing_parameters == "reject" and not bool(reported.all()):
        raise UnsupportedHistoryError("missing parameters under a catalogue that rejects them")
    for col, name in enumerate(PARAMETER_IDS):
        points = _lookup(catalogue.parameters[name].table, np.nan_to_num(columns.values[:, col]))
        total += np.where(reported[:, col], points, 0)
    return total, _lookup(catalogue.score_levels, total.astype(np.float64))


def replay_acute(columns: AcuteColumns, ctx: Context, *, seen: datetime) -> list[EscalationEvent]:
    """Every site and system escalation event of these returns (``seen``: the replay's wall time,
    which a replay's stages never compare with event times, so it does not appear here)."""
    del seen
    acute = ctx.acute
    unknown = [s for s in columns.sites if s not in acute.sites]
    if unknown:
        raise UnsupportedHistoryError(f"unknown site {unknown[0]!r}")
    member: dict[str, str] = {}
    for system in acute.systems.values():
        if any(float(w) != int(w) for w in system.weights.values()):
            raise UnsupportedHistoryError(f"system {system.id} has weights that are not whole numbers")
        for site in system.weights:
            if member.setdefault(site, system.id) != system.id:
                raise UnsupportedHistoryError(f"site {site!r} is in two systems")
    scores, levels = score(columns, acute)
    order = np.lexsort((columns.site, columns.time))
    code, time = columns.site[order], columns.time[order]
    same = np.zeros(len(order), dtype=bool)
    same[1:] = (code[1:] == code[:-1]) & (time[1:] == time[:-1])
    if same.any():
        dup = np.flatnonzero(same)
        if not np.array_equal(
            np.nan_to_num(columns.values[order[dup]], nan=-1e300),
            np.nan_to_num(columns.values[order[dup - 1]], nan=-1e300),
        ):
            raise UnsupportedHistoryError("two different returns from one site at one instant")
        order = order[~same]
    events: list[EscalationEvent] = []
    for system_id, sysdef in acute.systems.items():
        codes = [columns.sites.index(s) for s in sysdef.weights if s in columns.sites]
        rows = order[np.isin(columns.site[order], codes)]
        if len(rows) == 0:
            continue
        taken = Scored(rows, columns.site[rows], columns.time[rows], scores[rows], levels[rows])
        events += _system(columns, taken, sysdef, system_id, ctx)
    return events


def _system(
    columns: AcuteColumns, taken: Scored, sysdef: SystemDef, system_id: str, ctx: Context
) -> list[EscalationEvent]:
    from .columnar import event_for  # noqa: PLC0415  (one way of building an event for both paths)

    dwell = ctx.policy.step_down_dwell // MICRO
    until_at = int(taken.time[-1]) + 1  # the end releases everything: the clock just past the last
    n = len(taken.rows)
    events: list[EscalationEvent] = []

    # Site scopes: each site's returns in time order.
    by_site = np.lexsort((taken.time, taken.site))
    until = np.full(n, until_at, dtype=np.int64)
    moves = transitions(taken.site[by_site], taken.time[by_site], taken.level[by_site], dwell, until)
    for k in range(len(moves.time)):
        row = int(moves.row[k])
        if row >= 0:
            position = int(by_site[row])
        else:
            position = _site_publisher(taken, int(moves.series[k]), int(moves.time[k]))
        submission = columns.submission(int(taken.rows[position]))
        assessed = score_submission(ctx.acute, submission).to_dict()
        facts = {"computed_level": assessed["level"]}
        facts |= {name: assessed[name] for name in SITE_FACTS} | {"score_scale": ctx.acute.max_score}
        scope = Scope("site", columns.sites[int(moves.series[k])])
        events.append(event_for(ctx, scope, moves, k, facts))

    # The system: one observation per instant at which a site reported.
    weights = {columns.sites.index(s): int(w) for s, w in sysdef.weights.items() if s in columns.sites}
    at, level = _system_levels(taken, by_site, weights, sysdef, ctx)
    system_moves = transitions(
        np.zeros(len(at), dtype=np.int64), taken.time[at], level, dwell, np.full(len(at), until_at)
    )
    clock = _ReleaseClock(taken, list(weights), everyone=len(weights) == len(sysdef.weights))
    system = _SystemFacts(ctx, sysdef, system_id, columns, taken)
    for k in range(len(system_moves.time)):
        row = int(system_moves.row[k])
        instant = row if row >= 0 else clock.publisher(taken.time[at], int(system_moves.time[k]))
        events.append(system.event(int(at[instant]), system_moves, k))
    return events


def _system_levels(
    taken: Scored, by_site: Ints, weights: dict[int, int], sysdef: SystemDef, ctx: Context
) -> tuple[Ints, Ints]:
    """The positions that end an instant, and the system's level there: the weighted mean score
    of the sites reported so far (running sums, whole numbers, so the division is the core's),
    lifted to the worst site level at or above the enact level."""
    n = len(taken.rows)
    weight = np.array([weights[int(s)] for s in taken.site], dtype=np.int64)
    sorted_site = taken.site[by_site]
    follows = np.zeros(n, dtype=bool)
    follows[1:] = sorted_site[1:] == sorted_site[:-1]

    def before(values: Ints) -> Ints:
        """Each return's site's previous value (0 before its first)."""
        shifted = np.zeros(n, dtype=np.int64)
        shifted[1:] = values[by_site][:-1]
        out = np.zeros(n, dtype=np.int64)
        out[by_site] = np.where(follows, shifted, 0)
        return out

    first = np.zeros(n, dtype=bool)
    first[by_site] = ~follows
    previous_score, previous_level = before(taken.score), before(taken.level)
    total_weight = np.cumsum(np.where(first, weight, 0))
    weighted = np.cumsum(weight * (taken.score - previous_score))
    worst = np.zeros(n, dtype=np.int64)
    for k in (1, 2, 3, 4):
        count = np.cumsum((taken.level >= k).astype(np.int64) - (previous_level >= k).astype(np.int64))
        worst = np.where(count > 0, k, worst)
    at = np.flatnonzero(np.append(taken.time[1:] != taken.time[:-1], True))
    aggregate_level = _lookup(ctx.acute.score_levels, weighted[at] / total_weight[at])
    threshold = int(sysdef.enact_site_level_at_or_above)
    level = np.where(worst[at] >= threshold, np.maximum(aggregate_level, worst[at]), aggregate_level)
    return at, level


def _site_publisher(taken: Scored, site: int, expiry: int) -> int:
    """The site's first return at or after the expiry (it publishes it), else its last."""
    mine = np.flatnonzero(taken.site == site)
    later = mine[taken.time[mine] >= expiry]
    return int(later[0]) if len(later) else int(mine[-1])


@dataclass(frozen=True, slots=True)
class _Held:
    """A site's score and level as the system's timeline holds them."""

    score: float
    level: Level


class _ReleaseClock:
    """When the system stage's timeline releases: after the k-th return it has released every
    instant strictly before the earliest of its sites' latest returns (nothing until every site
    has reported); the end of the history releases everything."""

    def __init__(self, taken: Scored, sites: list[int], *, everyone: bool) -> None:
        self.taken = taken
        self.per_site = [np.flatnonzero(taken.site == s) for s in sites]
        self.everyone = everyone  # a site that never reports holds the timeline until the end

    def done_after(self, expiry: int) -> int | None:
        """The release bound once it first reaches ``expiry`` (None: only at the end)."""
        if not self.everyone:
            return None
        firsts = []
        for rows in self.per_site:
            later = rows[self.taken.time[rows] >= expiry]
            if len(later) == 0:
                return None
            firsts.append(int(later[0]))
        k = max(firsts)
        latest = [int(self.taken.time[rows[rows <= k][-1]]) for rows in self.per_site]
        return min(latest)

    def publisher(self, instants: Ints, expiry: int) -> int:
        """The instant whose facts a step-down at ``expiry`` is published with: the first instant
        at or after it if that is released by the time the clock passes the expiry, else the
        last instant before it."""
        done = self.done_after(expiry)
        after = int(np.searchsorted(instants, expiry, side="left"))
        if after < len(instants) and (done is None or int(instants[after]) < done):
            return after
        return after - 1


@dataclass(frozen=True, slots=True)
class _SystemFacts:
    """A system's escalation event with the facts the stage holds at one of its returns."""

    ctx: Context
    sysdef: SystemDef
    system_id: str
    columns: AcuteColumns
    taken: Scored

    def event(self, position: int, moves: Moves, k: int) -> EscalationEvent:
        from .columnar import event_for  # noqa: PLC0415

        ctx, taken = self.ctx, self.taken
        upto = position + 1
        held: dict[str, _Held] = {}
        for code in np.unique(taken.site[:upto]):
            last = int(np.flatnonzero(taken.site[:upto] == code)[-1])
            held[self.columns.sites[int(code)]] = _Held(
                float(taken.score[last]), Level(int(taken.level[last]))
            )
        result = system_level(ctx.acute, self.sysdef, held)
        at = EPOCH + int(taken.time[position]) * MICRO
        facts: dict[str, Any] = {
            "computed_level": None if result.level is None else int(result.level),
            **system_facts(result, ctx, at, late=None),
        }
        return event_for(ctx, Scope("system", self.system_id), moves, k, facts)
