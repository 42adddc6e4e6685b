"""Merge several members' level timelines into one, in event-time order, whatever the arrival order.

The county is computed from its areas and a system from its sites. Their changes reach the
aggregate from different partitions (possibly different workers), so arrival order differs
from run to run. Replaying every change in (time, member) order up to a watermark (the
earliest point every live member has reported past) makes the aggregate's transitions, and
therefore their ids, the same in every run. A member that says it has nothing in flight (an
area whose inputs ingest has read to the end) stops holding the watermark back, so one quiet
area cannot freeze the county; a member that says nothing either way (a site) does so after
``idle_grace`` of wall time.

A timeline is a plain dict so it can live in a Faust table:
``{"members": {id: {"wm": iso|None, "seen": iso, "level": int|None, "pending": [[iso, int|None], ...]}},
"done": iso|None, "created": iso}``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

Timeline = dict[str, Any]
Change = tuple[datetime, str, Any]  # when, member, the member's new value (JSON-able)


def new_timeline(members: Iterable[str], created: datetime) -> Timeline:
    return {
        "members": {m: {"wm": None, "seen": None, "level": None, "pending": []} for m in members},
        "done": None,
        "created": created.isoformat(),
    }


def offer(
    timeline: Timeline,
    member: str,
    changes: Iterable[tuple[datetime, Any]],
    watermark: datetime,
    seen: datetime,
    *,
    idle: bool | None = None,
) -> list[Change]:
    """Queue a member's changes (in its own order) and advance its watermark.

    Changes older than what the aggregate has already released are late: they are returned
    so the caller can apply them at its current time and audit them as late.
    """
    track = timeline["members"].setdefault(member, {"wm": None, "seen": None, "level": None, "pending": []})
    done = _parse(timeline["done"])
    late: list[Change] = []
    pending = track["pending"]
    # The queue is kept in time order so release() can stop at the first change it must keep
    # (a lagging member otherwise makes every release re-read the others' whole queues).
    last = _parse(pending[-1][0]) if pending else None
    for at, level in changes:
        if done is not None and at < done:
            late.append((at, member, level))
        elif last is None or at >= last:
            pending.append([at.isoformat(), level])
            last = at
        else:
            # Out of the member's own order (members normally report in order): insert after
            # any change at the same instant, so equal times keep their arrival order. ``edits``
            # tells a stored copy kept in chunks (opel.stages.parts) that more than the ends moved.
            times = [datetime.fromisoformat(p[0]) for p in pending]
            pending.insert(bisect_right(times, at), [at.isoformat(), level])
            track["edits"] = track.get("edits", 0) + 1
    wm = _parse(track["wm"])
    if wm is None or watermark > wm:
        track["wm"] = watermark.isoformat()
    track["seen"] = seen.isoformat()
    if idle is not None:
        track["idle"] = idle
    return late


def watermark(timeline: Timeline, now: datetime | None, idle_grace: timedelta) -> datetime | None:
    """The event time up to which every live member has reported.

    A member is idle (ignored) when it has not been seen for ``idle_grace`` of wall time by
    ``now``. Without ``now`` (no tick yet) every member counts. Returns None when nothing can
    be released yet.
    """
    marks: list[datetime] = []
    created = _parse(timeline["created"])
    for track in timeline["members"].values():
        said = track.get("idle")
        if said is True:
            continue  # the member said it has nothing in flight
        if said is None or track["wm"] is None:
            # A member that does not say whether it is idle (a site), or has never reported,
            # is judged on wall time instead.
            seen = _parse(track["seen"])
            last = seen or created
            if now is not None and last is not None and now - last >= idle_grace:
                continue
        wm = _parse(track["wm"])
        if wm is None:
            return None  # a live member has not reported yet: wait for it (or its grace)
        marks.append(wm)
    if not marks:
        # Every member is idle: release whatever is queued (release() takes what is strictly
        # before its bound, so the bound is just past the last change).
        queued = [_parse(p[0]) for t in timeline["members"].values() for p in t["pending"]]
        last = max((q for q in queued if q is not None), default=None)
        return None if last is None else last + _TICK
    return min(marks)


def release(timeline: Timeline, upto: datetime | None) -> list[Change]:
    """Pop every queued change strictly before ``upto``, in (time, member) order.

    Strictly: a member whose watermark is ``upto`` may still report another change at that
    very instant, which must be merged with the others at the same time, not after them.

    The caller applies them one at a time with :func:`apply`, computing the aggregate after
    each, so every intermediate aggregate level is seen at its own time.
    """
    if upto is None:
        return []
    out: list[Change] = []
    for member, track in timeline["members"].items():
        pending = track["pending"]
        taken = 0
        for at_text, level in pending:  # in time order (offer keeps it so)
            at = _parsed(at_text)
            if at >= upto:
                break
            out.append((at, member, level))
            taken += 1
        if taken:
            del pending[:taken]
            # Changes released so far: a queued change's position counts from the first ever
            # queued, so a chunked copy rewrites only the chunks whose changes moved.
            track["head"] = track.get("head", 0) + taken
    out.sort(key=lambda change: (change[0], change[1]))
    done = _parse(timeline["done"])
    if done is None or upto > done:
        timeline["done"] = upto.isoformat()
    return out


def apply(timeline: Timeline, change: Change) -> None:
    timeline["members"][change[1]]["level"] = change[2]


def values(timeline: Timeline) -> dict[str, Any]:
    return {member: track["level"] for member, track in timeline["members"].items()}


_TICK = timedelta(microseconds=1)


def _parse(text: str | None) -> datetime | None:
    return None if text is None else _parsed(text)


@lru_cache(maxsize=8192)
def _parsed(text: str) -> datetime:
    # The watermark reads every member's times on every message, and most have not moved since
    # the last one: a cached lookup costs less than parsing them again.
    return datetime.fromisoformat(text)
