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

DEFAULT_PARTITIONS: Final = 4


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """Definition of one topic.

    ``compacted`` topics hold the latest value per key (``cleanup.policy=compact``);
    the others are plain append-only (``cleanup.policy=delete``) logs.
    """

    name: str
    partitions: int
    compacted: bool
    role: TopicRole
    description: str


# (name, compacted, role, description); partitions are supplied by all_topics().
_DEFINITIONS: Final[tuple[tuple[str, bool, TopicRole, str], ...]] = (
    (CAPACITY, False, "in", "Capacity readings (beds, staffing) per site/unit, keyed by site id."),
    (REFERRALS, False, "in", "New referrals into services, keyed by site id."),
    (REFERRAL_EVENTS, False, "in", "Referral lifecycle events (accepted, delayed, closed), by site id."),
    (ACUTE, False, "in", "Acute-sector pressure signals (e.g. discharge delays), keyed by site id."),
    (COMMANDS, False, "in", "Operator commands (overrides, acknowledgements, re-evaluation requests)."),
    (STATUS, True, "out", "Current OPEL level and state per site; latest value per key (compacted)."),
    (ESCALATIONS, False, "out", "OPEL level transitions (escalation and de-escalation) per site."),
    (ALERTS, False, "out", "Notifications to be delivered to people or downstream systems."),
    (AUDIT, False, "out", "Audit trail of decisions and operator commands."),
    (DEADLETTER, False, "out", "Records that could not be decoded or processed, with the error."),
)

INPUT_TOPICS: Final[tuple[str, ...]] = tuple(d[0] for d in _DEFINITIONS if d[2] == "in")
OUTPUT_TOPICS: Final[tuple[str, ...]] = tuple(d[0] for d in _DEFINITIONS if d[2] == "out")
ALL_TOPIC_NAMES: Final[tuple[str, ...]] = tuple(d[0] for d in _DEFINITIONS)


def all_topics(partitions: int = DEFAULT_PARTITIONS) -> tuple[TopicSpec, ...]:
    """All OPEL topics, each with ``partitions`` partitions (must be >= 1)."""
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    return tuple(
        TopicSpec(name=name, partitions=partitions, compacted=compacted, role=role, description=desc)
        for name, compacted, role, desc in _DEFINITIONS
    )
