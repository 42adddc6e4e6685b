"""The catalogues a worker runs with, and their hot reload.

A catalogue file dropped into ``catalogue_dir`` with the same id as the one in force and a
different version replaces it, without a restart; so does a ``reload_catalogues`` command.
A file that fails validation is refused: the running catalogue stays and the refusal is
audited with the file, the path inside it and the problem.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opel.actions import ActionPlan
from opel.actions_load import load_action_plan
from opel.catalogue import AcuteCatalogue, IndicatorCatalogue
from opel.catalogue_load import load_catalogue
from opel.contracts.audit import AuditRecord, audit_record
from opel.errors import CatalogueError
from opel.escalation import EscalationPolicy
from opel.stages.context import Context, InputBounds
from streams.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Loaded:
    indicators: IndicatorCatalogue
    acute: AcuteCatalogue
    actions: ActionPlan | None


class CatalogueStore:
    """Holds the current :class:`Context`; :meth:`reload` swaps it when a new version validates."""

    def __init__(
        self,
        settings: Settings,
        *,
        county: str = "kent",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._clock = clock
        indicators = load_catalogue(settings.indicator_catalogue)
        acute = load_catalogue(settings.acute_catalogue)
        if not isinstance(indicators, IndicatorCatalogue):
            raise CatalogueError(settings.indicator_catalogue, "kind", "is not an indicator catalogue")
        if not isinstance(acute, AcuteCatalogue):
            raise CatalogueError(settings.acute_catalogue, "kind", "is not an acute catalogue")
        self._county = county
        self._mtimes: dict[Path, float] = {}
        self._context = self._build(indicators, acute)
        self.reload()

    def _build(self, indicators: IndicatorCatalogue, acute: AcuteCatalogue) -> Context:
        actions = load_action_plan(indicators.action_plan) if indicators.action_plan else None
        dwell = self._settings.step_down_dwell
        if dwell is None:  # a configured zero is a real choice, not "unset"
            dwell = indicators.step_down_dwell
        return Context(
            catalogue=indicators,
            acute=acute,
            actions=actions,
            policy=EscalationPolicy(dwell),
            county=self._county,
            idle_grace=self._settings.idle_grace,
            exercise=self._settings.exercise,
            bounds=InputBounds(
                max_skew=self._settings.max_clock_skew,
                max_age=self._settings.max_input_age,
                max_override=self._settings.max_override,
            ),
        )

    @property
    def context(self) -> Context:
        return self._context

    def versions(self) -> list[dict[str, Any]]:
        ctx = self._context
        return [
            {
                "kind": "indicators",
                "id": ctx.catalogue.meta.id,
                "version": ctx.catalogue.meta.version,
                "source": ctx.catalogue.meta.source,
            },
            {
                "kind": "acute",
                "id": ctx.acute.meta.id,
                "version": ctx.acute.meta.version,
                "source": ctx.acute.meta.source,
            },
        ]

    def reload(self, *, force: bool = False, author: str | None = None) -> list[AuditRecord]:
        """Look for new catalogue versions; returns audit records of what was loaded or refused."""
        folder = self._settings.catalogue_dir
        if folder is None or not folder.is_dir():
            return []
        audits: list[AuditRecord] = []
        now = self._clock()
        for path in sorted(folder.glob("*.y*ml"), key=lambda p: (p.stat().st_mtime, p.name)):
            mtime = path.stat().st_mtime
            if not force and self._mtimes.get(path) == mtime:
                continue
            self._mtimes[path] = mtime
            try:
                loaded = load_catalogue(str(path))
            except CatalogueError as exc:
                log.error("catalogue refused, keeping the running one: %s", exc)
                audits.append(
                    audit_record(
                        "catalogue_refused",
                        None,
                        now,
                        input={"file": str(path)},
                        author=author,
                        reason=str(exc),
                    )
                )
                continue
            ctx = self._context
            if isinstance(loaded, IndicatorCatalogue) and loaded.meta.id == ctx.catalogue.meta.id:
                if loaded.meta.version == ctx.catalogue.meta.version and loaded == ctx.catalogue:
                    continue
                new = self._build(loaded, ctx.acute)
            elif isinstance(loaded, AcuteCatalogue) and loaded.meta.id == ctx.acute.meta.id:
                if loaded.meta.version == ctx.acute.meta.version and loaded == ctx.acute:
                    continue
                new = replace(ctx, acute=loaded)
            else:
                continue  # another catalogue: not the one this worker runs
            self._context = new
            log.info("catalogue %s %s now in force (from %s)", loaded.meta.id, loaded.meta.version, path)
            audits.append(
                audit_record(
                    "catalogue_loaded",
                    None,
                    now,
                    input={"file": str(path)},
                    catalogue=loaded.meta.id,
                    catalogue_version=loaded.meta.version,
                    author=author,
                    reason="new version",
                )
            )
        return audits
