"""The area stage's early warning: after each numeric reading, keep the indicator's window,
project it when the window moved, and publish what changed in its warning's life.

It reads the reading's level and the transitions it caused, and writes only to the held
reading's ``recent`` (the window) and ``warning`` (the open warning): never to a scope, so a
warning cannot change a level.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from opel.bands import BandTable
from opel.contracts.audit import audit_record
from opel.contracts.warning import WARNING_TYPES, WarningEvent
from opel.escalation import Transition
from opel.forecast.crossing import METHOD, METHOD_TEXT, project
from opel.forecast.settings import WarningSettings
from opel.forecast.warnings import WarningChange, step
from opel.forecast.window import Point, add_point, as_hours, point_time
from opel.levels import Level
from opel.scopes import Scope
from opel.stages.context import Context, Emit


def early_warning(  # the reading's facts, as _reading holds them
    held: dict[str, Any],
    *,
    area: str,
    indicator: str,
    table: BandTable,
    value: float,
    at: datetime,
    level: int | None,
    transitions: Sequence[Transition],
    ctx: Context,
    emit: Emit,
    settings: WarningSettings,
) -> None:
    """Update ``held`` (the indicator's held reading, already the new one) in place."""
    window: list[Point] = held.setdefault("recent", [])
    evaluated = add_point(window, at, value, settings)
    projection = project(as_hours(window), table, value, settings) if evaluated else None
    raised = next((t.id for t in reversed(transitions) if t.direction != "de-escalation"), None)
    scope = Scope("indicator", area, indicator).key
    current, changes = step(
        scope, held.get("warning"), level, projection, at, evaluated=evaluated, escalation_id=raised
    )
    if current is None:
        held.pop("warning", None)
    else:
        held["warning"] = current
    for change in changes:
        event = warning_event(ctx, scope, change, window, area=area, indicator=indicator)
        emit.warnings.append(event)
        emit.audit.append(
            audit_record(
                f"warning_{change.status}",  # type: ignore[arg-type]  # the three are Decisions
                scope,
                at,
                rule=METHOD,
                reason=change.reason,
                outcome={
                    "warning_id": event.data.warning_id,
                    "projected_level": event.data.projected_level,
                    "expected_at": event.data.expected_at.isoformat(),
                    "confidence": event.data.confidence,
                    "escalation_id": change.escalation_id,
                },
            )
        )


def warning_event(
    ctx: Context, scope: str, change: WarningChange, window: Sequence[Point], *, area: str, indicator: str
) -> WarningEvent:
    warning = change.warning
    return WarningEvent.model_validate(
        {
            "specversion": "1.0",
            "id": f"{warning['id']}/{change.status}",
            "source": ctx.source,
            "type": WARNING_TYPES[change.status],
            "subject": scope,
            "time": change.at,
            "data": {
                "warning_id": warning["id"],
                "status": change.status,
                "scope": scope,
                "area": area,
                "indicator": indicator,
                "current_level": warning["current_level"],
                "current_colour": Level(warning["current_level"]).colour,
                "projected_level": warning["projected_level"],
                "projected_colour": Level(warning["projected_level"]).colour,
                "opened_at": warning["opened_at"],
                "expected_at": warning["expected_at"],
                "horizon_hours": warning["horizon_hours"],
                "confidence": warning["confidence"],
                "method": METHOD,
                "method_text": METHOD_TEXT,
                "readings": [{"observed_at": point_time(p), "value": p[1]} for p in window],
                "at": change.at,
                "reason": change.reason,
                "escalation_id": change.escalation_id,
                "exercise": ctx.exercise,
            },
        }
    )
