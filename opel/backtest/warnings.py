"""Backtesting the early warning (issue 16, point 3): ``opel replay warnings HISTORY``.

Every numeric indicator series of a history is walked in event-time order through the very
functions the area stage uses (:func:`opel.forecast.window.add_point`,
:func:`opel.forecast.crossing.project`, :func:`opel.forecast.warnings.step`) and the
escalation state machine (:func:`opel.escalation.observe`), once per horizon: a warning *for
horizon H* opens when at least the minimum confidence of pairs of recent readings reach the
next band within H. So the 48-hour row counts exactly the warnings the service publishes.

Per horizon:

- a warning is **true** when the escalation it projected (the level in force reaching the
  projected level) follows within H of its opening, **false** otherwise; one still open at the
  end of the history, opened less than H before it, is **undecided** and not counted;
- **precision** = true / (true + false); **recall** = escalations warned (a true warning came
  true at them) / escalations (every rise of an indicator's level in force, the first level
  aside); **lead** = escalation time - opening time of its true warning, median in hours;
- **false warnings per area per week** = false / (areas x weeks of history).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from opel.assess import verdict_for
from opel.catalogue import IndicatorCatalogue
from opel.escalation import EscalationPolicy, ScopeState, observe
from opel.forecast.crossing import Projection, project
from opel.forecast.settings import WarningSettings
from opel.forecast.warnings import OpenWarning, step
from opel.forecast.window import Point, add_point, as_hours
from opel.models import Reading
from opel.scopes import Scope


@dataclass(slots=True)
class HorizonScore:
    """The counts for one horizon; the rates are derived from them."""

    horizon_hours: int
    true: int = 0
    false: int = 0
    undecided: int = 0
    escalations: int = 0
    warned: int = 0
    leads_hours: list[float] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        issued = self.true + self.false
        return None if issued == 0 else self.true / issued

    @property
    def recall(self) -> float | None:
        return None if self.escalations == 0 else self.warned / self.escalations

    @property
    def median_lead_hours(self) -> float | None:
        return statistics.median(self.leads_hours) if self.leads_hours else None


@dataclass(frozen=True, slots=True)
class Backtest:
    settings: WarningSettings
    scores: tuple[HorizonScore, ...]
    areas: int
    weeks: float
    series: int
    readings: int

    def false_per_area_week(self, score: HorizonScore) -> float | None:
        exposure = self.areas * self.weeks
        return None if exposure == 0 else score.false / exposure


def series_of(
    readings: Iterable[Reading], catalogue: IndicatorCatalogue
) -> dict[tuple[str, str], list[Reading]]:
    """The numeric series of the history, each in event-time order."""
    out: dict[tuple[str, str], list[Reading]] = {}
    for reading in readings:
        rule = catalogue.rules.get((reading.indicator, reading.area))
        if rule is None or rule.table is None or isinstance(reading.value, str):
            continue
        out.setdefault((reading.area, reading.indicator), []).append(reading)
    for values in out.values():
        values.sort(key=lambda r: r.observed_at)
    return out


def _for_horizon(projection: Projection | None, horizon: int) -> Projection | None:
    """The projection as a warning for ``horizon`` sees it: it warns only when its own horizon
    (the shortest with enough pairs reaching the band) lies within this one."""
    if projection is None or not projection.warns or projection.horizon_hours <= horizon:
        return projection
    return replace(projection, warns=False)


def score_series(
    readings: Sequence[Reading],
    catalogue: IndicatorCatalogue,
    policy: EscalationPolicy,
    settings: WarningSettings,
    end: datetime,
) -> list[HorizonScore]:
    """Walk one series once, scoring every horizon's warnings side by side."""
    first = readings[0]
    rule = catalogue.rules[(first.indicator, first.area)]
    table = rule.table
    assert table is not None  # series_of keeps numeric series only
    scope = Scope("indicator", first.area, first.indicator).key
    scores = [HorizonScore(h) for h in settings.horizons_hours]
    held: list[OpenWarning | None] = [None for _ in scores]
    window: list[Point] = []
    state = ScopeState(scope)
    last_at: datetime | None = None
    for reading in readings:
        at = reading.observed_at
        if last_at is not None and at <= last_at:
            continue  # the stage holds the first reading of an instant and audits the rest
        last_at = at
        value = float(reading.value)
        level = verdict_for(rule, value).level
        assert level is not None
        state, transitions = observe(state, level, at, policy)
        raised = next((t for t in reversed(transitions) if t.direction == "escalation"), None)
        for t in transitions:
            if t.direction == "escalation":
                for score in scores:
                    score.escalations += 1
        evaluated = add_point(window, at, value, settings)
        projection = project(as_hours(window), table, value, settings) if evaluated else None
        in_force = None if state.level is None else int(state.level)
        for i, score in enumerate(scores):
            held[i], changes = step(
                scope,
                held[i],
                in_force,
                _for_horizon(projection, score.horizon_hours),
                at,
                evaluated=evaluated,
                escalation_id=None if raised is None else raised.id,
            )
            for change in changes:
                if change.status == "open":
                    continue
                lead = at - datetime.fromisoformat(change.warning["opened_at"])
                if change.status == "came_true" and lead <= timedelta(hours=score.horizon_hours):
                    score.true += 1
                    score.warned += 1
                    score.leads_hours.append(lead / timedelta(hours=1))
                else:
                    score.false += 1
    for i, score in enumerate(scores):
        warning = held[i]
        if warning is None:
            continue
        opened_at = datetime.fromisoformat(warning["opened_at"])
        if end - opened_at < timedelta(hours=score.horizon_hours):
            score.undecided += 1
        else:
            score.false += 1
    return scores


def backtest(
    readings: Sequence[Reading],
    catalogue: IndicatorCatalogue,
    policy: EscalationPolicy,
    settings: WarningSettings,
) -> Backtest:
    """Score the early warning over a history's readings (other inputs are not projected)."""
    series = series_of(readings, catalogue)
    totals = [HorizonScore(h) for h in settings.horizons_hours]
    times = [r.observed_at for values in series.values() for r in (values[0], values[-1])]
    end = max(times) if times else datetime.min
    for values in series.values():
        for total, part in zip(totals, score_series(values, catalogue, policy, settings, end), strict=True):
            total.true += part.true
            total.false += part.false
            total.undecided += part.undecided
            total.escalations += part.escalations
            total.warned += part.warned
            total.leads_hours.extend(part.leads_hours)
    weeks = (max(times) - min(times)) / timedelta(weeks=1) if times else 0.0
    return Backtest(
        settings,
        tuple(totals),
        areas=len({area for area, _ in series}),
        weeks=weeks,
        series=len(series),
        readings=sum(len(v) for v in series.values()),
    )


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table_rows(results: Sequence[Backtest]) -> list[str]:
    """The backtest table in Markdown, one row per setting and horizon."""
    lines = [
        "| bucket (min) | window | min confidence | min lead (h) | horizon (h) | warnings | true | false "
        "| undecided | escalations | warned | precision | recall | median lead (h) | false / area / week |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        s = result.settings
        for score in result.scores:
            lines.append(
                f"| {s.bucket_minutes} | {s.window_points} | {s.min_confidence:g} | {s.min_lead_hours:g} "
                f"| {score.horizon_hours} "
                f"| {score.true + score.false} | {score.true} | {score.false} | {score.undecided} "
                f"| {score.escalations} | {score.warned} | {_num(score.precision)} | {_num(score.recall)} "
                f"| {_num(score.median_lead_hours, 1)} | {_num(result.false_per_area_week(score))} |"
            )
    return lines
