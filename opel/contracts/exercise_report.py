"""The after-action report of an exercise (issue 16, point 6): what was injected, what the core
did, what the participants recorded, and each expected action measured against its deadline.

Written by ``opel exercise report`` as ``report.json`` beside ``report.html``; the schema is
published so an exercise lead's own tools can read it. No personal data: roles, not people.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from opel.contracts.base import Contract, LevelNumber

TimelineKind = Literal["inject", "escalation", "action_item", "response"]
Outcome = Literal["on_time", "late", "never_done", "not_triggered"]
OUTCOMES: tuple[Outcome, ...] = ("on_time", "late", "never_done", "not_triggered")


class TimelineEntry(Contract):
    """One thing that happened during the exercise, in event time."""

    at: AwareDatetime
    offset: str = Field(description="Time since the exercise started, +HH:MM.")
    kind: TimelineKind
    scope: str | None = None
    role: str | None = None
    text: str


class ExpectedResult(Contract):
    """One action the scenario expects, and how it went against the plan's deadline."""

    role: str
    action_id: str
    text: str
    scope: str
    level: LevelNumber = Field(description="The scope's level that puts the action in force.")
    triggered_at: AwareDatetime | None = Field(description="When the scope first reached the level.")
    due_at: AwareDatetime | None
    due_rule: str | None
    done_at: AwareDatetime | None = Field(description="The first response recording it done.")
    outcome: Outcome
    late_by_minutes: int | None = Field(default=None, ge=1, description="Whole minutes past due, rounded up.")


class ExerciseReport(Contract):
    """The after-action report of one exercise."""

    scenario: str
    description: str
    exercise: Literal[True] = True
    started_at: AwareDatetime
    ended_at: AwareDatetime
    catalogue: str
    action_plan: str | None
    final_levels: dict[str, LevelNumber] = Field(description="The level each scope ended at, by scope key.")
    timeline: tuple[TimelineEntry, ...]
    expected: tuple[ExpectedResult, ...]
    counts: dict[Outcome, int]
