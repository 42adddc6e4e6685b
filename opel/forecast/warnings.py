"""A warning's life: opened by a projection, then either come true or closed.

- **open**: the projection warns (:attr:`Projection.warns`) and no warning is open;
- **came true**: the indicator's level in force reaches the projected level while it is open,
  linked to the escalation that did it;
- **closed**: the projection, made afresh, no longer expects the crossing within the longest
  horizon with the minimum confidence there, or heads for a lower band than the one warned of
  ("the projection fell back").

Deterministic: the time is the reading's, ids are derived from the scope and the opening time,
so a replay opens, links and closes the same warnings. A warning never touches a level.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from opel.forecast.crossing import Projection

WarningStatus = Literal["open", "came_true", "closed"]
OpenWarning = dict[str, Any]
"""The open warning as stored in the book: id, opened_at, current_level, projected_level,
expected_at, confidence, horizon_hours (JSON-able)."""

_NAMESPACE = uuid.UUID("6f0c6a34-5d4e-4b61-9a43-1b8e0f6a7c21")


def warning_id(scope: str, opened_at: datetime) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{scope}|{opened_at.isoformat()}"))


@dataclass(frozen=True, slots=True)
class WarningChange:
    """One step of a warning's life, to publish and audit."""

    status: WarningStatus
    warning: OpenWarning
    at: datetime
    escalation_id: str | None
    reason: str


def opened(scope: str, level: int, projection: Projection, at: datetime) -> OpenWarning:
    return {
        "id": warning_id(scope, at),
        "opened_at": at.isoformat(),
        "current_level": level,
        "projected_level": projection.projected_level,
        "expected_at": (at + timedelta(hours=projection.hours)).isoformat(),
        "confidence": round(projection.confidence, 3),
        "horizon_hours": projection.horizon_hours,
    }


def step(
    scope: str,
    held: Mapping[str, Any] | None,
    level: int | None,
    projection: Projection | None,
    at: datetime,
    *,
    evaluated: bool,
    escalation_id: str | None,
) -> tuple[OpenWarning | None, list[WarningChange]]:
    """The warning open after a reading at ``at`` and what changed.

    ``level`` is the indicator's level in force after the reading, ``escalation_id`` the id of
    the transition the reading caused (if any); ``evaluated`` says whether a fresh projection
    was made (``projection`` is it, None when it expects no crossing).
    """
    changes: list[WarningChange] = []
    current: OpenWarning | None = None if held is None else dict(held)
    if current is not None and level is not None and level >= current["projected_level"]:
        reason = f"the level reached {level}, as projected"
        changes.append(WarningChange("came_true", current, at, escalation_id, reason))
        current = None
    elif (
        current is not None
        and evaluated
        and (
            projection is None
            or not projection.holds
            or projection.projected_level < current["projected_level"]
        )
    ):
        if projection is None:
            reason = "the projection fell back: no crossing expected within the horizon"
        elif projection.projected_level < current["projected_level"]:
            reason = f"the projection fell back: now heading for level {projection.projected_level} at most"
        else:
            reason = (
                f"the projection fell back: crossing in {projection.hours:.1f} h, but too few pairs "
                "of recent readings still reach the band"
            )
        changes.append(WarningChange("closed", current, at, None, reason))
        current = None
    if (
        current is None
        and evaluated
        and level is not None
        and projection is not None
        and projection.warns
        and projection.projected_level > level
    ):
        current = opened(scope, level, projection, at)
        reason = f"projected to reach level {projection.projected_level} in {projection.hours:.1f} h"
        changes.append(WarningChange("open", current, at, None, reason))
    return current, changes
