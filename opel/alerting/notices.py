"""The notice a clock-driven duty produces, kept apart so every duty module can make one."""

from __future__ import annotations

from dataclasses import dataclass

from opel.alerting.message import Rendered


@dataclass(frozen=True, slots=True)
class DutyNotice:
    id: str
    job: str
    role: str
    area: str | None
    rendered: Rendered
    reason: str
    level: int | None = None
    """The level the notice is about, for contacts kept for urgent alerts out of hours."""
