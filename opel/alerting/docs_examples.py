"""The message examples of ``docs/alerting.md``, made from the real catalogue, action plan and routing.

Readings go through the core's own stages (:func:`opel.replay.replay` with the shipped
2025-26 catalogue and the shipped action plan), the escalation events it writes go through the
alerting engine with the shipped ``config/routing.yaml``, and the duties through
:mod:`opel.alerting.duties`. So an example can only cite a band the catalogue has, and only the
actions and routes that are really shipped. ``tests/test_alerting_docs.py`` checks the block in
the docs is what this renders; ``OPEL_REGENERATE_DOCS=1`` rewrites it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from opel.actions_load import default_action_plan
from opel.alerting import engine
from opel.alerting.duties import (
    daily_summary,
    dos_activation,
    dos_reviews,
    dos_transition,
    keah_referral,
    missed_updates,
)
from opel.alerting.records import AlertRecord, GroupRecord
from opel.alerting.routing import DEFAULT_ROUTING_FILE, RoutingConfig, load_routing
from opel.alerting.submissions import missing_submissions, reminders
from opel.catalogue_load import load_acute_catalogue, load_indicator_catalogue
from opel.contracts.escalation import EscalationEvent
from opel.escalation import EscalationPolicy
from opel.feeds import ReferralEvent
from opel.models import Reading
from opel.replay import Replayed, replay
from opel.stages.context import Context

BEGIN = "<!-- BEGIN GENERATED EXAMPLES: python -m opel.alerting.docs_examples -->"
END = "<!-- END GENERATED EXAMPLES -->"
T0 = datetime(2025, 11, 12, 9, 0, tzinfo=UTC)  # a Wednesday, office hours (GMT)
CATALOGUE = "kcc-asch-2025-26"


def _run() -> Replayed:
    ctx = Context(
        catalogue=load_indicator_catalogue(CATALOGUE),
        acute=load_acute_catalogue("nhs-acute-2023-24"),
        actions=default_action_plan(),
        policy=EscalationPolicy(timedelta(minutes=30)),
    )

    def reading(indicator: str, area: str, value: float, minutes: int) -> Reading:
        return Reading(
            indicator=indicator, area=area, value=value, observed_at=T0 + timedelta(minutes=minutes)
        )

    inputs = [
        reading("referrals", "dgs", 12, 0),  # OPEL 2
        reading("referrals", "dgs", 17, 120),  # OPEL 3
        reading("health_caseload", "east_kent", 70, 150),  # OPEL 3
        reading("referrals", "east_kent", 16, 150),  # OPEL 3
    ]
    return replay(inputs, ctx)


def _block(title: str, subject: str, text: str) -> list[str]:
    return [f"### {title}", "", f"Subject: `{subject}`", "", "```text", text, "```", ""]


def _flush(events: Iterable[EscalationEvent], routing: RoutingConfig, role: str, scopes: str) -> engine.Flush:
    """The message ``role`` gets once the events whose scope matches ``scopes`` (a regex) are due."""
    book: dict[str, AlertRecord] = {}
    groups: dict[str, GroupRecord] = {}
    plan = default_action_plan()
    chosen = [e for e in events if re.fullmatch(scopes, e.data.scope)]
    for event in chosen:
        for change in engine.apply_escalation(event, routing, book, groups, event.data.at, plan):
            book[change.record.key] = change.record
    last = max(e.data.at for e in chosen)
    flushes = engine.plan_flushes(routing, book, last + timedelta(hours=1))
    return next(f for f in flushes if f.role == role)


def render_examples(routing: RoutingConfig | None = None) -> str:
    """The generated part of docs/alerting.md, between :data:`BEGIN` and :data:`END`."""
    config = routing or load_routing(DEFAULT_ROUTING_FILE, env={})
    run = _run()
    events = run.escalations
    area = [e for e in events if e.data.scope == "area/dgs"]
    lines = [
        BEGIN,
        "",
        f"Made from readings run through the core with the `{CATALOGUE}` catalogue, the shipped action",
        "plan and `config/routing.yaml`. Times are London time.",
        "",
    ]
    first = _flush(area, config, "stp_team_manager", "area/dgs")
    lines += _block(
        "OPEL 3 to the Short Term Pathway Team Manager (referrals 17 in Dartford, Gravesham and Swanley)",
        first.rendered.subject,
        first.rendered.text,
    )
    lines += ["SMS form (GOV.UK Notify, `((body))`):", "", "```text", first.rendered.short, "```", ""]
    director = _flush(area, config, "director_asc", "area/dgs")
    lines += _block(
        "The same change to the Director of Adult Social Care",
        director.rendered.subject,
        director.rendered.text,
    )
    pair = _flush(events, config, "stp_team_manager", r"indicator/.*/east_kent")
    lines += _block(
        "Two indicators of one area inside group_wait: one message", pair.rendered.subject, pair.rendered.text
    )
    record = None
    for event in area:
        record = dos_transition(event.data, config.clock, record) or record
    assert record is not None
    activation = dos_activation(record, config.clock, config.plan_calendar)
    lines += _block(
        "NHS 111 DoS protocol activated (to pascc_ops_manager, at once)",
        activation.rendered.subject,
        activation.rendered.text,
    )
    review = dos_reviews([record], record.activated_at + config.clock.dos_review_every, config.clock)[0]
    lines += _block(
        "NHS 111 DoS review 4 hours after activation", review.rendered.subject, review.rendered.text
    )
    keah = keah_referral(
        ReferralEvent(
            event_id="ev-0042",
            area="swale",
            kind="received",
            occurred_at=T0 + timedelta(minutes=30),
            service="keah",
            ref="KEAH-20251112-0042",
            start_date_within_24h=False,
        ),
        config.clock,
        known=set(),
    )
    assert keah is not None
    lines += _block(
        "KEaH 2-hour rule (to keah_locality_organisers)",
        keah.notice.rendered.subject,
        keah.notice.rendered.text,
    )
    instant = datetime(2025, 11, 13, 10, 0, tzinfo=UTC)
    missing = missing_submissions(run.statuses, instant, config.clock)
    summary = daily_summary(run.statuses, instant, (6, 1, 0), missing=missing)
    lines += _block("Daily 10:00 summary to the duty route", summary.rendered.subject, summary.rendered.text)
    nudge = next(
        n
        for n in reminders(run.statuses, instant, config.clock, config.plan_calendar)
        if n.area == "east_kent"
    )
    lines += _block(
        f"10:00 submission nudge: no reading today (to {nudge.role}, for East Kent)",
        nudge.rendered.subject,
        nudge.rendered.text,
    )
    missed = missed_updates(run.statuses, instant.date(), "afternoon", config.clock)[0]
    lines += _block(
        f"Missed 14:00-15:30 update at OPEL 3 (to {missed.role})",
        missed.rendered.subject,
        missed.rendered.text,
    )
    lines.append(END)
    return "\n".join(lines)


def replace_block(document: str, block: str) -> str:
    """``document`` with the text from :data:`BEGIN` to :data:`END` replaced by ``block``."""
    start = document.index(BEGIN)
    end = document.index(END) + len(END)
    return document[:start] + block + document[end:]


if __name__ == "__main__":  # pragma: no cover
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "alerting.md"
    docs.write_text(replace_block(docs.read_text(encoding="utf-8"), render_examples()), encoding="utf-8")
