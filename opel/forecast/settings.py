"""The early-warning settings: how much history a projection uses and when a warning is issued.

The defaults come from the backtest table in docs/early-warning.md (``opel replay warnings``);
that document says why these values and not others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

HORIZONS_HOURS: Final = (4, 12, 24, 48)
"""The horizons a warning is issued and backtested for (issue 16, point 3)."""


@dataclass(frozen=True, slots=True)
class WarningSettings:
    """``bucket_minutes``: one reading per bucket enters the window (the first of it), so a
    series sent every few minutes and one sent daily are projected from comparable points and
    the projection is recomputed once per bucket, not per reading. ``window_points`` and
    ``max_age_hours`` bound the window; ``min_points`` is the fewest a projection is made from.
    A warning is issued when the projected crossing lies at least ``min_lead_hours`` ahead,
    within the longest horizon, and its confidence is at least ``min_confidence``."""

    bucket_minutes: int = 60
    window_points: int = 16
    min_points: int = 6
    max_age_hours: int = 72
    min_confidence: float = 0.6
    min_lead_hours: float = 1.0
    horizons_hours: tuple[int, ...] = HORIZONS_HOURS

    def __post_init__(self) -> None:
        if self.bucket_minutes < 1:
            raise ValueError(f"bucket_minutes must be >= 1, got {self.bucket_minutes}")
        if not 2 <= self.min_points <= self.window_points:
            raise ValueError(
                f"min_points must be between 2 and window_points ({self.window_points}), "
                f"got {self.min_points}"
            )
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be between 0 and 1, got {self.min_confidence}")
        if self.min_lead_hours < 0:
            raise ValueError(f"min_lead_hours must be >= 0, got {self.min_lead_hours}")
        if not self.horizons_hours or list(self.horizons_hours) != sorted(set(self.horizons_hours)):
            raise ValueError(f"horizons_hours must be increasing, got {self.horizons_hours}")

    @property
    def longest(self) -> int:
        return self.horizons_hours[-1]
