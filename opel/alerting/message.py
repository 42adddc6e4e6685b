"""Alert text for a person reading on a phone: what changed, where, why, and what to do now.

Plain text with short lines; the subject line alone should be enough to know whether to stop
what you are doing. ``short`` is the SMS form (one screen). Times are shown in London time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from opel.contracts.escalation import EscalationData, PlanAction, RoleActions
from opel.levels import Level

LONDON = ZoneInfo("Europe/London")
EXERCISE_BANNER = "EXERCISE EXERCISE EXERCISE - not a live alert"
SMS_LIMIT = 459  # three concatenated SMS parts

AREA_NAMES: Mapping[str, str] = {
    "dgs": "Dartford, Gravesham and Swanley",
    "east_kent": "East Kent",
    "swale": "Swale",
    "west_kent": "West Kent",
}
INDICATOR_NAMES: Mapping[str, str] = {
    "stp_staffing_pct": "Short-term Pathway Team staffing",
    "health_caseload": "KCC health caseload",
    "social_caseload": "KCC social caseload",
    "referrals": "Referrals pending assessment outcome",
    "keah_capacity": "KEaH daily capacity",
    "d2a_p1_weekly_availability": "D2A pathway one weekly availability",
    "d2a_p1_discharged_yesterday": "D2A pathway one discharged yesterday",
    "assessment_bed_availability": "Assessment bed availability",
    "dementia_bed_availability": "Dementia bed availability",
}
ROLE_NAMES: Mapping[str, str] = {
    "inhouse_registered_managers": "In-house Provision registered manager",
    "keah_locality_organisers": "KEaH Locality Organiser",
    "senior_practitioner": "Senior Practitioner / Social Care Discharge Co-ordinator",
    "stp_team_manager": "Short Term Pathway Team Manager",
    "pascc_ops_manager": "Prevention and ASC Connect Operations Manager",
    "community_team_managers": "Community / Locality Team Manager",
    "assistant_director": "Assistant Director",
    "director_asc": "Director of Adult Social Care",
    "duty": "Duty manager",
    "out_of_hours_service": "KCC Out of Hours Service",
    "arranging_support_team": "Arranging Support Team",
    "icb_commissioning_lead": "ICB commissioning lead",
    "nhs_director_on_call": "NHS Director on Call",
}
DEFAULT_ACK = "To acknowledge, reply ACK {alert_id} in the OPEL console or API; until then this repeats."


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Names to use in messages; Kent's by default."""

    areas: Mapping[str, str] = field(default_factory=lambda: dict(AREA_NAMES))
    indicators: Mapping[str, str] = field(default_factory=lambda: dict(INDICATOR_NAMES))
    roles: Mapping[str, str] = field(default_factory=lambda: dict(ROLE_NAMES))
    ack: str = DEFAULT_ACK
    plan_version: str = "1.8"
    """The version of the action plan the actions come from; the service sets the one in force."""


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    short: str


@dataclass(frozen=True, slots=True)
class Item:
    """One alert inside a message. ``kind``: firing, repeat, escalated or resolved."""

    kind: str
    alert_id: str
    data: EscalationData
    told_level: int | None = None
    repeat: int = 0


def level_words(level: int | None) -> str:
    if level is None:
        return "no level"
    lv = Level(level)
    return f"{lv.label} {lv.colour}"


def when(at: datetime) -> str:
    local = at.astimezone(LONDON)
    return f"{local:%H:%M} {local:%a} {local.day} {local:%b}"


def scope_words(data: EscalationData, vocab: Vocabulary) -> str:
    area = vocab.areas.get(data.area or "", data.area or "")
    if data.kind == "indicator":
        name = vocab.indicators.get(data.indicator or "", data.indicator or "an indicator")
        return f"{name} in {area}"
    if data.kind == "area":
        return area
    if data.kind == "county":
        return "Kent County Council (all areas)"
    if data.kind == "site":
        return f"site {data.site}"
    return f"system {data.system}"


def evidence_sentence(data: EscalationData) -> str:
    evidence = data.evidence
    if evidence.explanation:
        return evidence.explanation.rstrip(".") + "."
    if data.cause == "override":
        return "Set by the escalation group (manual override)."
    if data.cause == "override-ended":
        return "A manual override ended; the level is back to what the data says."
    if data.cause == "dwell":
        return "The lower level has held long enough to step down (plan 8)."
    return "New data changed the level."


def _actions(title: str, actions: Sequence[PlanAction]) -> list[str]:
    if not actions:
        return []
    return [title, *(f"- {a.text} (plan {a.plan_ref})" for a in actions)]


def plan_refs(own: RoleActions | None) -> str:
    """``7.3, 8`` and ``8`` become ``7.3, 8``: each section once, in the order first met."""
    refs: list[str] = []
    for action in (*(own.start if own else ()), *(own.stand_down if own else ())):
        for ref in action.plan_ref.split(","):
            if ref.strip() and ref.strip() not in refs:
                refs.append(ref.strip())
    return ", ".join(refs) if refs else "section 8, Appendix 3"


def _block(item: Item, role: str, vocab: Vocabulary) -> list[str]:
    data = item.data
    where = scope_words(data, vocab)
    lines: list[str] = []
    if item.kind == "resolved":
        lines.append(f"RESOLVED: {where} is now {level_words(data.to_level)}.")
        lines.append(f"You were told it was {level_words(item.told_level)}. {evidence_sentence(data)}")
    else:
        if data.from_level is None:
            change = f"first assessed at {level_words(data.to_level)}"
        elif data.to_level > data.from_level:
            change = f"up from {level_words(data.from_level)}"
        else:
            change = f"down from {level_words(data.from_level)}"
        prefix = {
            "repeat": f"STILL (reminder {item.repeat}): ",
            "escalated": "NOT ACKNOWLEDGED, passed to you: ",
        }
        head = prefix.get(item.kind, "")
        lines.append(f"{head}{where} is {level_words(data.to_level)}, {change} at {when(data.at)}.")
        lines.append(f"Why: {evidence_sentence(data)}")
    own = data.actions_for(role)
    if own is not None:
        lines += _actions("Start now:", own.start)
        lines += _actions("Stand down:", own.stand_down)
    elif item.kind != "resolved":
        lines.append("No change to your role's actions from this alert alone; follow the area's level.")
    lines.append(f"Plan v{vocab.plan_version}: {plan_refs(own)}.")
    if item.kind != "resolved":
        lines.append(vocab.ack.format(alert_id=item.alert_id))
    else:
        lines.append(f"Nothing to acknowledge (alert {item.alert_id}).")
    return lines


def _subject(items: Sequence[Item], vocab: Vocabulary) -> str:
    first = items[0]
    where = scope_words(first.data, vocab)
    if len(items) == 1:
        if first.kind == "resolved":
            return f"RESOLVED {where}: now {level_words(first.data.to_level)}"
        tag = {"repeat": "REMINDER ", "escalated": "UNACKNOWLEDGED "}.get(first.kind, "")
        return f"{tag}{level_words(first.data.to_level).upper()}: {where}"
    top = (
        max(item.data.to_level for item in items if item.kind != "resolved")
        if any(item.kind != "resolved" for item in items)
        else None
    )
    area = vocab.areas.get(first.data.area or "", first.data.area or where)
    head = level_words(top).upper() if top is not None else "RESOLVED"
    return f"{head}: {len(items)} changes in {area}"


def render(items: Sequence[Item], role: str, vocab: Vocabulary | None = None) -> Rendered:
    """One message to one role about one or more alerts of the same group."""
    if not items:
        raise ValueError("render needs at least one item")
    words = vocab or Vocabulary()
    exercise = any(item.data.exercise for item in items)
    lines: list[str] = [EXERCISE_BANNER] if exercise else []
    lines.append(f"For: {words.roles.get(role, role)}")
    for item in sorted(items, key=lambda i: (i.kind == "resolved", -i.data.to_level, i.data.scope)):
        lines.append("")
        lines += _block(item, role, words)
    subject = _subject(items, words)
    if exercise:
        subject = f"EXERCISE {subject}"
    text = "\n".join(lines)
    ids = ", ".join(item.alert_id[:8] for item in items if item.kind != "resolved")
    short = f"{subject}. {evidence_sentence(items[0].data)}"
    if ids:
        short += f" Ack: {ids}"
    return Rendered(subject, text, short[:SMS_LIMIT])


def render_duty(title: str, body: Sequence[str], *, exercise: bool = False) -> Rendered:
    """A clock-driven notice (daily summary, missed update, DoS review, KEaH 2-hour rule)."""
    lines = [EXERCISE_BANNER] if exercise else []
    lines += list(body)
    subject = f"EXERCISE {title}" if exercise else title
    short = f"{subject}. {body[0] if body else ''}".strip()
    return Rendered(subject, "\n".join(lines), short[:SMS_LIMIT])
