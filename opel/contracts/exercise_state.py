"""Where a live exercise stands (issue 16, point 5): the answer of ``GET /exercise``.

The API writes it from the running exercise; the CLI and the tests read it with this model. The
exercise's own report (:class:`ExerciseReport`) is attached once it has ended. No personal data:
the scenario's name and times only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from opel.contracts.base import Contract
from opel.contracts.exercise_report import ExerciseReport

ExerciseStatus = Literal["none", "running", "finished", "stopped"]
MIN_SPEED = 1.0
MAX_SPEED = 3600.0


class ExerciseState(Contract):
    """``none`` before any exercise; ``running``; ``finished`` when its duration passed; ``stopped``
    when ``POST /exercise/stop`` ended it early. The last exercise's state stays until the next."""

    status: ExerciseStatus
    name: str | None = Field(default=None, description="The scenario's name.")
    speed: float | None = Field(
        default=None, ge=MIN_SPEED, le=MAX_SPEED, description="Scenario seconds per wall-clock second."
    )
    wall_start: AwareDatetime | None = Field(default=None, description="When it was started (real time).")
    scenario_start: AwareDatetime | None = Field(default=None, description="The scenario's own start.")
    scenario_end: AwareDatetime | None = Field(default=None, description="scenario_start + its duration.")
    scenario_now: AwareDatetime | None = Field(
        default=None,
        description="The exercise clock: scenario_start + (now - wall_start) * speed; frozen once ended.",
    )
    injects_played: int = Field(default=0, ge=0, description="Escalation events published so far.")
    injects_total: int = Field(default=0, ge=0, description="Escalation events the scenario makes.")
    report: ExerciseReport | None = Field(default=None, description="The after-action report, once ended.")
