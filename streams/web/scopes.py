"""Which scopes exist: the ones the catalogues in force define, so a command can name only those.

The server is given the catalogues in force as the summaries ``GET /catalogues`` lists (kind,
id, version, content hash and source file, :meth:`streams.catalogues.CatalogueStore.versions`).
A summary names its catalogue exactly (id, version and content hash), so the scopes are read
from that catalogue (its source file, or the shipped catalogue of that id), checked against the
hash, and kept per hash: a hot reload changes the summary and so the scopes, and nothing is
read twice. A summary that cannot be matched to its content (no hash, a file changed since) is
left out and logged; when no catalogue can be read at all, :meth:`ScopeCatalogue.known` says so
(None) and the caller falls back to the scopes the status view has seen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from opel.catalogue import AcuteCatalogue, Catalogue, IndicatorCatalogue
from opel.catalogue_load import load_catalogue

__all__ = ["ScopeCatalogue", "catalogue_scopes"]

log = logging.getLogger(__name__)

Summaries = Callable[[], list[dict[str, Any]]]


def catalogue_scopes(catalogue: Catalogue) -> frozenset[str]:
    """The scope keys one catalogue defines: its areas and indicators per area, or sites and systems."""
    if isinstance(catalogue, IndicatorCatalogue):
        return frozenset(
            [f"area/{area}" for area in catalogue.areas]
            + [f"indicator/{indicator}/{area}" for indicator, area in catalogue.rules]
        )
    if isinstance(catalogue, AcuteCatalogue):
        return frozenset(
            [f"site/{site}" for site in catalogue.sites]
            + [f"system/{system}" for system in catalogue.systems]
        )
    return frozenset()


class ScopeCatalogue:
    """The scopes of the catalogues in force, plus the county's own scope."""

    def __init__(self, summaries: Summaries, county_scope: str) -> None:
        self._summaries = summaries
        self._county_scope = county_scope
        self._by_hash: dict[str, frozenset[str] | None] = {}

    def known(self) -> frozenset[str] | None:
        """Every scope key in force; None when no catalogue in force could be read."""
        found: set[str] = set()
        read_any = False
        for summary in self._summaries():
            scopes = self._scopes_of(summary)
            if scopes is not None:
                read_any = True
                found |= scopes
        if not read_any:
            return None
        found.add(self._county_scope)
        return frozenset(found)

    def _scopes_of(self, summary: dict[str, Any]) -> frozenset[str] | None:
        content_hash = summary.get("content_hash")
        if not isinstance(content_hash, str):
            return None
        if content_hash not in self._by_hash:
            self._by_hash[content_hash] = self._read(summary, content_hash)
        return self._by_hash[content_hash]

    @staticmethod
    def _read(summary: dict[str, Any], content_hash: str) -> frozenset[str] | None:
        candidates: Iterable[object] = (summary.get("source"), summary.get("id"))
        for name in candidates:
            if not isinstance(name, str) or not name:
                continue
            try:
                catalogue = load_catalogue(name)
            except Exception:  # a file moved or changed: try the next way of finding it
                continue
            if catalogue.meta.content_hash == content_hash:
                return catalogue_scopes(catalogue)
        log.warning(
            "cannot read catalogue %s %s (%s) to check command scopes against it",
            summary.get("id"),
            summary.get("version"),
            content_hash,
        )
        return None
