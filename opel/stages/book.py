"""A book: the stored state of one stage key (an area, the county, a system).

A plain JSON-able dict so the streaming shell can keep it in a table without knowing what is
inside. For the length of one batch its scope records are thawed into objects; the stage
changes them in place and freezes the book back before it is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opel.escalation import ScopeState
from opel.levels import Level
from opel.scopes import Scope

Book = dict[str, Any]


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@dataclass(slots=True)
class ScopeRec:
    """One scope inside a thawed book: its escalation state, computed level and status facts.

    ``facts`` are the kind-specific fields of the scope's status (opel.contracts.status), in
    their JSON form because they are stored with the book.
    """

    state: ScopeState
    computed: int | None
    facts: dict[str, Any]


_MISSING: Any = object()


class Scopes(dict[str, Any]):
    """A thawed book's scope records, each turned into a :class:`ScopeRec` when first read.

    A batch reads a few of an area's scopes; thawing (and freezing back) every one of them per
    batch made a reading's cost grow with the area's indicators. A record never read stays in
    its stored form and is stored again as the very same object.
    """

    def _thawed(self, key: str, value: Any) -> ScopeRec:
        if isinstance(value, ScopeRec):
            return value
        rec = ScopeRec(load_state(key, value), value["computed"], value["facts"])
        dict.__setitem__(self, key, rec)
        return rec

    def __getitem__(self, key: str) -> ScopeRec:
        return self._thawed(key, dict.__getitem__(self, key))

    def get(self, key: str, default: Any = None) -> Any:
        value = dict.get(self, key, _MISSING)
        return default if value is _MISSING else self._thawed(key, value)

    def items(self) -> list[tuple[str, ScopeRec]]:  # type: ignore[override]
        return [(key, self._thawed(key, value)) for key, value in list(dict.items(self))]

    def values(self) -> list[ScopeRec]:  # type: ignore[override]
        return [rec for _, rec in self.items()]

    def stored(self) -> dict[str, Any]:
        """The JSON-able records: those never read as they were, the others dumped afresh."""
        return {
            key: (
                {"state": dump_state(value.state), "computed": value.computed, "facts": value.facts}
                if isinstance(value, ScopeRec)
                else value
            )
            for key, value in dict.items(self)
        }


def thaw(book: Book) -> Book:
    """Make a stored book's scope records readable as objects for the length of one batch."""
    book["scopes"] = Scopes(book.get("scopes", {}))
    return book


def freeze(book: Book) -> Book:
    """The JSON-able form of a thawed book (a new dict; the thawed one stays usable)."""
    out = {k: v for k, v in book.items() if not k.startswith("_")}  # "_": derived, not stored
    scopes = book["scopes"]
    out["scopes"] = (
        scopes.stored()
        if isinstance(scopes, Scopes)
        else {
            key: {"state": dump_state(rec.state), "computed": rec.computed, "facts": rec.facts}
            for key, rec in scopes.items()
        }
    )
    return out


def forget_derived(book: Book) -> None:
    """Drop the indexes a stage derives from a thawed book (keys starting ``_``): they are
    rebuilt from the book when next needed, after a change they were not kept through."""
    for key in [k for k in book if k.startswith("_")]:
        del book[key]


def record(book: Book, scope: Scope) -> ScopeRec:
    scopes = book["scopes"]
    rec: ScopeRec | None = scopes.get(scope.key)
    if rec is None:
        rec = scopes[scope.key] = ScopeRec(ScopeState(scope.key), None, {})
    return rec


def load_state(key: str, rec: Mapping[str, Any]) -> ScopeState:
    raw = rec["state"]
    if raw is None or (raw[0] is None and raw[2] is None):
        return ScopeState(key)
    level, since, last, h1, h2, h3 = raw
    return ScopeState(
        key,
        None if level is None else Level(level),
        parse_time(since),
        parse_time(last),
        (parse_time(h1), parse_time(h2), parse_time(h3)),
    )


def dump_state(state: ScopeState) -> list[Any]:
    # Positional, because a book holds one per scope and is rewritten on every change.
    h1, h2, h3 = state.held_since
    return [
        None if state.level is None else int(state.level),
        iso(state.since),
        iso(state.last_observed_at),
        iso(h1),
        iso(h2),
        iso(h3),
    ]


def active_override(book: Book, key: str) -> dict[str, Any] | None:
    """The override in force for a scope, as stored (the JSON form of opel.feeds.Override)."""
    override: dict[str, Any] | None = book.get("overrides", {}).get(key)
    return override


def in_force(state_level: Level | None, override: Mapping[str, Any] | None) -> int | None:
    if override is not None:
        return int(override["level"])
    return None if state_level is None else int(state_level)
