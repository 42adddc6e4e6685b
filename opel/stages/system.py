"""The system stage: acute sites' submissions are scored, and their scores, merged in event
time, give the system's level (plan appendix 4: any site at OPEL 3 or 4 lifts the system)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opel.acute_score import score_submission
from opel.contracts.audit import Decision, audit_record
from opel.contracts.stage import AcuteItem, AnyStageItem
from opel.contracts.status import AnyStatus
from opel.errors import InputError
from opel.levels import Level
from opel.rollup import SystemLevel, system_level
from opel.scopes import Scope
from opel.stages.aggregate import apply_common, new_aggregate_book, released
from opel.stages.book import Book, freeze, thaw
from opel.stages.context import Context, Emit
from opel.stages.outputs import finish
from opel.stages.transitions import advance_all, update_scope
from opel.timeline import Change, apply, offer, values

SITE_FACTS = (
    "score",
    "score_max",
    "complete",
    "missing",
    "normalised_score",
    "normalised_level",
    "points",
    "explanation",
    "catalogue",
    "catalogue_version",
    "observed_at",
)
"""The fields of a site's assessment that its status carries (opel.contracts.status.SiteStatus)."""


@dataclass(frozen=True, slots=True)
class _SiteScore:
    score: float
    level: Level


def apply_system(
    stored: Book | None, system: str, items: Sequence[AnyStageItem], ctx: Context, seen: datetime
) -> tuple[Book, Emit, dict[str, AnyStatus]]:
    """Apply acute submissions for a system's sites, ticks and site/system overrides."""
    sysdef = ctx.acute.systems.get(system)
    if sysdef is None:
        raise InputError("system", f"unknown system {system!r} in {ctx.acute.meta.id}")
    book = thaw(
        dict(stored) if stored is not None else new_aggregate_book(system, list(sysdef.weights), seen)
    )
    emit = Emit()
    scope = Scope("system", system)
    for item in items:
        late: list[Change] = []
        if isinstance(item, AcuteItem):
            late = _site(book, item, ctx, emit)
        elif not apply_common(book, item, ctx, emit):
            raise InputError("kind", f"the system stage does not take {item.kind!r} items")
        for at, group in released(book, ctx, late):
            for change in group:
                apply(book["timeline"], change)
            scores = {
                site: _SiteScore(v[0], Level(v[1]))
                for site, v in values(book["timeline"]).items()
                if v is not None
            }
            result = system_level(ctx.acute, sysdef, scores)
            facts = system_facts(result, ctx, at, late=group is late or None)
            update_scope(book, scope, result.level, at, facts=facts, ctx=ctx, emit=emit)
        done = book["timeline"]["done"]
        if done is not None:
            advance_all(book, datetime.fromisoformat(done), ctx, emit)
    return freeze(book), emit, finish(book, emit, ctx)


def system_facts(result: SystemLevel, ctx: Context, at: datetime, *, late: bool | None) -> dict[str, Any]:
    """What a system's status and escalation say of how its level was reached (also the
    columnar replay's, opel.backtest.acute_columns, so both write the same evidence)."""
    return {
        "explanation": result.reason,
        "score": result.aggregate_score,
        "score_scale": ctx.acute.max_score,
        "normalised_score": result.normalised_score,
        "aggregate_level": None if result.aggregate_level is None else int(result.aggregate_level),
        "driving": list(result.driving_sites),
        "missing": list(result.missing_sites),
        "catalogue": ctx.acute.meta.id,
        "catalogue_version": ctx.acute.meta.version,
        "observed_at": at.isoformat(),
        "late": late,
    }


def _site(book: Book, item: AcuteItem, ctx: Context, emit: Emit) -> list[Change]:
    submission = item.submission
    site, at = submission.site, submission.observed_at
    key = f"site/{site}"
    inputs = submission.model_dump(exclude_none=True)
    held = book["sites"].get(site)
    if held is not None and at <= datetime.fromisoformat(held):
        decision: Decision = "duplicate" if at == datetime.fromisoformat(held) else "stale"
        emit.outcomes.append((item.source, decision))
        emit.audit.append(
            audit_record(decision, key, at, input=inputs, reason=f"holding a submission from {held}")
        )
        return []
    assessment = score_submission(ctx.acute, submission)
    book["sites"][site] = at.isoformat()
    assessed = assessment.to_dict()
    facts = {name: assessed[name] for name in SITE_FACTS} | {"score_scale": ctx.acute.max_score}
    update_scope(book, Scope("site", site), assessment.level, at, facts=facts, ctx=ctx, emit=emit)
    emit.outcomes.append((item.source, "assessed"))
    emit.audit.append(
        audit_record(
            "assessed",
            key,
            at,
            input=inputs,
            rule="acute score",
            catalogue=ctx.acute.meta.id,
            catalogue_version=ctx.acute.meta.version,
            outcome={"score": assessment.score, "level": int(assessment.level)},
        )
    )
    return offer(book["timeline"], site, [(at, [assessment.score, int(assessment.level)])], at, item.seen)
