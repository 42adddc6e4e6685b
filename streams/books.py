"""A stage's books kept live in memory between messages and stored as small parts, as deltas.

A stage read its key's whole book from its Faust table and wrote it back whole after every
message, so the changelog record grew with the map and, for the county, with the depth of a
backlog (its merge queue): a 1,031,157-byte write once crashed Faust's producer. :class:`Books`
stands where the table stood (``get`` and item assignment, all a stage does with it):

- the books stay in memory between messages, as the stage left them;
- each is stored as the parts of :mod:`opel.stages.parts` (a scope, a held reading, a merge
  track, a bounded chunk of its queue), keyed ``BOOK|PART`` in the same table, and a message
  writes only the parts that differ from what was last written (a tombstone for a part gone);
- after a rebalance (a partition may have moved, its table been restored from the changelog)
  the memory is dropped and the books are assembled again from the table's parts, once the
  table is restored (:class:`RestoredTables`), never while it is being restored.

A message's parts are written as one unit, although they are several records: each record is
``[version, value, previous]`` and the book's ``meta`` part is written last, with the version,
as the commit mark (all go to one changelog partition, in order). A worker killed part way
through leaves records newer than the last mark; reading the book back takes their previous
value instead, and sets those records right, so a replayed message meets the book as it was
before it, never half of it. A part removed is first written as ``[version, None, previous]``,
and its tombstone follows at the book's next write, once the removal is committed.

A book stored whole by an older worker (a key without ``|``) is read as such and replaced by
its parts at its next write.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from opel.stages import parts
from opel.stages.book import Book

SEP = "|"


class Books:
    """The books of one stage over its Faust table (see the module's doc)."""

    def __init__(self, table: MutableMapping[str, Any], generation: Callable[[], int | None]) -> None:
        self._table = table
        self._generation = generation
        self._loaded_at: int | None = None
        self._books: dict[str, Book] = {}
        self._written: dict[str, dict[str, Any]] = {}  # book -> part -> value as last committed
        self._queues: dict[str, dict[str, tuple[int, int, int]]] = {}  # book -> member -> parts.shape
        self._versions: dict[str, int] = {}  # book -> version of its last commit mark
        self._removed: dict[str, set[str]] = {}  # book -> parts removed, tombstones still to write
        self._whole: set[str] = set()  # books stored whole by an older worker

    def get(self, key: str, default: Book | None = None) -> Book | None:
        self._load()
        return self._books.get(key, default)

    def __setitem__(self, key: str, book: Book) -> None:
        self._load()
        written = self._written.setdefault(key, {})
        version = self._versions.get(key, 0) + 1
        for part in self._removed.pop(key, ()):
            del self._table[f"{key}{SEP}{part}"]
        delta = self._delta(book, written, self._queues.setdefault(key, {}))
        meta = delta.pop(parts.META, written.get(parts.META))
        removed: set[str] = set()
        for part, value in delta.items():
            previous = written.get(part)
            if value is None:
                if previous is None:
                    continue  # never stored
                del written[part]
                removed.add(part)
            else:
                written[part] = value
            self._table[f"{key}{SEP}{part}"] = [version, value, previous]
        # Last: the commit mark of everything above.
        self._table[f"{key}{SEP}{parts.META}"] = [version, meta, None]
        written[parts.META] = meta
        self._versions[key] = version
        if removed:
            self._removed[key] = removed
        if key in self._whole:
            self._whole.discard(key)
            del self._table[key]
        self._books[key] = book

    def _delta(
        self, book: Book, written: dict[str, Any], queues: dict[str, tuple[int, int, int]]
    ) -> dict[str, Any]:
        """The parts to write (None: to delete) for ``book`` to be stored as it is now."""
        out: dict[str, Any] = {}
        current: set[str] = {parts.META}
        meta = parts.meta(book)
        if written.get(parts.META) != meta:
            out[parts.META] = meta
        for prefix, records in (
            (parts.SCOPE, book.get("scopes", {})),
            (parts.READING, book.get("readings", {})),
        ):
            for name, value in records.items():
                part = prefix + name
                current.add(part)
                before = written.get(part)
                # Stages replace a stored record rather than change it, so most are the very
                # object written last time; the comparison is for those rebuilt unchanged.
                if before is not value and before != value:
                    out[part] = value
        timeline = book.get("timeline")
        if timeline is not None:
            for name, track in timeline["members"].items():
                part = parts.MEMBER + name
                current.add(part)
                member = parts.member(track)
                if written.get(part) != member:
                    out[part] = member
                for n in parts.changed_chunks(track, queues.get(name)):
                    out[parts.queue_key(name, n)] = parts.chunk(track, n)
                queues[name] = parts.shape(track)
                current.update(parts.queue_key(name, n) for n in parts.chunks(track))
        for part in written.keys() - current:
            out.setdefault(part, None)
        return out

    def _load(self) -> None:
        """Assemble every book from the table once after each rebalance, when it is restored.

        While a rebalance is under way (generation None) the books stay as they are: a message
        still in flight finishes on what it had. The table may then be part way through
        reading its changelog again (a memory store re-reads it from the start, older values
        first; a partition just assigned has nothing yet), and books read then would stand
        for the whole generation: a partition's books missing or old, and older parts
        written back over the restore as if a write had been cut short.
        """
        generation = self._generation()
        if generation is None or self._loaded_at == generation:
            return
        records: dict[str, dict[str, list[Any]]] = {}
        whole: dict[str, Book] = {}
        for key, value in list(self._table.items()):
            if value is None:
                continue
            book, sep, part = key.partition(SEP)
            if sep:
                records.setdefault(book, {})[part] = value
            else:
                whole[key] = value
        self._books, self._written, self._queues, self._versions, self._removed = {}, {}, {}, {}, {}
        for book, found in records.items():
            mark = found.get(parts.META)
            committed = 0 if mark is None else mark[0]
            current: dict[str, Any] = {}
            removed: set[str] = set()
            for part, (version, value, previous) in found.items():
                kept = value
                if version > committed:  # written by a message that did not finish
                    kept = previous
                    table_key = f"{book}{SEP}{part}"
                    if kept is None:
                        del self._table[table_key]
                    else:
                        self._table[table_key] = [committed, kept, None]
                if kept is None:
                    if version <= committed:
                        removed.add(part)  # a committed removal: its tombstone is still to write
                else:
                    current[part] = kept
            if parts.META not in current:
                continue
            if removed:
                self._removed[book] = removed
            self._books[book] = parts.join(current)
            self._written[book] = current
            self._versions[book] = committed
            members = self._books[book].get("timeline", {}).get("members", {})
            self._queues[book] = {name: parts.shape(track) for name, track in members.items()}
        for key, value in whole.items():
            if key not in self._books:
                self._books[key] = value
                self._whole.add(key)
        self._loaded_at = generation


class RestoredTables:
    """The generation of a Faust app's tables that :class:`Books` may read: a number that
    changes once the tables are restored after each rebalance, None from the moment a
    rebalance starts until then.

    Faust counts a rebalance (``rebalancing_count``) when it *starts*, before partitions move
    and tables are re-read; its ``on_rebalance_complete`` signal is sent once the active tables
    are restored, before the streams resume.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._restored: int | None = None
        app.on_rebalance_complete.connect(self._on_restored)

    async def _on_restored(self, sender: Any, **kwargs: Any) -> None:
        self._restored = self._app.rebalancing_count

    def __call__(self) -> int | None:
        count: int = self._app.rebalancing_count
        return count if self._restored == count else None
