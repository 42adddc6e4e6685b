"""The daily record (plan Appendix 4, "documentation of actions"): for one day in Kent, the levels
each area, the county, each site and each system reached, the decisions people took (overrides,
withdrawals, acknowledgements, repairs) and the action items, with who did what and when.

Served by the API as ``GET /daily-record/{day}`` (this model's JSON) and as a printable page.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AwareDatetime, Field

from opel.contracts.action_item import ItemState
from opel.contracts.base import Contract, LevelNumber

LevelCause = Literal["data", "override", "withdraw", "override_expired", "reset"]
ItemEvent = Literal["opened", "reminded", "done", "not_applicable", "closed_by_stand_down"]


class LevelChange(Contract):
    at: AwareDatetime
    level: LevelNumber | None = Field(description="The level in force from ``at``; null: not assessed.")
    cause: LevelCause
    author: str | None = Field(default=None, description="Who set it, for an override or its withdrawal.")


class ScopeDay(Contract):
    """One scope's levels over the day."""

    scope: str
    start_level: LevelNumber | None = Field(
        description="In force when the day began, as far as the records held show; null: not known."
    )
    highest_level: LevelNumber | None
    end_level: LevelNumber | None = Field(description="In force at the end of the day (or now, for today).")
    changes: tuple[LevelChange, ...]


class Decision(Contract):
    """A decision a person (or the service on their behalf) took, from the audit trail."""

    at: AwareDatetime
    decision: str
    scope: str | None
    author: str | None
    reason: str | None
    level: LevelNumber | None = Field(default=None, description="The level an override set.")
    audit_id: str


class ActionEvent(Contract):
    at: AwareDatetime
    event: ItemEvent
    by: str = Field(
        description="The principal who marked the item, or 'alerting' for the service's own steps."
    )
    note: str | None = None


class ActionDay(Contract):
    """One action item that was open at some time in the day, and what happened to it that day."""

    item_id: str
    scope: str
    role: str
    role_name: str
    action_id: str
    text: str
    plan_ref: str
    level: LevelNumber
    opened_at: AwareDatetime
    due_at: AwareDatetime
    state_at_end: ItemState
    events: tuple[ActionEvent, ...]


class DailyRecord(Contract):
    day: dt.date
    timezone: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    as_of: AwareDatetime = Field(
        description="When the record was put together; a day not over yet may change."
    )
    held_since: AwareDatetime | None = Field(
        description="The oldest audit record the server holds: before it, levels and decisions are not known."
    )
    levels: tuple[ScopeDay, ...]
    decisions: tuple[Decision, ...]
    actions: tuple[ActionDay, ...]
