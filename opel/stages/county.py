"""The county stage (areas to the county) and the system stage (acute sites to a system).

Both receive their members' changes from several partitions, so both merge them through an
event-time timeline (:mod:`opel.merge`) before computing the aggregate: the county's and the
system's transitions then come out the same, with the same ids, whatever the arrival order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from opel.acute_score import score_submission
from opel.aggregation import county_level, system_level
from opel.engine_state import (
    Book,
    Context,
    Emit,
    advance_all,
    audit_record,
    end_override,
    finish,
    freeze,
    set_override,
    thaw,
    tick,
    update_scope,
)
from opel.errors import InputError
from opel.levels import Level
from opel.merge import Change, apply, new_timeline, offer, release, values, watermark
from opel.models import AcuteSubmission
from opel.scopes import Scope, parse_scope

Statuses = dict[str, dict[str, Any]]


def new_aggregate_book(name: str, members: Sequence[str], created: datetime) -> Book:
    return {
        "name": name,
        "timeline": new_timeline(members, created),
        "scopes": {},
        "overrides": {},
        "ended": [],
        "clock": None,
        "sites": {},
    }


def _common(book: Book, item: Mapping[str, Any], ctx: Context, emit: Emit) -> bool:
    """Items both stages take: ticks and overrides. False if the item is not one of them."""
    kind = item["k"]
    if kind == "tick":
        now = datetime.fromisoformat(item["now"])
        clock = book["clock"]
        if clock is None or now.isoformat() > clock:
            book["clock"] = now.isoformat()
            emit.changed = True
        tick(book, now, ctx, emit)
    elif kind == "override":
        set_override(book, parse_scope(item["v"]["scope"]), item["v"], ctx, emit)
    elif kind == "withdraw":
        v = item["v"]
        end_override(
            book,
            parse_scope(v["scope"]),
            datetime.fromisoformat(v["at"]),
            ctx,
            emit,
            decision="withdraw",
            author=v["author"],
            reason=v["reason"],
            override_id=v["id"],
        )
    else:
        return False
    return True


def _released(book: Book, ctx: Context, late: list[Change]) -> list[tuple[datetime, list[Change]]]:
    """Late changes (at the time already reached) then everything the watermark now allows."""
    timeline = book["timeline"]
    out: list[tuple[datetime, list[Change]]] = []
    if late:
        done = datetime.fromisoformat(timeline["done"])
        out.append((done, late))
    clock = book["clock"]
    upto = watermark(timeline, None if clock is None else datetime.fromisoformat(clock), ctx.idle_grace)
    changes = release(timeline, upto)
    out.extend((at, list(group)) for at, group in groupby(changes, key=lambda c: c[0]))
    return out


# --- county -----------------------------------------------------------------------------


def apply_county(
    stored: Book | None, items: Sequence[Mapping[str, Any]], ctx: Context, seen: datetime
) -> tuple[Book, Emit, Statuses]:
    """Apply area reports, ticks and county overrides, in order."""
    book = thaw(
        dict(stored)
        if stored is not None
        else new_aggregate_book(ctx.county, list(ctx.catalogue.areas), seen)
    )
    emit = Emit()
    scope = Scope("county", ctx.county)
    for item in items:
        late: list[Change] = []
        if item["k"] == "area":
            track = book["timeline"]["members"].setdefault(
                item["area"], {"wm": None, "seen": None, "level": None, "pending": []}
            )
            taken = track.get("seq", 0)
            fresh = [c for c in item["changes"] if c[2] > taken]
            if fresh:
                track["seq"] = fresh[-1][2]
            changes = [(datetime.fromisoformat(at), level) for at, level, _ in fresh]
            late = offer(
                book["timeline"],
                item["area"],
                changes,
                datetime.fromisoformat(item["wm"]),
                datetime.fromisoformat(item["seen"]),
            )
            emit.changed = True
        elif not _common(book, item, ctx, emit):
            raise InputError("k", f"unknown county item kind {item['k']!r}")
        for at, group in _released(book, ctx, late):
            for change in group:
                apply(book["timeline"], change)
            levels = {
                area: None if lv is None else Level(lv) for area, lv in values(book["timeline"]).items()
            }
            result = county_level(ctx.catalogue.county, levels)
            facts = {
                "explanation": result.reason,
                "areas_assessed": result.areas_assessed,
                "catalogue": ctx.catalogue.meta.id,
                "catalogue_version": ctx.catalogue.meta.version,
                "observed_at": at.isoformat(),
                "late": group is late or None,
            }
            update_scope(book, scope, result.level, at, facts=facts, ctx=ctx, emit=emit)
        done = book["timeline"]["done"]
        if done is not None:
            advance_all(book, datetime.fromisoformat(done), ctx, emit)
    return freeze(book), emit, finish(book, emit)


# --- system -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SiteScore:
    score: float
    level: Level


def apply_system(
    stored: Book | None, system: str, items: Sequence[Mapping[str, Any]], ctx: Context, seen: datetime
) -> tuple[Book, Emit, Statuses]:
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
        if item["k"] == "site":
            late = _site(
                book, item["v"], ctx, emit, datetime.fromisoformat(item.get("seen", seen.isoformat()))
            )
        elif not _common(book, item, ctx, emit):
            raise InputError("k", f"unknown system item kind {item['k']!r}")
        for at, group in _released(book, ctx, late):
            for change in group:
                apply(book["timeline"], change)
            scores = {
                site: _SiteScore(v[0], Level(v[1]))
                for site, v in values(book["timeline"]).items()
                if v is not None
            }
            result = system_level(ctx.acute, sysdef, scores)
            facts = {
                "explanation": result.reason,
                "score": result.aggregate_score,
                "normalised_score": result.normalised_score,
                "aggregate_level": None if result.aggregate_level is None else int(result.aggregate_level),
                "driving": list(result.driving_sites),
                "missing": list(result.missing_sites),
                "catalogue": ctx.acute.meta.id,
                "catalogue_version": ctx.acute.meta.version,
                "observed_at": at.isoformat(),
                "late": group is late or None,
            }
            update_scope(book, scope, result.level, at, facts=facts, ctx=ctx, emit=emit)
        done = book["timeline"]["done"]
        if done is not None:
            advance_all(book, datetime.fromisoformat(done), ctx, emit)
    return freeze(book), emit, finish(book, emit)


def _site(book: Book, raw: Mapping[str, Any], ctx: Context, emit: Emit, seen: datetime) -> list[Change]:
    submission = AcuteSubmission.model_validate(raw)
    site, at = submission.site, submission.observed_at
    key = f"site/{site}"
    held = book["sites"].get(site)
    if held is not None and at <= datetime.fromisoformat(held):
        decision = "duplicate" if at == datetime.fromisoformat(held) else "stale"
        emit.outcomes.append(decision)
        emit.audit.append(
            audit_record(decision, key, at, input=raw, reason=f"holding a submission from {held}")
        )
        return []
    assessment = score_submission(ctx.acute, submission)
    book["sites"][site] = at.isoformat()
    facts = {
        key: value
        for key, value in assessment.to_dict().items()
        if key
        in (
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
    }
    update_scope(book, Scope("site", site), assessment.level, at, facts=facts, ctx=ctx, emit=emit)
    emit.outcomes.append("assessed")
    emit.audit.append(
        audit_record(
            "assessed",
            key,
            at,
            input=raw,
            rule="acute score",
            catalogue=ctx.acute.meta.id,
            catalogue_version=ctx.acute.meta.version,
            outcome={"score": assessment.score, "level": int(assessment.level)},
        )
    )
    return offer(book["timeline"], site, [(at, [assessment.score, int(assessment.level)])], at, seen)
