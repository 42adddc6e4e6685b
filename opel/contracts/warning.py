"""``opel.warnings.v1``: an early warning that an indicator is projected to cross into a worse
band, and what became of it (issue 16), as a CloudEvents 1.0 structured event.

The same envelope as :mod:`opel.contracts.escalation` (six fixed attributes, a typed ``data``).
A warning is information for the indicator's owner and the board: it never changes a level.
Every step of one warning's life carries the same ``data.warning_id``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from opel.contracts.base import Colour, Contract, LevelNumber

WarningStatus = Literal["open", "came_true", "closed"]
WARNING_TYPES: dict[WarningStatus, str] = {
    "open": "uk.gov.kent.opel.warning.opened",
    "came_true": "uk.gov.kent.opel.warning.came-true",
    "closed": "uk.gov.kent.opel.warning.closed",
}
WarningType = Literal[
    "uk.gov.kent.opel.warning.opened",
    "uk.gov.kent.opel.warning.came-true",
    "uk.gov.kent.opel.warning.closed",
]
Method = Literal["theil-sen"]


class UsedReading(Contract):
    """One reading of the window the projection was made from."""

    observed_at: AwareDatetime
    value: float


class WarningData(Contract):
    warning_id: str = Field(min_length=1, description="The same for every step of one warning's life.")
    status: WarningStatus = Field(
        description="open; came_true (the level reached the projected one); closed (the projection "
        "fell back)."
    )
    scope: str = Field(description="The indicator scope, e.g. indicator/stp_staffing_pct/east_kent.")
    kind: Literal["indicator"] = "indicator"
    area: str
    indicator: str
    current_level: LevelNumber = Field(description="The indicator's level in force when the warning opened.")
    current_colour: Colour
    projected_level: LevelNumber = Field(
        description="The level of the next worse band the series is heading for."
    )
    projected_colour: Colour
    opened_at: AwareDatetime = Field(description="The time of the reading that opened the warning.")
    expected_at: AwareDatetime = Field(description="When the projection expects the crossing.")
    horizon_hours: Annotated[int, Field(ge=1)] = Field(
        description="The shortest backtested horizon (4, 12, 24, 48 h) within which at least the minimum "
        "confidence of pairs of recent readings reach the band."
    )
    confidence: Annotated[float, Field(ge=0, le=1)] = Field(
        description="Share of the pairs of recent readings whose slope reaches the band within the horizon."
    )
    method: Method
    method_text: str = Field(description="The method in one sentence, as the board shows it.")
    readings: tuple[UsedReading, ...] = Field(description="The readings the projection used, oldest first.")
    at: AwareDatetime = Field(description="The time of the reading that made this step.")
    reason: str
    escalation_id: str | None = Field(
        default=None, description="came_true: the id of the escalation (opel.escalations.v1) that followed."
    )
    exercise: bool = False


class WarningEvent(Contract):
    """A CloudEvents 1.0 structured-mode warning; key = subject (the indicator scope key)."""

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, description="Deterministic: the warning id and its status.")
    source: str
    type: WarningType
    subject: str
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    data: WarningData
