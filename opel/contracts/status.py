"""``opel.status.v1``: the level in force for one scope, one model per kind of scope.

Key = the scope key; the topic is compacted, so its latest value per key is the current state.
The five kinds share the level fields (in force, computed by the rules, held by the step-down
wait, set by an override) and differ in the facts behind them. ``Status`` is the tagged union
on ``kind`` that every reader validates with.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, TypeAdapter

from opel.contracts.base import Colour, Contract, LevelNumber
from opel.feeds import Override

Value = int | float | str


class Held(Contract):
    """The step-down wait: the rules give a lower level, but the higher one stays in force until
    the lower readings have lasted the plan's dwell (section 8)."""

    level: LevelNumber = Field(description="The level held in force by the wait.")
    computed_level: LevelNumber = Field(description="The level the latest data gives.")
    lower_since: AwareDatetime = Field(description="Since when the data has been below the held level.")
    next_level: LevelNumber = Field(description="The level the scope steps down to when the wait ends.")
    until: AwareDatetime = Field(description="When the wait ends if the data stays as it is.")


class _Status(Contract):
    scope: str = Field(description="Scope key, e.g. area/west_kent; also the message key.")
    level: LevelNumber | None = Field(
        description="The level in force: an override's, else the escalation state's (dwell applied)."
    )
    colour: Colour | None
    computed_level: LevelNumber | None = Field(description="What the rules give for the latest data.")
    computed_colour: Colour | None
    state_level: LevelNumber | None = Field(description="The escalation state's level, overrides aside.")
    held: Held | None = Field(default=None, description="Set while a step-down wait holds a higher level.")
    override: Override | None = Field(default=None, description="The override in force, if any.")
    explanation: str | None = None
    catalogue: str | None = None
    catalogue_version: str | None = None
    observed_at: AwareDatetime | None = Field(default=None, description="Data time of the latest input.")
    since: AwareDatetime | None = Field(default=None, description="When the level in force began.")
    updated_at: AwareDatetime = Field(description="Data time of the change that produced this value.")


class IndicatorStatus(_Status):
    kind: Literal["indicator"]
    area: str
    indicator: str
    value: Value | None = None
    band: str | None = Field(default=None, description="The catalogue band the value fell in.")


class AreaStatus(_Status):
    kind: Literal["area"]
    area: str
    driving: list[str] = Field(default_factory=list, description="Indicators at the area's level.")


class CountyStatus(_Status):
    kind: Literal["county"]
    county: str
    areas_assessed: int = 0
    late: bool | None = Field(default=None, description="True when the change came from a late area.")


class SitePoints(Contract):
    value: Value | None
    points: int | float
    band: str


class SiteStatus(_Status):
    kind: Literal["site"]
    site: str
    score: float | None = None
    score_scale: float | None = Field(default=None, description="The highest score any site can have.")
    score_max: float | None = Field(
        default=None, description="The score plus the most its unreported parameters could add."
    )
    complete: bool | None = None
    missing: list[str] = Field(default_factory=list)
    normalised_score: float | None = None
    normalised_level: LevelNumber | None = None
    points: dict[str, SitePoints] = Field(default_factory=dict)


class SystemStatus(_Status):
    kind: Literal["system"]
    system: str
    score: float | None = Field(default=None, description="Weighted mean of the sites' scores.")
    score_scale: float | None = Field(default=None, description="The highest score any site can have.")
    normalised_score: float | None = None
    aggregate_level: LevelNumber | None = None
    driving: list[str] = Field(default_factory=list, description="Sites at the system's level.")
    missing: list[str] = Field(default_factory=list, description="Sites with no submission yet.")
    late: bool | None = None


AnyStatus = IndicatorStatus | AreaStatus | CountyStatus | SiteStatus | SystemStatus
Status = Annotated[AnyStatus, Field(discriminator="kind")]
STATUS: TypeAdapter[AnyStatus] = TypeAdapter(Status)
"""Validate any status value: ``STATUS.validate_json(raw)``."""
