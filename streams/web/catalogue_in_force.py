"""The indicator catalogue in force, read from the summaries the server is given (``GET /catalogues``).

As :mod:`streams.web.scopes` does for scopes: a summary names its catalogue by id, version and
content hash; the catalogue is loaded from its source file (or the shipped one of that id),
checked against the hash and kept per hash, so a hot reload is followed and nothing is read twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from opel.catalogue import IndicatorCatalogue
from opel.catalogue_load import load_catalogue

__all__ = ["IndicatorsInForce"]

log = logging.getLogger(__name__)


class IndicatorsInForce:
    def __init__(self, summaries: Callable[[], list[dict[str, Any]]]) -> None:
        self._summaries = summaries
        self._by_hash: dict[str, IndicatorCatalogue | None] = {}

    def __call__(self) -> IndicatorCatalogue | None:
        """The indicator catalogue in force; None when it cannot be read."""
        for summary in self._summaries():
            content_hash = summary.get("content_hash")
            if summary.get("kind") != "indicators" or not isinstance(content_hash, str):
                continue
            if content_hash not in self._by_hash:
                self._by_hash[content_hash] = self._read(summary, content_hash)
            found = self._by_hash[content_hash]
            if found is not None:
                return found
        return None

    @staticmethod
    def _read(summary: dict[str, Any], content_hash: str) -> IndicatorCatalogue | None:
        for name in (summary.get("source"), summary.get("id")):
            if not isinstance(name, str) or not name:
                continue
            try:
                catalogue = load_catalogue(name)
            except Exception:  # a file moved or changed: try the next way of finding it
                continue
            if isinstance(catalogue, IndicatorCatalogue) and catalogue.meta.content_hash == content_hash:
                return catalogue
        log.warning(
            "cannot read indicator catalogue %s %s (%s)",
            summary.get("id"),
            summary.get("version"),
            content_hash,
        )
        return None
