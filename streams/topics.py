"""Kafka topic names and definitions for OPEL: the one place topic names live.

Data only. Every other module (Faust app, CLI, tests, deployment tooling) takes topic
names from here. Topic configuration (e.g. ``cleanup.policy``) is derived from a
:class:`TopicSpec` by whoever creates the topics (see :mod:`streams.broker`).

All topics of one deployment share one partition count: the stateful agents join
inputs by site key, so source topics, output topics and Faust's changelog topics
must be co-partitioned (Faust's ``topic_partitions`` must equal this count).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

TopicRole = Literal["in", "out", "internal"]

# --- inbound -----------------------------------------------------------------------
CAPACITY: Final = "opel.capacity.v1"
REFERRALS: Final = "opel.referrals.v1"
REFERRAL_EVENTS: Final = "opel.referral-events.v1"
ACUTE: Final = "opel.acute.v1"
COMMANDS: Final = "opel.commands.v1"

# --- outbound ----------------------------------------------------------------------
STATUS: Final = "opel.status.v1"
ESCALATIONS: Final = "opel.escalations.v1"
ALERTS: Final = "opel.alerts.v1"
AUDIT: Final = "opel.audit.v1"
DEADLETTER: Final = "opel.deadletter.v1"
ACTION_ITEMS: Final = "opel.action-items.v1"
WARNINGS: Final = "opel.warnings.v1"

# --- service-internal (consumed only by opel itself) ---------------------------------
NOTIFICATIONS: Final = "opel.notifications.v1"
AREA_EVENTS: Final = "opel.internal.area.v1"
COUNTY_EVENTS: Final = "opel.internal.county.v1"
SYSTEM_EVENTS: Final = "opel.internal.system.v1"
PARTNER_DELIVERIES: Final = "opel.partner-deliveries.v1"

# --- a live exercise's own namespace (docs/exercises.md): written and read only by the exercise
# runner, its alerting service and the API, never by the live stages, alerting or partners ----
EXERCISE_ESCALATIONS: Final = "opel.exercise.escalations.v1"
EXERCISE_ALERTS: Final = "opel.exercise.alerts.v1"
EXERCISE_ACTION_ITEMS: Final = "opel.exercise.action-items.v1"
EXERCISE_COMMANDS: Final = "opel.exercise.commands.v1"
EXERCISE_NOTIFICATIONS: Final = "opel.exercise.notifications.v1"
EXERCISE_STATUS: Final = "opel.exercise.status.v1"
EXERCISE_AUDIT: Final = "opel.exercise.audit.v1"
EXERCISE_REFERRAL_EVENTS: Final = "opel.exercise.referral-events.v1"
EXERCISE_WARNINGS: Final = "opel.exercise.warnings.v1"

DEFAULT_PARTITIONS: Final = 4


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """Definition of one topic.

    ``compacted`` topics hold the latest value per key (``cleanup.policy=compact``);
    the others are plain append-only (``cleanup.policy=delete``) logs. ``config`` adds topic
    settings as ``(name, value)`` pairs; opel's own topics have none, and a test that must see the
    log cleaner at work sets e.g. ``segment.ms`` on a copy (``dataclasses.replace``).
    """

    name: str
    partitions: int
    compacted: bool
    role: TopicRole
    description: str
    config: tuple[tuple[str, str], ...] = ()


# (name, compacted, role, description); partitions are supplied by all_topics().
_DEFINITIONS: Final[tuple[tuple[str, bool, TopicRole, str], ...]] = (
    (CAPACITY, False, "in", "Indicator readings (staffing, KEaH, D2A, beds) per area; key = area id."),
    (REFERRALS, False, "in", "Referral and caseload indicator readings per area; key = area id."),
    (REFERRAL_EVENTS, False, "in", "Referral lifecycle events (received, accepted, closed) per area."),
    (ACUTE, False, "in", "Acute site OPEL parameter submissions; key = site id."),
    (COMMANDS, False, "in", "Escalation-group commands: overrides, withdrawals, acks, catalogue reload."),
    (STATUS, True, "out", "Current level per scope (indicator, area, county, site, system); key = scope."),
    (ESCALATIONS, False, "out", "Escalations and de-escalations as CloudEvents, with actions per role."),
    (ALERTS, False, "out", "What duty managers must be told, one record per alert and delivery state."),
    (AUDIT, False, "out", "Every decision: input, rule, catalogue version, override author."),
    (DEADLETTER, False, "out", "Rejected input: the raw message, where it came from, and why."),
    (
        ACTION_ITEMS,
        True,
        "out",
        "Each action started for a role at a level and where it stands; key = item id.",
    ),
    (
        WARNINGS,
        False,
        "out",
        "Early warnings: an indicator projected to cross into a worse band, and what became of it.",
    ),
    (NOTIFICATIONS, True, "internal", "Alerting's notification log and outbox (latest state per alert)."),
    (AREA_EVENTS, False, "internal", "Readings, referral events, commands and ticks re-keyed by area."),
    (COUNTY_EVENTS, False, "internal", "Area levels, commands and ticks re-keyed by county."),
    (SYSTEM_EVENTS, False, "internal", "Acute site scores, commands and ticks re-keyed by system."),
    (
        PARTNER_DELIVERIES,
        True,
        "internal",
        "Each escalation's latest delivery attempt to each partner webhook; key = group/event id.",
    ),
    (EXERCISE_ESCALATIONS, False, "internal", "A live exercise's escalations, published at scenario time."),
    (EXERCISE_ALERTS, False, "internal", "The exercise alerting's deliveries (EXERCISE messages only)."),
    (EXERCISE_ACTION_ITEMS, True, "internal", "The exercise's action items; key = item id."),
    (EXERCISE_COMMANDS, False, "internal", "Acks and action item marks for the exercise, from the API."),
    (EXERCISE_NOTIFICATIONS, True, "internal", "The exercise alerting's notification log and outbox."),
    (EXERCISE_STATUS, True, "internal", "Exercise statuses for the exercise alerting (none are written)."),
    (EXERCISE_AUDIT, False, "internal", "The exercise alerting's audit records."),
    (EXERCISE_REFERRAL_EVENTS, False, "internal", "Exercise referral events (none are written yet)."),
    (EXERCISE_WARNINGS, False, "internal", "Exercise early warnings (none are written yet)."),
)

INPUT_TOPICS: Final[tuple[str, ...]] = tuple(d[0] for d in _DEFINITIONS if d[2] == "in")
OUTPUT_TOPICS: Final[tuple[str, ...]] = tuple(d[0] for d in _DEFINITIONS if d[2] == "out")
INTERNAL_TOPICS: Final[tuple[str, ...]] = tuple(d[0] for d in _DEFINITIONS if d[2] == "internal")
ALL_TOPIC_NAMES: Final[tuple[str, ...]] = tuple(d[0] for d in _DEFINITIONS)
EXERCISE_TOPICS: Final[tuple[str, ...]] = tuple(
    d[0] for d in _DEFINITIONS if d[0].startswith("opel.exercise.")
)


def all_topics(partitions: int = DEFAULT_PARTITIONS) -> tuple[TopicSpec, ...]:
    """All OPEL topics, each with ``partitions`` partitions (must be >= 1)."""
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    return tuple(
        TopicSpec(name=name, partitions=partitions, compacted=compacted, role=role, description=desc)
        for name, compacted, role, desc in _DEFINITIONS
    )
