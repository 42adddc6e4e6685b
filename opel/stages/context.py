"""What a stage works with (the rules in force) and what it produces (the outputs of one batch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from opel.actions import ActionPlan
from opel.catalogue import AcuteCatalogue, IndicatorCatalogue
from opel.contracts.audit import AuditRecord
from opel.contracts.escalation import EscalationEvent
from opel.contracts.stage import AreaReport
from opel.contracts.warning import WarningEvent
from opel.escalation import EscalationPolicy
from opel.forecast.settings import WarningSettings
from opel.scopes import Scope, ScopeKind


@dataclass(frozen=True, slots=True)
class InputBounds:
    """How far an input's own time may stray from the clock, and how long an override may last."""

    max_skew: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=400)
    max_override: timedelta = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class Context:
    """The rules in force when a book is updated: catalogues, action plan, dwell, grace."""

    catalogue: IndicatorCatalogue
    acute: AcuteCatalogue
    actions: ActionPlan | None
    policy: EscalationPolicy
    county: str = "kent"
    idle_grace: timedelta = timedelta(seconds=60)
    exercise: bool = False
    source: str = "urn:opel:kcc-asch"
    bounds: InputBounds = InputBounds()
    # Early warning (issue 16); None switches it off (it never changes a level either way).
    warnings: WarningSettings | None = field(default_factory=WarningSettings)


@dataclass(slots=True)
class Emit:
    """What one batch produced, in the order it must be published."""

    touched: dict[str, tuple[Scope, datetime]] = field(default_factory=dict)  # scope key -> data time
    escalations: list[EscalationEvent] = field(default_factory=list)
    audit: list[AuditRecord] = field(default_factory=list)
    warnings: list[WarningEvent] = field(default_factory=list)
    reports: list[AreaReport] = field(default_factory=list)  # to the county stage
    transitions: list[tuple[ScopeKind, str]] = field(default_factory=list)  # (scope kind, direction)
    outcomes: list[tuple[str | None, str]] = field(default_factory=list)  # (source, outcome) per input
    changed: bool = False  # the book must be saved
