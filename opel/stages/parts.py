"""A stored book as small parts, so a stage writes what changed and no record grows with the map.

A book (:mod:`opel.stages.book`) was stored whole, one record per key: every message rewrote an
area's every scope, and the county's record held every area's merge track with its queue of
changes, which a skewed backlog grew past the broker's 1 MB message limit. Split, a book is

- ``meta``: its small fields (the timeline's ``done`` and ``created`` among them);
- ``s|SCOPE``: one scope record each;
- ``r|INDICATOR``: one held reading each (areas);
- ``m|MEMBER``: one merge track each (county, systems), without its queue;
- ``p|MEMBER|N``: the queue in chunks of :data:`CHUNK` changes, numbered by each change's
  absolute position in the member's queue (``head`` counts the changes already released), so
  appending rewrites only the last chunk and releasing only the first.

So a part's size depends on one scope, one member or ``CHUNK`` changes, never on the number of
areas, indicators or the depth of a backlog. :func:`join` is :func:`split`'s inverse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from opel.stages.book import Book

CHUNK: Final = 256
"""Queued changes per stored part: a change is about 40 bytes of JSON, so a chunk about 10 KB."""
META: Final = "meta"
SCOPE: Final = "s|"
READING: Final = "r|"
MEMBER: Final = "m|"
QUEUE: Final = "p|"
_SPLIT: Final = ("scopes", "readings", "timeline")


def meta(book: Book) -> dict[str, Any]:
    out = {k: v for k, v in book.items() if k not in _SPLIT}
    timeline = book.get("timeline")
    if timeline is not None:
        out["timeline"] = {k: v for k, v in timeline.items() if k != "members"}
    return out


def member(track: Mapping[str, Any]) -> dict[str, Any]:
    """A merge track without its queue."""
    return {k: v for k, v in track.items() if k != "pending"}


def chunk(track: Mapping[str, Any], n: int) -> list[Any] | None:
    """The queued changes of chunk ``n`` still pending (None: none are)."""
    head = track.get("head", 0)
    pending = track["pending"]
    lo = max(n * CHUNK, head) - head
    hi = min((n + 1) * CHUNK, head + len(pending)) - head
    return pending[lo:hi] if hi > lo else None


def chunks(track: Mapping[str, Any]) -> range:
    """The chunk numbers that hold the track's queue now."""
    head = track.get("head", 0)
    tail = head + len(track["pending"])
    return range(head // CHUNK, (tail - 1) // CHUNK + 1) if tail > head else range(0)


def queue_key(name: str, n: int) -> str:
    return f"{QUEUE}{name}|{n}"


def split(book: Book) -> dict[str, Any]:
    """Every part of a stored (frozen) book."""
    out: dict[str, Any] = {META: meta(book)}
    out.update((SCOPE + key, rec) for key, rec in book.get("scopes", {}).items())
    out.update((READING + key, rec) for key, rec in book.get("readings", {}).items())
    timeline = book.get("timeline")
    if timeline is not None:
        for name, track in timeline["members"].items():
            out[MEMBER + name] = member(track)
            out.update((queue_key(name, n), chunk(track, n)) for n in chunks(track))
    return out


def join(parts: Mapping[str, Any]) -> Book:
    """The book whose parts these are."""
    book: Book = dict(parts[META])
    scopes: dict[str, Any] = {}
    readings: dict[str, Any] = {}
    members: dict[str, dict[str, Any]] = {}
    queued: dict[str, list[tuple[int, list[Any]]]] = {}
    for key, value in parts.items():
        if key.startswith(SCOPE):
            scopes[key[len(SCOPE) :]] = value
        elif key.startswith(READING):
            readings[key[len(READING) :]] = value
        elif key.startswith(MEMBER):
            members[key[len(MEMBER) :]] = dict(value)
        elif key.startswith(QUEUE):
            name, n = key[len(QUEUE) :].rsplit("|", 1)
            queued.setdefault(name, []).append((int(n), value))
    book["scopes"] = scopes
    if "timeline" in book:
        for name, track in members.items():
            track["pending"] = [c for _, part in sorted(queued.get(name, ())) for c in part]
        book["timeline"] = {**book["timeline"], "members": members}
    elif "area" in book:
        book["readings"] = readings
    return book


def changed_chunks(track: Mapping[str, Any], before: tuple[int, int, int] | None) -> set[int]:
    """The chunk numbers that may differ from when the track was ``before`` (head, length, edits).

    A queue only grows at its tail and is released from its head, except for a change inserted
    out of order or a reset, which bump ``edits``: then every chunk it spanned is rewritten.
    """
    head = track.get("head", 0)
    tail = head + len(track["pending"])
    old_head, old_tail = (head, head) if before is None else (before[0], before[0] + before[1])
    if before is None or before[2] != track.get("edits", 0):
        start, end = min(head, old_head), max(tail, old_tail)
        return set(range(start // CHUNK, (end - 1) // CHUNK + 1)) if end > start else set()
    out: set[int] = set()
    if head != old_head:  # released: the chunks it emptied, and the one it now starts in
        out.update(range(min(head, old_head) // CHUNK, max(head, old_head) // CHUNK + 1))
    if tail != old_tail:  # appended
        out.update(range(min(tail, old_tail) // CHUNK, (max(tail, old_tail) - 1) // CHUNK + 1))
    return out


def shape(track: Mapping[str, Any]) -> tuple[int, int, int]:
    """What :func:`changed_chunks` compares a track's queue by."""
    return (track.get("head", 0), len(track["pending"]), track.get("edits", 0))
