"""The catalogues a worker runs with, and their hot reload.

A catalogue file dropped into ``catalogue_dir`` with the same id as the one in force and a
newer version replaces it, without a restart; a ``reload_catalogues`` command makes the worker
look again at once. Anything else is refused, audited as ``catalogue_refused`` with the file and
the reason, and the running catalogue stays:

- a file that fails validation (``opel.catalogue_load``: the file, the path inside it, the problem);
- a draft, unless ``OPEL_ALLOW_DRAFT_CATALOGUES`` is on, and a superseded catalogue;
- the same id and version as the one in force with different content: a loaded catalogue is known
  by id, version and content hash (``CatalogueMeta.identity``), and new content needs a new version;
- a lower version than the one in force (versions compare as dotted numbers: 1.10 > 1.9);
- an indicator catalogue that names no action plan: the actions the roles are told (escalation
  events, the board) always come from the action plan of the catalogue in force, so a worker
  never starts on, or switches to, a catalogue without one, and never falls back to another
  plan's actions. A named plan that cannot be loaded is refused the same way;
- a catalogue that drops an area or indicator (acute: a site) of the one in force. Every area,
  indicator and site of the catalogue in force counts as still receiving readings: the worker
  cannot tell a feed that has stopped for good from one that is late, so dropping one is an
  operator's decision, confirmed by naming it in ``OPEL_CONFIRM_CATALOGUE_REMOVALS``
  (``area:swale,indicator:referrals``) or in ``reload(confirm_removals=...)``.

A refusal never raises: whatever goes wrong with one file is audited and the next file is read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opel.actions import ActionPlan
from opel.actions_load import load_action_plan
from opel.catalogue import AcuteCatalogue, Catalogue, CatalogueMeta, IndicatorCatalogue
from opel.catalogue_load import load_catalogue
from opel.contracts.audit import AuditRecord, audit_record
from opel.errors import CatalogueError
from opel.escalation import EscalationPolicy
from opel.forecast.settings import WarningSettings
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
        for catalogue in (indicators, acute):
            if catalogue.meta.status == DRAFT and not settings.allow_draft_catalogues:
                raise CatalogueError(catalogue.meta.source, "status", DRAFT_REFUSED)
        if indicators.action_plan is None:
            raise CatalogueError(indicators.meta.source, "action_plan", NO_ACTION_PLAN)
        self._county = county
        self._mtimes: dict[Path, float] = {}
        self._context = self._build(indicators, acute)
        # What the first look at catalogue_dir decided, handed out by the next reload() so the
        # worker's watcher audits it too.
        self._pending: list[AuditRecord] = []
        self._pending = self.reload()

    def _build(self, indicators: IndicatorCatalogue, acute: AcuteCatalogue) -> Context:
        if indicators.action_plan is None:
            raise CatalogueError(indicators.meta.source, "action_plan", NO_ACTION_PLAN)
        actions = load_action_plan(indicators.action_plan)
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
            warnings=WarningSettings(
                min_confidence=self._settings.warning_min_confidence,
                min_lead_hours=self._settings.warning_min_lead_hours,
            ),
        )

    @property
    def context(self) -> Context:
        return self._context

    @property
    def action_plan(self) -> ActionPlan:
        """The action plan of the catalogue in force; it changes when a new catalogue does."""
        actions = self._context.actions
        assert actions is not None, "the store never holds a catalogue without an action plan"
        return actions

    def versions(self) -> list[dict[str, Any]]:
        """The catalogues in force, each with the content hash that, with id and version, names it."""
        ctx = self._context
        return [_summary("indicators", ctx.catalogue.meta), _summary("acute", ctx.acute.meta)]

    def reload(
        self,
        *,
        force: bool = False,
        author: str | None = None,
        confirm_removals: Collection[str] = (),
    ) -> list[AuditRecord]:
        """Look for new catalogue versions; returns audit records of what was loaded or refused.

        ``force`` looks again at files already seen; ``confirm_removals`` adds ``kind:id``
        entries to ``OPEL_CONFIRM_CATALOGUE_REMOVALS`` for this call.
        """
        audits, self._pending = self._pending, []
        folder = self._settings.catalogue_dir
        if folder is None or not folder.is_dir():
            return audits
        now = self._clock()
        confirmed = self._settings.catalogue_removals_confirmed | frozenset(confirm_removals)
        for path, mtime in _files(folder):
            if not force and self._mtimes.get(path) == mtime:
                continue
            self._mtimes[path] = mtime
            try:
                record = self._consider(path, now, author, confirmed)
            except Exception as exc:  # a refusal must never stop the worker
                log.exception("catalogue check failed on %s, keeping the running one", path)
                record = _refused(path, now, author, f"{path}: could not be checked: {exc!r}")
            if record is not None:
                audits.append(record)
        return audits

    def _consider(
        self, path: Path, now: datetime, author: str | None, confirmed: frozenset[str]
    ) -> AuditRecord | None:
        """Load one file and decide on it: an audit record, or None when it is not for this worker."""
        try:
            loaded = load_catalogue(str(path))
        except CatalogueError as exc:
            log.error("catalogue refused, keeping the running one: %s", exc)
            return _refused(path, now, author, str(exc))
        ctx = self._context
        current: Catalogue
        if isinstance(loaded, IndicatorCatalogue) and loaded.meta.id == ctx.catalogue.meta.id:
            current = ctx.catalogue
        elif isinstance(loaded, AcuteCatalogue) and loaded.meta.id == ctx.acute.meta.id:
            current = ctx.acute
        else:
            return None  # another catalogue: not the one this worker runs
        if loaded.meta.content_hash == current.meta.content_hash:
            return None  # the catalogue in force, perhaps in another file: nothing new
        problem = self._refusal(loaded, current, confirmed)
        if problem is not None:
            log.error("catalogue %s refused, keeping %s: %s", path, current.meta.ref, problem)
            return _refused(path, now, author, f"{path}: {problem}", loaded=loaded.meta, kept=current.meta)
        if isinstance(loaded, IndicatorCatalogue):
            try:
                new = self._build(loaded, ctx.acute)
            except CatalogueError as exc:  # its action plan went missing since validation
                log.error("catalogue %s refused, keeping %s: %s", path, current.meta.ref, exc)
                return _refused(path, now, author, str(exc), loaded=loaded.meta, kept=current.meta)
        else:
            assert isinstance(loaded, AcuteCatalogue)
            new = replace(ctx, acute=loaded)
        self._context = new
        log.info("catalogue %s %s now in force (from %s)", loaded.meta.id, loaded.meta.version, path)
        return audit_record(
            "catalogue_loaded",
            None,
            now,
            input={"file": str(path), "content_hash": loaded.meta.content_hash},
            catalogue=loaded.meta.id,
            catalogue_version=loaded.meta.version,
            author=author,
            reason=f"new version {loaded.meta.version} replaces {current.meta.version}",
            outcome={"in_force": _identity(loaded.meta), "replaced": _identity(current.meta)},
        )

    def _refusal(self, loaded: Catalogue, current: Catalogue, confirmed: frozenset[str]) -> str | None:
        """Why ``loaded`` may not replace ``current`` (same id, other content), or None."""
        new, old = loaded.meta, current.meta
        if new.status == DRAFT and not self._settings.allow_draft_catalogues:
            return DRAFT_REFUSED
        if new.status == SUPERSEDED:
            return "status is superseded: the file itself says it is no longer in force"
        if isinstance(loaded, IndicatorCatalogue) and loaded.action_plan is None:
            return NO_ACTION_PLAN
        if new.version_key == old.version_key:
            return (
                f"same id and version as the catalogue in force ({old.ref}) with different content "
                f"({new.content_hash}, in force {old.content_hash}): changed content needs a new version"
            )
        if new.version_key < old.version_key:
            return f"version {new.version} is lower than version {old.version} in force"
        dropped = sorted(_in_use(current) - _in_use(loaded) - confirmed)
        if dropped:
            return (
                f"drops {', '.join(dropped)}, still receiving readings (every area, indicator and "
                f"site of the catalogue in force counts as receiving them); to drop them, confirm "
                f"with OPEL_CONFIRM_CATALOGUE_REMOVALS={','.join(dropped)}"
            )
        return None


DRAFT = "draft"
SUPERSEDED = "superseded"
DRAFT_REFUSED = "status is draft: set OPEL_ALLOW_DRAFT_CATALOGUES=true to run drafts (tests, exercises)"
NO_ACTION_PLAN = (
    "names no action plan: the roles' actions come from the action plan of the catalogue in force, "
    "so an indicator catalogue must name one (action_plan: kcc-asch-actions-v1.8)"
)


def _files(folder: Path) -> list[tuple[Path, float]]:
    """The YAML files in ``folder`` with their modification times, oldest first."""
    found: list[tuple[Path, float]] = []
    for path in folder.glob("*.y*ml"):
        try:
            found.append((path, path.stat().st_mtime))
        except OSError:
            continue  # removed while we looked
    return sorted(found, key=lambda item: (item[1], item[0].name))


def _in_use(catalogue: Catalogue) -> frozenset[str]:
    """What readings arrive for under ``catalogue``, as ``kind:id`` entries."""
    if isinstance(catalogue, IndicatorCatalogue):
        return frozenset(
            [f"area:{area}" for area in catalogue.areas]
            + [f"indicator:{indicator}" for indicator in catalogue.indicators]
        )
    if isinstance(catalogue, AcuteCatalogue):
        return frozenset(f"site:{site}" for site in catalogue.sites)
    return frozenset()


def _identity(meta: CatalogueMeta) -> dict[str, str]:
    return {"id": meta.id, "version": meta.version, "content_hash": meta.content_hash}


def _summary(kind: str, meta: CatalogueMeta) -> dict[str, Any]:
    return {
        "kind": kind,
        "id": meta.id,
        "version": meta.version,
        "content_hash": meta.content_hash,
        "status": meta.status,
        "source": meta.source,
    }


def _refused(
    path: Path,
    now: datetime,
    author: str | None,
    reason: str,
    *,
    loaded: CatalogueMeta | None = None,
    kept: CatalogueMeta | None = None,
) -> AuditRecord:
    file: dict[str, Any] = {"file": str(path)}
    if loaded is not None:
        file["content_hash"] = loaded.content_hash
    return audit_record(
        "catalogue_refused",
        None,
        now,
        input=file,
        catalogue=None if loaded is None else loaded.id,
        catalogue_version=None if loaded is None else loaded.version,
        author=author,
        reason=reason,
        outcome=None if kept is None else {"kept": _identity(kept)},
    )
