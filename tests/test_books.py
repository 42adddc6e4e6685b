"""streams.books: books stored as parts, written as deltas, read back whole even after a crash
part way through a write (the changelog then holds a prefix of the write's records)."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator, MutableMapping
from typing import Any

import faust

from opel.stages import parts
from streams.books import Books, RestoredTables


class LoggedTable(MutableMapping[str, Any]):
    """A dict that keeps the sequence of writes, as a changelog does (None: a tombstone)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.log: list[tuple[str, Any]] = []

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        value = json.loads(json.dumps(value))  # stored as bytes: no object is shared
        self.data[key] = value
        self.log.append((key, value))

    def __delitem__(self, key: str) -> None:
        del self.data[key]
        self.log.append((key, None))

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def restored(log: list[tuple[str, Any]]) -> LoggedTable:
    """The table a restarted worker recovers from a changelog holding ``log``."""
    table = LoggedTable()
    for key, value in log:
        if value is None:
            table.data.pop(key, None)
        else:
            table.data[key] = value
    return table


def county_books(seed: int, steps: int) -> Iterator[dict[str, Any]]:
    """A county-like book changed at random as the county stage changes it, after each step."""
    rng = random.Random(seed)
    book: dict[str, Any] = {
        "name": "kent",
        "timeline": {"members": {}, "done": None, "created": "2026-01-01T00:00:00+00:00"},
        "scopes": {},
        "clock": None,
    }
    members = book["timeline"]["members"]
    for step in range(steps):
        name = f"area_{rng.randrange(6)}"
        track = members.setdefault(name, {"wm": None, "seen": None, "level": None, "pending": []})
        roll = rng.random()
        if roll < 0.8:
            track["pending"].append([f"t{step:06d}", step % 4 + 1])
        elif roll < 0.95:
            taken = min(rng.randrange(4), len(track["pending"]))
            del track["pending"][:taken]
            track["head"] = track.get("head", 0) + taken
            track["level"] = rng.randrange(1, 5)
        elif track["pending"]:
            track["pending"].insert(rng.randrange(len(track["pending"])), [f"x{step:06d}", 2])
            track["edits"] = track.get("edits", 0) + 1
        book["scopes"] = {
            **book["scopes"],
            f"s{step % 5}": {"state": [step % 4 + 1], "computed": 1, "facts": {}},
        }
        if rng.random() < 0.05:
            book["scopes"].pop(f"s{rng.randrange(5)}", None)
        book["timeline"]["done"] = f"t{step:06d}"
        yield book


def test_every_write_reads_back_whole_and_no_part_grows_with_the_queue() -> None:
    table = LoggedTable()
    books = Books(table, lambda: 0)
    for step, book in enumerate(county_books(1, 3000)):
        books["kent"] = book
        if step % 50 == 0 or step == 2999:
            again = Books(restored(table.log), lambda: 0).get("kent")
            assert again == json.loads(json.dumps(book))
    queued = sum(len(t["pending"]) for t in book["timeline"]["members"].values())
    assert queued > 3 * parts.CHUNK  # deep enough to need several chunks
    assert max(len(json.dumps(v)) for v in table.data.values()) < 60 * parts.CHUNK


def test_a_write_cut_short_reads_back_as_the_book_before_it() -> None:
    rng = random.Random(7)
    table = LoggedTable()
    books = Books(table, lambda: 0)
    before: dict[str, Any] | None = None
    for book in county_books(2, 400):
        start = len(table.log)
        books["kent"] = book
        after = json.loads(json.dumps(book))
        cut = rng.randrange(start, len(table.log) + 1)
        recovered = Books(restored(table.log[:cut]), lambda: 0)
        got = recovered.get("kent")
        assert got == (after if cut == len(table.log) else before)
        before = copy.deepcopy(after)


def test_a_book_stored_whole_before_is_read_and_then_stored_as_parts() -> None:
    table = LoggedTable()
    whole = {"area": "dgs", "readings": {"a": {"level": 1}}, "scopes": {}, "wm": None}
    table["dgs"] = whole
    books = Books(table, lambda: 0)
    assert books.get("dgs") == whole
    books["dgs"] = {**whole, "wm": "2026-01-01T00:00:00+00:00"}
    assert "dgs" not in table.data
    assert Books(restored(table.log), lambda: 0).get("dgs") == {**whole, "wm": "2026-01-01T00:00:00+00:00"}


def test_books_are_not_read_from_a_table_being_restored() -> None:
    """While a rebalance is under way (generation None) a message still in flight keeps the books
    it had: the table may be part way through re-reading its changelog (older values, or none
    yet for a partition just assigned) and reading it then would keep that for a whole
    generation, and write older values back. Once restored, the books are read again."""
    table = LoggedTable()
    generation: list[int | None] = [1]
    books = Books(table, lambda: generation[0])
    first = {"area": "dgs", "readings": {"a": {"level": 1}}, "scopes": {}, "wm": "t1"}
    second = {**first, "readings": {"a": {"level": 3}}, "wm": "t2"}
    books["dgs"] = first
    books["dgs"] = second
    log = list(table.log)

    generation[0] = None  # a rebalance starts; the table is re-read from its changelog
    table.data.clear()
    for key, value in log[: len(log) // 2]:
        table.data[key] = value  # part way through: an older state of the book
    writes = len(table.log)
    assert books.get("dgs") == second  # the in-flight message sees what it had
    third = {**second, "wm": "t3"}
    books["dgs"] = third
    assert len(table.log) > writes
    # nothing older was written back over the restore
    assert all(value is None or value[0] >= 2 for _, value in table.log[writes:])

    for key, value in log:  # the restore completes...
        table.data[key] = value
    for key, value in table.log[writes:]:
        table.data[key] = value
    generation[0] = 2  # ...and the tables are trusted again
    assert books.get("dgs") == third


def test_a_partition_assigned_by_a_rebalance_is_read_once_restored() -> None:
    """A book of a partition that came to this worker is found after the restore, even if a
    message in flight touched the books while the rebalance was under way."""
    table = LoggedTable()
    generation: list[int | None] = [1]
    books = Books(table, lambda: generation[0])
    books["dgs"] = {"area": "dgs", "readings": {}, "scopes": {}, "wm": "t1"}
    generation[0] = None
    assert books.get("swale") is None  # not restored yet
    other = Books(LoggedTable(), lambda: 0)
    other["swale"] = {"area": "swale", "readings": {"b": {"level": 4}}, "scopes": {}, "wm": "t9"}
    table.data.update(other._table.items())  # the changelog of swale, restored
    generation[0] = 2
    assert books.get("swale") == {"area": "swale", "readings": {"b": {"level": 4}}, "scopes": {}, "wm": "t9"}


async def test_restored_tables_follow_faust_rebalances() -> None:
    """The generation is None from a rebalance's start (Faust counts it then) until Faust says
    the tables are restored, and new after each restore."""
    app = faust.App("opel-test-restored-tables", broker="kafka://127.0.0.1:1", store="memory://")
    generation = RestoredTables(app)
    assert generation() is None  # nothing restored yet
    app.rebalancing_count += 1  # what app.on_rebalance_start() counts
    assert generation() is None
    await app.on_rebalance_complete.send()
    first = generation()
    assert first is not None
    app.rebalancing_count += 1  # the next rebalance starts
    assert generation() is None
    await app.on_rebalance_complete.send()
    assert generation() not in (None, first)
