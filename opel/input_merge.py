"""An area's inputs merged in event time, whatever order Kafka delivers them in.

An area's readings and referral events come from several topics (capacity, referrals,
referral events). Kafka keeps order within one topic partition but not across topics, so after
a backlog, a restart or a rebalance the referrals of 12:00 may be fetched before the capacity
readings of 11:00. Applying them as they come would let the area's data time run ahead and
step a level down that the 11:00 readings should have held (docs/semantics.md, "Time").

So ingest holds each area's items per source and releases them in (time, source, arrival)
order up to the area's *watermark*: the earliest time that every source still live for the
area has reached. A source stops holding the area back once it is *idle* for it, which the
shell decides from Kafka (its partition read to the end, and nothing for the area for a
while; see :mod:`streams.ingest`). An item older than what the area has already been given is
*late*: it is released at once, and the area stage audits it as late.

Pure and synchronous: the shell offers records and asks what can be released; ``where`` is
the record's position, opaque here, so the shell can commit only what has been released.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")
Where = tuple[Hashable, int]  # (partition, offset)


@dataclass(frozen=True, slots=True)
class _Held(Generic[T]):
    at: datetime
    source: str
    seq: int
    where: Where
    item: T


class InputMerge(Generic[T]):
    """Per area: a queue per source and the latest time seen from each source."""

    def __init__(self, sources: Sequence[str]) -> None:
        self.sources = tuple(sources)
        self._queues: dict[str, dict[str, deque[_Held[T]]]] = {}
        self._marks: dict[tuple[str, str], datetime] = {}
        self._seq = 0

    def offer(self, key: str, source: str, at: datetime, item: T, where: Where) -> None:
        """Hold one item of ``key`` from ``source``, stamped ``at``, read from ``where``."""
        self._seq += 1
        queues = self._queues.setdefault(key, {})
        queues.setdefault(source, deque()).append(_Held(at, source, self._seq, where, item))
        mark = self._marks.get((key, source))
        if mark is None or at > mark:
            self._marks[(key, source)] = at

    def release(self, idle: Callable[[str, str], bool]) -> dict[str, list[T]]:
        """Every item that can go now, per key, in (time, source, arrival) order.

        An item can go once no source still live for its key could send one that sorts before
        it: every other live source has reached a later time, or the same time with a name
        that sorts after. Each source delivers its own items in time order (one partition);
        a late item (older than what its key was given) is not held, since the past cannot be
        reordered: the stage applies it at the area's current time and audits it as late.
        """
        out: dict[str, list[T]] = {}
        for key in list(self._queues):
            queues = self._queues[key]
            live: list[tuple[str, datetime]] = []
            waiting = False
            for source in self.sources:
                if idle(key, source):
                    continue
                mark = self._marks.get((key, source))
                if mark is None:
                    waiting = True  # a live source that has said nothing yet: wait for it
                    break
                live.append((source, mark))
            if waiting:
                continue
            items = self._pop(queues, live)
            if items:
                out[key] = [held.item for held in items]
            if not any(queues.values()):
                del self._queues[key]
        return out

    @staticmethod
    def _pop(queues: dict[str, deque[_Held[T]]], live: list[tuple[str, datetime]]) -> list[_Held[T]]:
        taken: list[_Held[T]] = []
        while True:
            best: _Held[T] | None = None
            for queue in queues.values():
                if queue:
                    head = queue[0]
                    if best is None or (head.at, head.source, head.seq) < (best.at, best.source, best.seq):
                        best = head
            if best is None:
                return taken
            for source, mark in live:
                if source != best.source and (mark < best.at or (mark == best.at and source < best.source)):
                    return taken  # that source may still send something that goes first
            queues[best.source].popleft()
            taken.append(best)

    def holding(self, key: str) -> bool:
        return bool(self._queues.get(key))

    def held_offsets(self) -> dict[Hashable, int]:
        """Per partition, the lowest offset still held: nothing from there on may be committed."""
        lowest: dict[Hashable, int] = {}
        for queues in self._queues.values():
            for queue in queues.values():
                for held in queue:
                    partition, offset = held.where
                    if partition not in lowest or offset < lowest[partition]:
                        lowest[partition] = offset
        return lowest

    def forget(self, keys: Iterable[str]) -> None:
        """Drop everything held and known for these keys (their partitions were revoked: the new
        owner re-reads them from the last commit)."""
        for key in keys:
            self._queues.pop(key, None)
            for source in self.sources:
                self._marks.pop((key, source), None)
