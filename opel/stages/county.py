"""The county stage: the areas' computed levels, merged in event time, give the county's level."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from opel.contracts.stage import AnyStageItem, AreaReport
from opel.contracts.status import AnyStatus
from opel.errors import InputError
from opel.rollup import county_from_counts
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
            counts = _tally(book)
            for change in group:
                before = book["timeline"]["members"][change[1]]["level"]
                apply(book["timeline"], change)
                if before is not None:
                    counts[before - 1] -= 1
                if change[2] is not None:
                    counts[change[2] - 1] += 1
            level, reason = county_from_counts(ctx.catalogue.county, counts)
            facts = {
                "explanation": reason,
                "areas_assessed": sum(counts),
                "catalogue": ctx.catalogue.meta.id,
                "catalogue_version": ctx.catalogue.meta.version,
                "observed_at": at.isoformat(),
                "late": group is late or None,
            }
            update_scope(book, scope, level, at, facts=facts, ctx=ctx, emit=emit)
        done = book["timeline"]["done"]
        if done is not None:
            advance_all(book, datetime.fromisoformat(done), ctx, emit)
    return freeze(book), emit, finish(book, emit, ctx)


def _tally(book: Book) -> list[int]:
    """How many areas are at each level (OPEL 1 first), kept as changes are applied: the county's
    roll-up is then four numbers, not a rescan of every area (issue 11)."""
    counts: list[int] | None = book.get("tally")
    if counts is None:  # a book stored before the tally was kept
        counts = book["tally"] = [0, 0, 0, 0]
        for level in values(book["timeline"]).values():
            if level is not None:
                counts[level - 1] += 1
    return counts


def _offer(book: Book, report: AreaReport) -> list[Change]:
    track = book["timeline"]["members"].setdefault(
        report.area, {"wm": None, "seen": None, "level": None, "pending": []}
    )
    if report.reset:
        # An operator rebuilt the area (opel.stages.repair): take its watermark as it now is,
        # even if it went back, and drop what it had queued from before.
        track["wm"] = None
        track["pending"] = []
        track["edits"] = track.get("edits", 0) + 1
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
