"""The county stage: the areas' computed levels, merged in event time, give the county's level."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from opel.contracts.stage import AnyStageItem, AreaReport
from opel.contracts.status import AnyStatus
from opel.errors import InputError
from opel.levels import Level
from opel.rollup import county_level
from opel.scopes import Scope
from opel.stages.aggregate import apply_common, new_aggregate_book, released
from opel.stages.book import Book, freeze, thaw
from opel.stages.context import Context, Emit
from opel.stages.outputs import finish
from opel.stages.transitions import advance_all, update_scope
from opel.timeline import Change, apply, offer, values


def apply_county(
    stored: Book | None, items: Sequence[AnyStageItem], ctx: Context, seen: datetime
) -> tuple[Book, Emit, dict[str, AnyStatus]]:
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
        if isinstance(item, AreaReport):
            late = _offer(book, item)
            emit.changed = True
        elif not apply_common(book, item, ctx, emit):
            raise InputError("kind", f"the county stage does not take {item.kind!r} items")
        for at, group in released(book, ctx, late):
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
    return freeze(book), emit, finish(book, emit, ctx)


def _offer(book: Book, report: AreaReport) -> list[Change]:
    track = book["timeline"]["members"].setdefault(
        report.area, {"wm": None, "seen": None, "level": None, "pending": []}
    )
    if report.reset:
        # An operator rebuilt the area (opel.stages.repair): take its watermark as it now is,
        # even if it went back, and drop what it had queued from before.
        track["wm"] = None
        track["pending"] = []
    taken = track.get("seq", 0)
    fresh = [c for c in report.changes if c.seq > taken]
    if fresh:
        track["seq"] = fresh[-1].seq
    return offer(
        book["timeline"],
        report.area,
        [(c.at, c.level) for c in fresh],
        report.watermark,
        report.seen,
        idle=report.idle,
    )
