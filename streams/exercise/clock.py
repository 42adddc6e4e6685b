"""The exercise clock: scenario time running ``speed`` times faster than the wall clock.

``scenario_now = scenario_start + (wall_now - wall_start) * speed``. Deadlines are worked out
from scenario time in Europe/London by the alerting core, so a scenario set in summer keeps the
plan's local 10:30 as one set in winter does. Once the exercise ends the clock stops at its end,
so reminders and the report do not run on past it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta


def utc_now() -> datetime:
    return datetime.now(UTC)


class ScenarioClock:
    def __init__(
        self,
        scenario_start: datetime,
        speed: float,
        *,
        wall: Callable[[], datetime] = utc_now,
        wall_start: datetime | None = None,
    ) -> None:
        if scenario_start.tzinfo is None:
            raise ValueError(f"scenario_start: {scenario_start.isoformat()} has no timezone")
        if speed <= 0:
            raise ValueError(f"speed: must be above 0, got {speed}")
        self.scenario_start = scenario_start
        self.speed = speed
        self._wall = wall
        self.wall_start = wall_start if wall_start is not None else wall()
        self._stopped_at: datetime | None = None

    def restart(self) -> None:
        """Scenario time starts from its beginning now (once what plays it is ready)."""
        self.wall_start = self._wall()

    def at(self, wall_now: datetime) -> datetime:
        """Scenario time at ``wall_now``, unless the clock was stopped earlier."""
        scenario = self.scenario_start + (wall_now - self.wall_start) * self.speed
        if self._stopped_at is not None:
            return min(scenario, self._stopped_at)
        return scenario

    def __call__(self) -> datetime:
        return self.at(self._wall())

    def wall_at(self, scenario_time: datetime) -> datetime:
        """The wall-clock time at which the scenario reaches ``scenario_time``."""
        return self.wall_start + (scenario_time - self.scenario_start) / self.speed

    def seconds_until(self, scenario_time: datetime) -> float:
        """Real seconds from now until ``scenario_time`` (0 when it has passed)."""
        return max(0.0, (self.wall_at(scenario_time) - self._wall()) / timedelta(seconds=1))

    def stop(self, at: datetime | None = None) -> datetime:
        """Hold scenario time at ``at`` (default: now) from here on; returns where it stopped."""
        if self._stopped_at is None:
            self._stopped_at = at if at is not None else self()
        return self._stopped_at

    @property
    def stopped(self) -> bool:
        return self._stopped_at is not None
