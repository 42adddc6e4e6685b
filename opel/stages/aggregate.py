"""What the county and system stages share: a book around an event-time timeline, ticks and
overrides.

Both receive their members' changes from several partitions, so both merge them through an
event-time timeline (:mod:`opel.timeline`) before computing the aggregate: the county's and
the system's transitions then come out the same, with the same ids, whatever the arrival order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import groupby

from opel.contracts.stage import AnyStageItem, OverrideItem, TickItem, WithdrawItem
from opel.stages.book import Book
from opel.stages.context import Context, Emit
from opel.stages.overrides import expire_overrides, set_override, withdraw
from opel.timeline import Change, new_timeline, release, watermark


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


def apply_common(book: Book, item: AnyStageItem, ctx: Context, emit: Emit) -> bool:
    """Items both stages take: ticks and overrides. False if the item is not one of them."""
    if isinstance(item, TickItem):
        clock = book["clock"]
        now = item.now
        if clock is None or now > datetime.fromisoformat(clock):
            book["clock"] = now.isoformat()
            emit.changed = True
        expire_overrides(book, now, ctx, emit)
    elif isinstance(item, OverrideItem):
        set_override(book, item.command, ctx, emit)
    elif isinstance(item, WithdrawItem):
        withdraw(book, item.command, ctx, emit)
    else:
        return False
    return True


def released(book: Book, ctx: Context, late: list[Change]) -> list[tuple[datetime, list[Change]]]:
    """Late changes (at the time already reached) then everything the watermark now allows."""
    timeline = book["timeline"]
    out: list[tuple[datetime, list[Change]]] = []
    if late:
        out.append((datetime.fromisoformat(timeline["done"]), late))
    clock = book["clock"]
    upto = watermark(timeline, None if clock is None else datetime.fromisoformat(clock), ctx.idle_grace)
    changes = release(timeline, upto)
    out.extend((at, list(group)) for at, group in groupby(changes, key=lambda c: c[0]))
    return out
