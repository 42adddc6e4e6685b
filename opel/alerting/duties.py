"""The plan's time-based duties as pure functions over the latest statuses.

Each returns :class:`DutyNotice` values with deterministic ids (job, subject, scheduled
instant), so running a job twice for the same instant produces the same notices and the
notification log drops the second lot.

Statuses are the ``opel.status.v1`` values exactly as the worker writes them, read with
:data:`opel.contracts.status.STATUS` (a union tagged on ``kind``): an indicator's facts are on
:class:`IndicatorStatus`, an area's on :class:`AreaStatus`, the county's on :class:`CountyStatus`.
A value with a field the contract does not declare is refused by the reader, not ignored here.

Also the KEaH 2-hour rule (plan 7.6) from a referral event and the organiser's confirmation,
the NHS 111 DoS protocol (6.1) from area and county level changes, the assessment-bed steps
(6.3) from placement commands, and the step from a notice to the outbox records for the people
routed to receive it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from opel.alerting import clock, stages, submissions
from opel.alerting.calendar import PlanCalendar
from opel.alerting.events import AssessmentBedPlacement, KeahReferrerTold
from opel.alerting.message import Rendered, Vocabulary, level_words, render_duty, when
from opel.alerting.notices import DutyNotice
from opel.alerting.records import Delivery, DosRecord, KeahRecord, PlacementRecord, delivery_id, duty_id
from opel.alerting.routing import DUTY_ROLE, ClockConfig, RoutingConfig
from opel.contracts.escalation import EscalationData
from opel.contracts.status import AnyStatus, AreaStatus, CountyStatus, IndicatorStatus
from opel.feeds import ReferralEvent

Statuses = Mapping[str, AnyStatus]
"""The latest status per scope key, as read from the compacted ``opel.status.v1``."""


def _indicators(statuses: Statuses, area: str) -> list[IndicatorStatus]:
    return sorted(
        (s for s in statuses.values() if isinstance(s, IndicatorStatus) and s.area == area),
        key=lambda s: s.scope,
    )


def daily_summary(
    statuses: Statuses,
    instant: datetime,
    keah: tuple[int, int, int],
    vocab: Vocabulary | None = None,
    missing: Sequence[submissions.MissingSubmission] | None = None,
) -> DutyNotice:
    """The 10:00 assessment summary for the duty route: county, each area, KEaH 2-hour figures,
    and, given ``missing``, which submissions had no reading today (plan 3.1)."""
    words = vocab or Vocabulary()
    lines = [f"Daily OPEL assessment, {when(instant)}."]
    county = next((s for s in statuses.values() if isinstance(s, CountyStatus)), None)
    lines.append(f"Kent County Council: {level_words(county.level) if county else 'not assessed yet'}.")
    areas = sorted((s for s in statuses.values() if isinstance(s, AreaStatus)), key=lambda s: s.scope)
    for status in areas:
        name = words.areas.get(status.area, status.area)
        since = f" since {when(status.since)}" if status.since else ""
        lines.append(f"- {name}: {level_words(status.level)}{since}.")
        for indicator in _indicators(statuses, status.area):
            if indicator.level is not None and indicator.level >= 2:
                label = words.indicators.get(indicator.indicator, indicator.indicator)
                lines.append(f"    {label}: {level_words(indicator.level)} (value {indicator.value}).")
    met, missed, open_ = keah
    lines.append(f"KEaH 2-hour rule (plan 7.6): {met} met, {missed} missed, {open_} still open.")
    lines.append(
        "    (told: the KEaH organiser confirmed telling the referrer; opel's own message does not count)"
    )
    if missing is not None:
        lines += submissions.summary_lines(missing, words)
    rendered = render_duty(f"OPEL daily assessment {instant.astimezone(clock.LONDON):%a %d %b}", lines)
    return DutyNotice(
        duty_id("daily", "summary", instant), "daily", DUTY_ROLE, None, rendered, "daily 10:00 assessment"
    )


def missed_updates(
    statuses: Statuses,
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
        level = area_status.level if isinstance(area_status, AreaStatus) else None
        windows = [w for w in clock.update_windows(level, day, config.zone) if w.name == window_name]
        for window in windows:
            for indicator in _indicators(statuses, area):
                updates = [indicator.observed_at] if indicator.observed_at else []
                if not clock.window_missed(updates, window):
                    continue
                name = indicator.indicator
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
    statuses: Statuses, now: datetime, config: ClockConfig, vocab: Vocabulary | None = None
) -> list[DutyNotice]:
    """Indicators with no update for ``stale_after`` at any level: one notice per stale spell."""
    words = vocab or Vocabulary()
    notices: list[DutyNotice] = []
    for status in statuses.values():
        if not isinstance(status, IndicatorStatus) or status.observed_at is None:
            continue
        if not clock.is_stale(status.observed_at, now, config.stale_after):
            continue
        name = status.indicator
        label = words.indicators.get(name, name)
        place = words.areas.get(status.area, status.area)
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


# --- NHS 111 DoS capacity management protocol (plan 6.1) ----------------------------------------


def dos_transition(data: EscalationData, config: ClockConfig, existing: DosRecord | None) -> DosRecord | None:
    """The protocol record an area or county level change starts or ends; None when unchanged.

    Activation: the scope reaches ``dos_activation_level`` from below (or is first assessed at
    or above it). A further rise (3 -> 4) changes nothing, so the 4-hour review keeps running
    from activation. De-escalation below the activating level ends it. Exercise changes and
    changes older than the record are ignored.
    """
    if data.kind not in {"area", "county"} or data.exercise:
        return None
    if existing is not None and existing.changed_at > data.at:
        return None
    active = existing is not None and existing.ended_at is None
    at_level = data.to_level >= config.dos_activation_level
    if at_level and not active:
        return DosRecord(
            scope=data.scope, area=data.area, level=data.to_level, activated_at=data.at, changed_at=data.at
        )
    if not at_level and active and existing is not None:
        return existing.model_copy(update={"ended_at": data.at, "changed_at": data.at})
    return None


def _place(record: DosRecord, words: Vocabulary) -> str:
    if record.area is None:
        return "Kent County Council"
    return words.areas.get(record.area, record.area)


def _step_b(calendar: PlanCalendar, instant: datetime) -> str:
    if calendar.is_office_hours(instant):
        return "inform the ICB commissioning lead (in hours)"
    return f"inform the NHS Director on Call ({calendar.describe(instant)})"


def dos_activation(
    record: DosRecord, config: ClockConfig, calendar: PlanCalendar, vocab: Vocabulary | None = None
) -> DutyNotice:
    """The prompt at activation: steps (a) and (b) at once, and when step (c) falls due."""
    words = vocab or Vocabulary()
    place = _place(record, words)
    review = record.activated_at + config.dos_review_every
    body = [
        f"{place} reached {level_words(record.level)} at {when(record.activated_at)}, the level set to "
        "activate the NHS 111 Directory of Service capacity management protocol (plan 6.1).",
        "Now, if pressure indicates it:",
        "(a) call NHS 111 on 01233 363020 to change the service capacity status;",
        f"(b) {_step_b(calendar, record.activated_at)}.",
        f"(c) review the escalation status at {when(review)} (4 hours from activation); "
        "if pressure remains, repeat (a) and (b).",
        "KCC services are Band B / C: no ratification by the ICB Director on Call is needed.",
    ]
    return DutyNotice(
        duty_id("dos-activate", record.scope, record.activated_at),
        "dos",
        config.dos_review_role,
        record.area,
        render_duty(f"NHS 111 DoS protocol: {place} at {level_words(record.level)}", body),
        f"{record.scope} reached OPEL {record.level} at {record.activated_at.isoformat()}: steps (a) and (b)",
        level=record.level,
    )


def dos_reviews(
    records: Iterable[DosRecord],
    now: datetime,
    config: ClockConfig,
    vocab: Vocabulary | None = None,
    calendar: PlanCalendar | None = None,
) -> list[DutyNotice]:
    """Step (c): a review every ``dos_review_every`` from activation while the protocol is active."""
    words = vocab or Vocabulary()
    cal = calendar or PlanCalendar(zone=config.zone)
    notices: list[DutyNotice] = []
    for record in records:
        if record.ended_at is not None:
            continue
        n, due = clock.dos_review_due(record.activated_at, now, config.dos_review_every)
        if due is None:
            continue
        place = _place(record, words)
        body = [
            f"{place} activated the NHS 111 DoS protocol at {when(record.activated_at)}: "
            f"review {n} was due at {when(due)} (plan 6.1 step c).",
            "If pressure remains: (a) call NHS 111 on 01233 363020 to set the service capacity status, and",
            f"(b) {_step_b(cal, due)}.",
        ]
        notices.append(
            DutyNotice(
                duty_id("dos", f"{record.scope}@{record.activated_at.isoformat()}", due),
                "dos",
                config.dos_review_role,
                record.area,
                render_duty(f"NHS 111 DoS review {n}: {place}", body),
                f"review {n} due at {due.isoformat()}",
            )
        )
    return notices


# --- assessment beds (plan 6.3) ------------------------------------------------------------------


def placement_change(
    command: AssessmentBedPlacement, existing: PlacementRecord | None
) -> PlacementRecord | None:
    """The placement record a start or end command makes; None for a repeat or an unknown end."""
    if command.change == "started":
        if existing is not None and existing.started_at == command.at:
            return None
        return PlacementRecord(
            placement_id=command.placement_id, area=command.area, ref=command.ref, started_at=command.at
        )
    if existing is None or existing.ended_at is not None:
        return None
    return existing.model_copy(update={"ended_at": command.at})


def assessment_bed_duties(
    placements: Iterable[PlacementRecord], now: datetime, config: ClockConfig, vocab: Vocabulary | None = None
) -> list[DutyNotice]:
    """Open placements past 3 weeks (escalate for immediate action) and in their eighth week
    (tell the provider, so discharge or funding is arranged before the 12-week disregard ends)."""
    words = vocab or Vocabulary()
    notices: list[DutyNotice] = []
    for placement in placements:
        if placement.ended_at is not None:
            continue
        place = words.areas.get(placement.area, placement.area)
        ref = f" {placement.ref}" if placement.ref else ""
        started = when(placement.started_at)
        steps = (
            (
                "bed-3w",
                config.assessment_bed_escalate_after,
                config.assessment_bed_escalate_role,
                f"Assessment bed placement{ref} past 3 weeks: {place}",
                [
                    f"Assessment bed placement{ref} in {place} started {started} and has passed 3 weeks.",
                    "Escalate it for immediate action (plan 6.3) to reduce drift and free the bed.",
                ],
            ),
            (
                "bed-8w",
                config.assessment_bed_notify_after,
                config.assessment_bed_notify_role,
                f"Assessment bed placement{ref}: week 8 of the disregard, {place}",
                [
                    f"Assessment bed placement{ref} in {place} started {started} and is in week 8 "
                    "of the 12-week disregard.",
                    "Notify the provider now, so discharge or funding is arranged before it ends (6.3).",
                ],
            ),
        )
        for job, after, role, title, body in steps:
            due = placement.started_at + after
            if now < due:
                continue
            notices.append(
                DutyNotice(
                    duty_id(job, placement.placement_id, placement.started_at),
                    job,
                    role,
                    placement.area,
                    render_duty(title, body),
                    f"placement started {placement.started_at.isoformat()}, step due {due.isoformat()}",
                )
            )
    return notices


# --- KEaH 2-hour rule (plan 7.6) ---------------------------------------------------------------


def keah_notice(record: KeahRecord, vocab: Vocabulary | None = None) -> Rendered:
    words = vocab or Vocabulary()
    place = words.areas.get(record.area, record.area)
    ref = f" {record.ref}" if record.ref else ""
    body = [
        f"KEaH referral{ref} ({place}) received {when(record.received_at)}:",
        "no start date can be found within 24 hours.",
        f"Tell the referrer by {when(record.due_at)} (2 hours from receipt, plan 7.6),",
        "and make sure the person is followed up in the community.",
        "Once the referrer has been told, confirm it on the board or in the API",
        f"(POST /keah/{record.event_id}/referrer-told): that confirmation is what is counted.",
    ]
    return render_duty(f"KEaH: tell the referrer{ref} by {when(record.due_at)}", body)


@dataclass(frozen=True, slots=True)
class KeahReferral:
    """A referral the 2-hour rule applies to: the clock to keep, and the notice that starts it."""

    record: KeahRecord
    notice: DutyNotice


def starts_keah_clock(event: ReferralEvent) -> bool:
    """Whether the 2-hour rule applies: a KEaH referral received with no start date within 24 hours."""
    return event.service == "keah" and event.kind == "received" and event.start_date_within_24h is False


def keah_referral(
    event: ReferralEvent, config: ClockConfig, known: Collection[str], vocab: Vocabulary | None = None
) -> KeahReferral | None:
    """The 2-hour clock for a KEaH referral received with no start date within 24 hours.

    None for any other event, and for one whose id is in ``known`` (a replay: already counted).
    The deadline runs from when the referral was received (``occurred_at``), not from when
    alerting read it.
    """
    if not starts_keah_clock(event):
        return None
    if event.event_id in known:
        return None
    received = event.occurred_at
    record = KeahRecord(
        event_id=event.event_id,
        area=event.area,
        ref=event.ref,
        received_at=received,
        due_at=clock.keah_deadline(received, config.keah_within),
        notice_id=duty_id("keah", event.event_id, received),
    )
    notice = DutyNotice(
        record.notice_id, "keah", config.keah_role, event.area, keah_notice(record, vocab), "KEaH 2-hour rule"
    )
    return KeahReferral(record, notice)


def keah_alerted(records: Iterable[KeahRecord], delivery: Delivery, now: datetime) -> list[KeahRecord]:
    """The KEaH records whose organisers' message was sent at ``now`` (``alerted_at``).

    This is opel's own message leaving, not the referrer being told: it does not stop the
    2-hour clock. Only the first successful delivery counts.
    """
    if delivery.state != "sent" or delivery.kind != "duty":
        return []
    return [
        record.model_copy(update={"alerted_at": now})
        for record in records
        if record.notice_id == delivery.notice_id and record.alerted_at is None
    ]


def keah_confirmed(
    records: Mapping[str, KeahRecord], command: KeahReferrerTold
) -> tuple[KeahRecord | None, str]:
    """The organiser's confirmation that the referrer was told: recorded at the command's time.

    The first confirmation counts; a second, or one for a referral alerting never saw (not a
    KEaH referral without a start date within 24 hours), changes nothing. The reason says which.
    """
    record = records.get(command.event_id)
    if record is None:
        return None, f"no KEaH 2-hour clock for referral event {command.event_id}"
    if record.told_at is not None:
        return None, f"referrer already recorded as told at {record.told_at.isoformat()} by {record.told_by}"
    updated = record.model_copy(update={"told_at": command.at, "told_by": command.author})
    verdict = "within" if command.at <= record.due_at else "after"
    return updated, f"referrer told, confirmed by {command.author} {verdict} the 2 hours"


def keah_figures(records: Iterable[KeahRecord], now: datetime) -> tuple[int, int, int]:
    """(met, missed, open): confirmed told within 2 hours, confirmed late or overdue, still inside.

    Only the organiser's confirmation (``told_at``) counts as told; opel's message does not.
    """
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


# --- from a notice to the outbox ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DutyDelivery:
    """A new outbox record for one contact, and why it was made (for the decision log)."""

    delivery: Delivery
    reason: str


def duty_deliveries(
    notices: Iterable[DutyNotice], routing: RoutingConfig, logged: Collection[str], now: datetime
) -> list[DutyDelivery]:
    """One pending delivery per notice and contact routed for its role and area, due at once.

    A delivery whose deterministic id is already in ``logged`` (the outbox on the notification
    log) is not made again, so re-running a duty for the same instant sends nothing twice.
    """
    out: list[DutyDelivery] = []
    made: set[str] = set()
    for notice in notices:
        for contact in routing.contacts(notice.role, notice.area, at=now, level=notice.level):
            ident = delivery_id(notice.id, contact.id)
            if ident in made or not stages.dedup(ident, logged).act:
                continue
            made.add(ident)
            delivery = Delivery(
                delivery_id=ident,
                notice_id=notice.id,
                kind="duty",
                role=notice.role,
                route=f"clock:{notice.job}",
                contact=contact.id,
                channel=contact.channel,
                alert_ids=(notice.id,),
                subject=notice.rendered.subject,
                text=notice.rendered.text,
                short=notice.rendered.short,
                created_at=now,
                next_at=now,
            )
            out.append(DutyDelivery(delivery, f"duty {notice.job} to {contact.id}: {notice.reason}"))
    return out


# --- which duties a clock job runs ----------------------------------------------------------------


def job_notices(  # noqa: PLR0917  (every argument is an input of the job)
    job: str,
    instant: datetime,
    statuses: Statuses,
    keah: tuple[int, int, int],
    config: ClockConfig,
    vocab: Vocabulary | None = None,
    calendar: PlanCalendar | None = None,
) -> list[DutyNotice]:
    """The notices of wall-clock job ``job`` for its scheduled ``instant``.

    ``daily`` is the 10:00 summary, with the day's missing submissions; ``submissions`` reminds
    the owners of indicators with no reading today (plan 3.1); ``deadline-morning`` and
    ``deadline-afternoon`` check the update windows (Appendix 3) of the day ``instant`` falls
    on in the plan's time zone.
    """
    if job == "daily":
        missing = submissions.missing_submissions(statuses, instant, config)
        return [daily_summary(statuses, instant, keah, vocab, missing)]
    if job == submissions.JOB:
        cal = calendar or PlanCalendar(zone=config.zone)
        return submissions.reminders(statuses, instant, config, cal, vocab)
    window = "morning" if job == "deadline-morning" else "afternoon"
    return missed_updates(statuses, instant.astimezone(config.zone).date(), window, config, vocab)


def elapsed_notices(  # noqa: PLR0917  (every argument is an input of the duties)
    statuses: Statuses,
    now: datetime,
    config: ClockConfig,
    vocab: Vocabulary | None = None,
    dos: Iterable[DosRecord] = (),
    placements: Iterable[PlacementRecord] = (),
    calendar: PlanCalendar | None = None,
) -> list[DutyNotice]:
    """The elapsed-time duties due at ``now``: stale indicators, NHS 111 DoS reviews, assessment beds."""
    return (
        stale_indicators(statuses, now, config, vocab)
        + dos_reviews(dos, now, config, vocab, calendar)
        + assessment_bed_duties(placements, now, config, vocab)
    )
