"""The plan's time-based duties as pure functions over the latest statuses.

Each returns :class:`DutyNotice` values with deterministic ids (job, subject, scheduled
instant), so running a job twice for the same instant produces the same notices and the
notification log drops the second lot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from opel.alerting import clock
from opel.alerting.message import Rendered, Vocabulary, level_words, render_duty, when
from opel.alerting.records import KeahRecord, duty_id
from opel.alerting.routing import DUTY_ROLE, ClockConfig


class Status(BaseModel):
    """One ``opel.status.v1`` value (docs/topics.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: str
    kind: str
    area: str | None = None
    indicator: str | None = None
    site: str | None = None
    system: str | None = None
    county: str | None = None
    level: int | None = None
    colour: str | None = None
    computed_level: int | None = None
    computed_colour: str | None = None
    state_level: int | None = None
    override: dict[str, Any] | None = None
    value: Any = None
    score: float | None = None
    normalised_score: float | None = None
    score_max: float | None = None
    complete: bool | None = None
    missing: list[str] | None = None
    explanation: str | None = None
    driving: list[str] | None = None
    catalogue: str | None = None
    catalogue_version: str | None = None
    observed_at: AwareDatetime | None = None
    since: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None


@dataclass(frozen=True, slots=True)
class DutyNotice:
    id: str
    job: str
    role: str
    area: str | None
    rendered: Rendered
    reason: str


def _indicators(statuses: Mapping[str, Status], area: str) -> list[Status]:
    return sorted(
        (s for s in statuses.values() if s.kind == "indicator" and s.area == area), key=lambda s: s.scope
    )


def daily_summary(
    statuses: Mapping[str, Status],
    instant: datetime,
    keah: tuple[int, int, int],
    vocab: Vocabulary | None = None,
) -> DutyNotice:
    """The 10:00 assessment summary for the duty route: county, each area, KEaH 2-hour figures."""
    words = vocab or Vocabulary()
    lines = [f"Daily OPEL assessment, {when(instant)}."]
    county = next((s for s in statuses.values() if s.kind == "county"), None)
    lines.append(f"Kent County Council: {level_words(county.level) if county else 'not assessed yet'}.")
    for status in sorted((s for s in statuses.values() if s.kind == "area"), key=lambda s: s.scope):
        name = words.areas.get(status.area or "", status.area or status.scope)
        since = f" since {when(status.since)}" if status.since else ""
        lines.append(f"- {name}: {level_words(status.level)}{since}.")
        for indicator in _indicators(statuses, status.area or ""):
            if indicator.level is not None and indicator.level >= 2:
                label = words.indicators.get(indicator.indicator or "", indicator.indicator or "")
                lines.append(f"    {label}: {level_words(indicator.level)} (value {indicator.value}).")
    met, missed, open_ = keah
    lines.append(f"KEaH 2-hour rule (plan 7.6): {met} met, {missed} missed, {open_} still open.")
    rendered = render_duty(f"OPEL daily assessment {instant.astimezone(clock.LONDON):%a %d %b}", lines)
    return DutyNotice(
        duty_id("daily", "summary", instant), "daily", DUTY_ROLE, None, rendered, "daily 10:00 assessment"
    )


def missed_updates(
    statuses: Mapping[str, Status],
    day: date,
    window_name: str,
    config: ClockConfig,
    vocab: Vocabulary | None = None,
) -> list[DutyNotice]:
    """Indicators not updated inside a deadline window that applies at their area's level."""
    words = vocab or Vocabulary()
    notices: list[DutyNotice] = []
    for area in config.areas:
        area_status = statuses.get(f"area/{area}")
        level = area_status.level if area_status else None
        windows = [w for w in clock.update_windows(level, day, config.zone) if w.name == window_name]
        for window in windows:
            for indicator in _indicators(statuses, area):
                updates = [indicator.observed_at] if indicator.observed_at else []
                if not clock.window_missed(updates, window):
                    continue
                name = indicator.indicator or ""
                role = config.indicator_owners.get(name, config.deadline_role)
                label = words.indicators.get(name, name)
                place = words.areas.get(area, area)
                last = when(indicator.observed_at) if indicator.observed_at else "never"
                close = window.closes.astimezone(config.zone)
                body = [
                    f"{label} in {place} was not updated by {close:%H:%M} (last update {last}).",
                    f"At {level_words(level)} SHREWD must be updated "
                    + (
                        "daily before 10:30." if level == 2 else "by 10:30 and again between 14:00 and 15:30."
                    ),
                    "Please update the indicator now (plan Appendix 3).",
                ]
                rendered = render_duty(f"Missed update: {label}, {place}", body)
                notices.append(
                    DutyNotice(
                        duty_id("deadline", indicator.scope, window.closes),
                        "deadline",
                        role,
                        area,
                        rendered,
                        f"no update in the {window.name} window ending {window.closes.isoformat()}",
                    )
                )
    return notices


def stale_indicators(
    statuses: Mapping[str, Status], now: datetime, config: ClockConfig, vocab: Vocabulary | None = None
) -> list[DutyNotice]:
    """Indicators with no update for ``stale_after`` at any level: one notice per stale spell."""
    words = vocab or Vocabulary()
    notices: list[DutyNotice] = []
    for status in statuses.values():
        if status.kind != "indicator" or status.observed_at is None:
            continue
        if not clock.is_stale(status.observed_at, now, config.stale_after):
            continue
        name = status.indicator or ""
        label = words.indicators.get(name, name)
        place = words.areas.get(status.area or "", status.area or "")
        body = [
            f"{label} in {place} has not been updated since {when(status.observed_at)}.",
            f"Indicators older than {config.stale_after} are treated as stale; please update SHREWD.",
        ]
        notices.append(
            DutyNotice(
                duty_id("stale", status.scope, status.observed_at),
                "stale",
                config.indicator_owners.get(name, config.deadline_role),
                status.area,
                render_duty(f"Stale indicator: {label}, {place}", body),
                f"last update {status.observed_at.isoformat()} is {config.stale_after} or more old",
            )
        )
    return notices


def dos_reviews(
    statuses: Mapping[str, Status], now: datetime, config: ClockConfig, vocab: Vocabulary | None = None
) -> list[DutyNotice]:
    """NHS 111 DoS capacity review every 4 hours while an area or the county stays at the level (6.1)."""
    words = vocab or Vocabulary()
    notices: list[DutyNotice] = []
    for status in statuses.values():
        if status.kind not in {"area", "county"} or status.level is None or status.since is None:
            continue
        if status.level < config.dos_review_level:
            continue
        n, due = clock.dos_review_due(status.since, now, config.dos_review_every)
        if due is None:
            continue
        place = "Kent County Council" if status.kind == "county" else words.areas.get(status.area or "", "")
        body = [
            f"{place} has been at {level_words(status.level)} since {when(status.since)}.",
            "Review the NHS 111 Directory of Service capacity status (plan 6.1 step c).",
            "If pressure remains: call NHS 111 on 01233 363020 to set the service capacity status, and",
            "inform the ICB commissioning lead in hours or the NHS Director on Call out of hours.",
        ]
        notices.append(
            DutyNotice(
                duty_id("dos", f"{status.scope}@{status.since.isoformat()}", due),
                "dos",
                config.dos_review_role,
                status.area,
                render_duty(f"NHS 111 DoS review {n}: {place}", body),
                f"review {n} due at {due.isoformat()}",
            )
        )
    return notices


def keah_notice(record: KeahRecord, vocab: Vocabulary | None = None) -> Rendered:
    words = vocab or Vocabulary()
    place = words.areas.get(record.area, record.area)
    ref = f" {record.ref}" if record.ref else ""
    body = [
        f"KEaH referral{ref} ({place}) received {when(record.received_at)}:",
        "no start date can be found within 24 hours.",
        f"Tell the referrer by {when(record.due_at)} (2 hours from receipt, plan 7.6),",
        "and make sure the person is followed up in the community.",
    ]
    return render_duty(f"KEaH: tell the referrer{ref} by {when(record.due_at)}", body)


def keah_figures(records: Iterable[KeahRecord], now: datetime) -> tuple[int, int, int]:
    """(met, missed, open): told within 2 hours, told late or overdue, still inside the 2 hours."""
    met = missed = open_ = 0
    for record in records:
        if record.told_at is not None:
            if record.told_at <= record.due_at:
                met += 1
            else:
                missed += 1
        elif now > record.due_at:
            missed += 1
        else:
            open_ += 1
    return met, missed, open_
