"""The rules the stage tests run with: the shipped 2025-26 and acute catalogues and the v1.8 plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from opel.actions_load import default_action_plan
from opel.catalogue_load import load_acute_catalogue, load_indicator_catalogue
from opel.escalation import EscalationPolicy
from opel.stages.context import Context


def shipped_context(*, dwell: timedelta | None = None, **changes: Any) -> Context:
    """A stage context on the shipped catalogues; ``dwell`` replaces the catalogue's step-down dwell."""
    catalogue = load_indicator_catalogue("kcc-asch-2025-26")
    ctx = Context(
        catalogue=catalogue,
        acute=load_acute_catalogue("nhs-acute-2023-24"),
        actions=default_action_plan(),
        policy=EscalationPolicy(catalogue.step_down_dwell if dwell is None else dwell),
    )
    return replace(ctx, **changes) if changes else ctx
