"""Action items: each action the plan starts for a role at a scope's level, as a record of who
did what (plan Appendix 4, "all decisions should be recorded").

``opel.action-items.v1`` (compacted, key = item id) carries :class:`ActionItem`, written by
alerting on every change of an item and read by the status board and API. A role marks its own
item with an :class:`ActionItemUpdate` on ``opel.commands.v1`` (key = item id), which the API
builds from the caller's bearer role and alerting applies.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from opel.contracts.base import Contract, LevelNumber

ItemState = Literal["open", "done", "not_applicable", "closed_by_stand_down"]
MarkState = Literal["done", "not_applicable"]
ITEM_STATES: tuple[ItemState, ...] = ("open", "done", "not_applicable", "closed_by_stand_down")

ItemId = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]
RoleId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Note = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
Author = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]


class ActionItem(Contract):
    """One action started for one role at one scope, and where it stands."""

    id: ItemId = Field(description="Deterministic: the same escalation, role and action give the same id.")
    scope: str = Field(description="The area or county whose level started the action.")
    area: str | None = None
    role: RoleId = Field(description="The owner: the plan role that does the action.")
    role_name: str
    action_id: str = Field(description="The action plan's id, e.g. senior_practitioner.l2.shrewd_daily.")
    text: str
    plan_ref: str
    level: LevelNumber = Field(description="The level the action belongs to.")
    scope_level: LevelNumber = Field(description="The scope's level when the item opened.")
    escalation_id: str = Field(description="The escalation event (opel.escalations.v1) that started it.")
    opened_at: AwareDatetime = Field(description="The escalation's time: when the level began.")
    due_at: AwareDatetime = Field(description="The plan deadline; an open item past it is reminded once.")
    due_rule: str = Field(description="Where the deadline comes from, in words.")
    state: ItemState
    closed_at: AwareDatetime | None = None
    closed_by: str | None = Field(
        default=None, description="Who marked it (the API principal), or 'stand-down' when the level fell."
    )
    note: str | None = None
    reminded_at: AwareDatetime | None = None
    updated_at: AwareDatetime


class ActionItemUpdate(Contract):
    """A role marks its own open item done or not applicable (``opel.commands.v1``, key = item id)."""

    type: Literal["action_item"]
    item_id: ItemId
    state: MarkState
    role: RoleId = Field(description="The plan role the author acts as; it must own the item.")
    author: Author
    at: AwareDatetime
    note: Note | None = None

    @model_validator(mode="after")
    def _reason_for_not_applicable(self) -> ActionItemUpdate:
        # Appendix 4: a decision not to act is recorded with why; "done" speaks for itself.
        if self.state == "not_applicable" and self.note is None:
            raise ValueError("note: is required when the state is not_applicable")
        return self
