"""One replay of a history under a catalogue, what it adds up to, and two replays compared.

The escalation events come from :func:`opel.replay.replay`, so from the stage functions the
worker calls; everything else here only counts them:

- **time at level**: per scope, how long each level was in force between the history's first
  and last event time (before a scope's first transition it has no level);
- **escalations per role**: how many changes gave each role of the action plan actions to
  start or to stand down (``data.actions`` of the events), first and last time;
- **compare**: the periods in which a scope's level differs between two catalogues, days at
  each level A against B, and the transitions only one of them has.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opel.actions_load import load_action_plan
from opel.catalogue import AcuteCatalogue, IndicatorCatalogue
from opel.catalogue_load import DEFAULT_ACUTE_CATALOGUE, load_catalogue
from opel.contracts.escalation import EscalationEvent
from opel.errors import CatalogueError
from opel.escalation import EscalationPolicy
from opel.models import AcuteSubmission, Reading
from opel.replay import TransitionKey, replay, transition_key
from opel.stages.context import Context, InputBounds

from .history import History, HistoryError, check_history

DAY = timedelta(days=1)
EPOCH_US = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
LEVELS = (1, 2, 3, 4)
REPLAY_BOUNDS = InputBounds(max_age=timedelta(days=100 * 366))
"""A history is old by nature: only the service's age limit is lifted (skew and override length stay)."""


def build_context(
    catalogue: str,
    *,
    acute: str = DEFAULT_ACUTE_CATALOGUE,
    dwell: timedelta | None = None,
    county: str = "kent",
) -> Context:
    """The context a worker builds from the same catalogues (``streams.catalogues``): the
    catalogue's action plan and step-down dwell unless ``dwell`` is given (``OPEL_STEP_DOWN_DWELL``)."""
    indicators = load_catalogue(catalogue)
    if not isinstance(indicators, IndicatorCatalogue):
        raise CatalogueError(catalogue, "kind", "is not an indicator catalogue (replay needs one)")
    acute_catalogue = load_catalogue(acute)
    if not isinstance(acute_catalogue, AcuteCatalogue):
        raise CatalogueError(acute, "kind", "is not an acute catalogue")
    actions = load_action_plan(indicators.action_plan) if indicators.action_plan else None
    return Context(
        catalogue=indicators,
        acute=acute_catalogue,
        actions=actions,
        policy=EscalationPolicy(indicators.step_down_dwell if dwell is None else dwell),
        county=county,
        bounds=REPLAY_BOUNDS,
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """A replay's escalation events (sorted, each transition once) and the period it covers."""

    catalogue: str
    events: list[EscalationEvent]
    start: datetime
    end: datetime
    inputs: int = 0
    not_taken: dict[str, int] = field(default_factory=dict)

    def transition_keys(self) -> list[TransitionKey]:
        return [transition_key(e) for e in self.events]


def sorted_events(events: Iterable[EscalationEvent]) -> list[EscalationEvent]:
    """Time, then subject, then id; an event repeated with the same content counts once."""
    unique: dict[TransitionKey, EscalationEvent] = {}
    for event in events:
        unique.setdefault(transition_key(event), event)
    return [unique[k] for k in sorted(unique, key=lambda t: (t.time, t.subject, t.id))]


def run_history(history: History, contexts: Sequence[Context], *, columnar: bool = False) -> list[Outcome]:
    """Check the history against each context's catalogues, then replay what each takes
    (raises HistoryError, naming every bad line, if any input is taken by none).

    With ``columnar``, a history of readings and acute returns only is replayed by
    :mod:`opel.backtest.columnar` (the same transitions, docs/replay.md); any other by the core.
    """
    start, end = history.start, history.end
    if (start is None or end is None) and history.problems:
        raise HistoryError(history.problems)
    if start is None or end is None:
        never = datetime(2000, 1, 1, tzinfo=UTC)
        return [Outcome(ctx.catalogue.meta.id, [], never, never, 0, {}) for ctx in contexts]
    out = []
    for ctx, accepted in zip(contexts, check_history(history, contexts, end), strict=True):
        if columnar and all(isinstance(x, Reading | AcuteSubmission) for x in accepted.inputs):
            events = sorted_events(_columnar(accepted.inputs, ctx, end))
        else:
            events = sorted_events(replay(accepted.inputs, ctx, seen=end).escalations)
        taken = len(accepted.inputs)
        out.append(Outcome(ctx.catalogue.meta.id, events, start, end, taken, accepted.not_taken))
    return out


def _columnar(inputs: Sequence[Any], ctx: Context, end: datetime) -> list[EscalationEvent]:
    from .arrays import UnsupportedHistoryError  # noqa: PLC0415
    from .columnar import from_readings, replay_columns  # noqa: PLC0415

    readings = [x for x in inputs if isinstance(x, Reading)]
    acute = [x for x in inputs if isinstance(x, AcuteSubmission)]
    try:
        return replay_columns(from_readings(readings), acute, ctx, seen=end)
    except UnsupportedHistoryError:
        return replay(inputs, ctx, seen=end).escalations


def run_parquet(
    paths: Sequence[Path],
    contexts: Sequence[Context],
    progress: Callable[[int], None] | None = None,
    *,
    jobs: int = 1,
    recipes: Sequence[Callable[[], Context]] | None = None,
) -> list[Outcome] | None:
    """The columnar path straight from Parquet, with no object per reading, a block of areas at
    a time (:mod:`opel.backtest.by_area`). None when it cannot be used (another kind of file, or
    an input no catalogue takes: the per-row reader then names each bad row). With ``jobs`` > 1
    and ``recipes`` (picklable callables building the same contexts), blocks are spread over
    worker processes; the outcome is the same."""
    from .by_area import run_by_area  # noqa: PLC0415

    if not paths:
        return None
    return run_by_area(paths, contexts, progress, jobs=jobs, recipes=recipes)


# --- time at level ---------------------------------------------------------------------------

Segment = tuple[datetime, datetime, int | None]


def segments(events: Sequence[EscalationEvent], start: datetime, end: datetime) -> dict[str, list[Segment]]:
    """Per scope, the level in force over [start, end] as consecutive (from, to, level) pieces."""
    by_scope: dict[str, list[EscalationEvent]] = defaultdict(list)
    for event in events:
        by_scope[event.subject].append(event)
    out: dict[str, list[Segment]] = {}
    for scope, changes in by_scope.items():
        pieces: list[Segment] = []
        at, level = start, None
        for event in changes:
            when = min(max(event.time.astimezone(UTC), start), end)
            if when > at:
                pieces.append((at, when, level))
            at, level = when, event.data.to_level
        if end > at or not pieces:
            pieces.append((at, end, level))
        out[scope] = pieces
    return out


def days_at_level(pieces: Sequence[Segment]) -> dict[str, float]:
    """Days at each level (``"none"`` before the scope's first level)."""
    totals = {str(level): 0.0 for level in LEVELS} | {"none": 0.0}
    for begin, finish, level in pieces:
        totals["none" if level is None else str(level)] += (finish - begin) / DAY
    return {k: round(v, 6) for k, v in totals.items()}


def time_at_level(outcome: Outcome) -> dict[str, dict[str, float]]:
    return {
        scope: days_at_level(pieces)
        for scope, pieces in sorted(segments(outcome.events, outcome.start, outcome.end).items())
    }


# --- escalations per role -----------------------------------------------------------------------


@dataclass(slots=True)
class RoleCount:
    role_name: str
    start: int = 0
    stand_down: int = 0
    first: datetime | None = None
    last: datetime | None = None
    by_scope_kind: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "role_name": self.role_name,
            "start": self.start,
            "stand_down": self.stand_down,
            "first": None if self.first is None else self.first.isoformat(),
            "last": None if self.last is None else self.last.isoformat(),
            "by_scope_kind": dict(sorted(self.by_scope_kind.items())),
        }


def per_role(events: Iterable[EscalationEvent]) -> dict[str, RoleCount]:
    """Per role: the changes that gave it actions to start, and to stand down (the action plan)."""
    out: dict[str, RoleCount] = {}
    for event in events:
        when = event.time.astimezone(UTC)
        for entry in event.data.actions:
            if not entry.start and not entry.stand_down:
                continue
            count = out.setdefault(entry.role, RoleCount(entry.role_name))
            count.start += bool(entry.start)
            count.stand_down += bool(entry.stand_down)
            count.first = when if count.first is None else min(count.first, when)
            count.last = when if count.last is None else max(count.last, when)
            kind = event.data.kind
            count.by_scope_kind[kind] = count.by_scope_kind.get(kind, 0) + 1
    return dict(sorted(out.items()))


def summary(outcome: Outcome) -> dict[str, Any]:
    """What one replay adds up to, as plain JSON values."""
    directions: dict[str, int] = defaultdict(int)
    for event in outcome.events:
        directions[event.data.direction] += 1
    return {
        "catalogue": outcome.catalogue,
        "start": outcome.start.isoformat(),
        "end": outcome.end.isoformat(),
        "inputs": outcome.inputs,
        "not_taken": dict(sorted(outcome.not_taken.items())),
        "transitions": len(outcome.events),
        "by_direction": dict(sorted(directions.items())),
        "days_at_level": time_at_level(outcome),
        "escalations_per_role": {role: c.to_dict() for role, c in per_role(outcome.events).items()},
    }


# --- compare ------------------------------------------------------------------------------------


def level_at(pieces: Sequence[Segment], when: datetime) -> int | None:
    starts = [p[0] for p in pieces]
    index = bisect.bisect_right(starts, when) - 1
    return None if index < 0 else pieces[index][2]


def differing_periods(a: Outcome, b: Outcome) -> list[dict[str, Any]]:
    """Per scope, the maximal periods in which A's level and B's level differ."""
    seg_a = segments(a.events, a.start, a.end)
    seg_b = segments(b.events, b.start, b.end)
    out: list[dict[str, Any]] = []
    for scope in sorted(set(seg_a) | set(seg_b)):
        pa, pb = seg_a.get(scope, [(a.start, a.end, None)]), seg_b.get(scope, [(b.start, b.end, None)])
        cuts = sorted({p[0] for p in pa} | {p[0] for p in pb} | {a.end})
        current: dict[str, Any] | None = None
        for begin, finish in itertools.pairwise(cuts):
            la, lb = level_at(pa, begin), level_at(pb, begin)
            if la == lb:
                current = None
                continue
            if current is not None and current["a"] == la and current["b"] == lb:
                current["until"] = finish.isoformat()
                current["days"] = round((finish - datetime.fromisoformat(current["from"])) / DAY, 6)
                continue
            current = {
                "scope": scope,
                "from": begin.isoformat(),
                "until": finish.isoformat(),
                "days": round((finish - begin) / DAY, 6),
                "a": la,
                "b": lb,
            }
            out.append(current)
    return out


def key_json(key: TransitionKey) -> dict[str, Any]:
    return {
        "subject": key.subject,
        "from": key.from_level,
        "to": key.to_level,
        "time": key.time.isoformat(),
        "id": key.id,
    }


def compare(a: Outcome, b: Outcome) -> dict[str, Any]:
    """Where two catalogues' replays of one history differ."""
    days_a, days_b = time_at_level(a), time_at_level(b)
    empty = days_at_level([])
    keys_a, keys_b = set(a.transition_keys()), set(b.transition_keys())
    roles_a, roles_b = per_role(a.events), per_role(b.events)
    return {
        "a": a.catalogue,
        "b": b.catalogue,
        "periods": differing_periods(a, b),
        "days_at_level": {
            scope: {"a": days_a.get(scope, empty), "b": days_b.get(scope, empty)}
            for scope in sorted(set(days_a) | set(days_b))
        },
        "escalations_per_role": {
            role: {
                "a": roles_a[role].start if role in roles_a else 0,
                "b": roles_b[role].start if role in roles_b else 0,
            }
            for role in sorted(set(roles_a) | set(roles_b))
        },
        "only_in_a": [key_json(k) for k in a.transition_keys() if k not in keys_b],
        "only_in_b": [key_json(k) for k in b.transition_keys() if k not in keys_a],
    }


def scopes_by_kind(days: Mapping[str, Mapping[str, float]], kind: str) -> list[str]:
    return [scope for scope in days if scope.split("/", 1)[0] == kind]
