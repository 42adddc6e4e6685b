"""The plan's working calendar: office hours, weekends and England and Wales bank holidays.

The plan's teleconference calls and the Local Health Economy calls run "during office hours,
Monday to Friday" (5.1); the KCC Out of Hours Service covers "evenings, weekends and public
and Bank Holidays" (6.2, Extended Access); the Arranging Support Teams may run a skeleton
service on bank holidays (7.5); the NHS 111 protocol informs the ICB commissioning lead in
hours and the NHS Director on Call out of hours (6.1). Everything here is judged in the
plan's time zone (Europe/London), so an instant is classified by the wall clock in Kent
whatever its UTC offset, on both sides of the March and October clock changes.

Bank holidays come from the maintained ``holidays`` package (England, which has the same
bank holidays as Wales), never from a hand-written list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

Period = Literal["always", "office_hours", "out_of_hours", "bank_holiday"]
PERIODS: tuple[Period, ...] = ("always", "office_hours", "out_of_hours", "bank_holiday")
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class PlanCalendar:
    """When office hours run. ``workdays`` are ``mon``..``sun``; office hours are [start, end)."""

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/London"))
    start: time = time(9, 0)
    end: time = time(17, 0)
    workdays: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    country: str = "GB"
    subdivision: str | None = "ENG"
    _holidays: holidays.HolidayBase = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_holidays", holidays.country_holidays(self.country, subdiv=self.subdivision)
        )

    def local(self, instant: datetime) -> datetime:
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError(f"instant must be timezone-aware, got naive {instant.isoformat()}")
        return instant.astimezone(self.zone)

    def bank_holiday(self, day: date) -> str | None:
        """The bank holiday's name on ``day`` (from the holidays package), or None."""
        name = self._holidays.get(day)
        return None if name is None else str(name)

    def is_workday(self, day: date) -> bool:
        return WEEKDAYS[day.weekday()] in self.workdays and self.bank_holiday(day) is None

    def is_office_hours(self, instant: datetime) -> bool:
        """Inside office hours on a working day that is not a bank holiday, in the plan's zone."""
        local = self.local(instant)
        return self.is_workday(local.date()) and self.start <= local.time() < self.end

    def applies(self, when: Period, instant: datetime) -> bool:
        """Whether a route or contact limited to ``when`` applies at ``instant``."""
        if when == "always":
            return True
        if when == "office_hours":
            return self.is_office_hours(instant)
        if when == "out_of_hours":
            return not self.is_office_hours(instant)
        return self.bank_holiday(self.local(instant).date()) is not None

    def describe(self, instant: datetime) -> str:
        """``office hours``, ``out of hours (Saturday)``, ``out of hours (bank holiday: ...)``."""
        local = self.local(instant)
        holiday = self.bank_holiday(local.date())
        if holiday is not None:
            return f"out of hours (bank holiday: {holiday})"
        if WEEKDAYS[local.weekday()] not in self.workdays:
            return f"out of hours ({local:%A})"
        if self.is_office_hours(instant):
            return "office hours"
        return "out of hours (evening or night)"
