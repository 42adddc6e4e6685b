"""The 10:00 submission nudge (plan 3.1): who has not entered today's readings by the deadline.

Plan 3.1 asks for the first OPEL assessment "no later than 10:00, 7 days per week", and
sections 7.3 to 7.6 make each role responsible for keeping its indicators up to date daily. So
at the deadline (Europe/London wall clock, which is 10:00Z in winter and 09:00Z in summer),
every indicator of an area whose latest reading is older than local midnight is a missing
submission, reminded to the indicator's owner (``clock.indicator_owners``, else
``clock.deadline_role``) with a link to the board's submission page.

Which indicators are expected comes from ``opel.status.v1``, which alerting already follows:
an area's indicator the worker has assessed at least once is expected every day after. An
indicator the worker has never had a reading for is not known here, so it is not chased.

"Today" is the plan's day: readings since 00:00 London time on the deadline's date. By
default the nudge runs every day (3.1 says 7 days per week); ``submission_days: workdays``
limits it to the plan calendar's working days that are not bank holidays.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from itertools import groupby

from opel.alerting import clock
from opel.alerting.calendar import PlanCalendar
from opel.alerting.message import Vocabulary, render_duty, when
from opel.alerting.notices import DutyNotice
from opel.alerting.records import duty_id
from opel.alerting.routing import ClockConfig
from opel.contracts.status import AnyStatus, IndicatorStatus

JOB = "submissions"
"""The wall-clock job (and notice job) of the nudge."""
SUBMIT_PATH = "/submit"


@dataclass(frozen=True, slots=True)
class MissingSubmission:
    """An area's indicator with no reading since local midnight, and who owns it."""

    area: str
    indicator: str
    role: str
    last: datetime | None
    """The latest reading's data time (before today), or None if the indicator has none."""


def submit_link(config: ClockConfig) -> str:
    return config.board_url.rstrip("/") + SUBMIT_PATH


def day_start(instant: datetime, config: ClockConfig) -> datetime:
    """00:00 London time on the day ``instant`` falls on there, in UTC."""
    return clock.local_instant(instant.astimezone(config.zone).date(), time(0, 0), config.zone)


def missing_submissions(
    statuses: Mapping[str, AnyStatus], instant: datetime, config: ClockConfig
) -> list[MissingSubmission]:
    """The configured areas' indicators with no reading on ``instant``'s local day, by area and name."""
    since = day_start(instant, config)
    missing = [
        MissingSubmission(
            area=status.area,
            indicator=status.indicator,
            role=config.indicator_owners.get(status.indicator, config.deadline_role),
            last=status.observed_at,
        )
        for status in statuses.values()
        if isinstance(status, IndicatorStatus)
        and status.area in config.areas
        and (status.observed_at is None or status.observed_at < since)
    ]
    return sorted(missing, key=lambda m: (m.area, m.indicator))


def is_submission_day(instant: datetime, config: ClockConfig, calendar: PlanCalendar) -> bool:
    """Whether the nudge runs on ``instant``'s local day (every day unless limited to workdays)."""
    if config.submission_days == "every_day":
        return True
    return calendar.is_workday(calendar.local(instant).date())


def _label(item: MissingSubmission, words: Vocabulary) -> str:
    return words.indicators.get(item.indicator, item.indicator)


def reminders(
    statuses: Mapping[str, AnyStatus],
    instant: datetime,
    config: ClockConfig,
    calendar: PlanCalendar,
    vocab: Vocabulary | None = None,
) -> list[DutyNotice]:
    """One reminder per owner role and area with missing submissions at the deadline ``instant``.

    Per area, not per role, so a contact kept for some areas hears only of theirs.
    """
    if not is_submission_day(instant, config, calendar):
        return []
    words = vocab or Vocabulary()
    link = submit_link(config)
    deadline = instant.astimezone(config.zone)
    notices: list[DutyNotice] = []
    missing = sorted(missing_submissions(statuses, instant, config), key=lambda m: (m.role, m.area))
    for (role, area), group in groupby(missing, key=lambda m: (m.role, m.area)):
        items = list(group)
        place = words.areas.get(area, area)
        names = ", ".join(_label(item, words) for item in items)
        body = [
            f"Please enter today's readings for {place} now: {link}",
            f"No reading today (since 00:00) by {deadline:%H:%M} for:",
            *(
                f"- {_label(item, words)} (last reading {when(item.last) if item.last else 'never'})"
                for item in items
            ),
            f"The first OPEL assessment is due by {deadline:%H:%M}, 7 days per week (plan 3.1); "
            "the indicators' owners keep them updated daily (7.3 to 7.6).",
        ]
        notices.append(
            DutyNotice(
                duty_id(JOB, f"{role}/{area}", instant),
                JOB,
                role,
                area,
                render_duty(f"Readings due by {deadline:%H:%M}: {place}", body),
                f"no reading since {day_start(instant, config).isoformat()} for {names}",
            )
        )
    return notices


def summary_lines(missing: Iterable[MissingSubmission], vocab: Vocabulary | None = None) -> list[str]:
    """The daily summary's account of the day's submissions: each missing one with its owner."""
    words = vocab or Vocabulary()
    items: Sequence[MissingSubmission] = list(missing)
    if not items:
        return ["Submissions: every indicator has a reading today."]
    lines = [f"Submissions missing (no reading today, plan 3.1): {len(items)}."]
    for item in items:
        place = words.areas.get(item.area, item.area)
        owner = words.roles.get(item.role, item.role)
        lines.append(f"- {place}: {_label(item, words)} (owner: {owner}).")
    return lines
