"""Live referral and caseload counts for an area, from referral lifecycle events.

The counts feed the ``referrals``, ``health_caseload`` and ``social_caseload`` indicators
through the same triggers as a reading would. Events are applied at most once each (a
bounded memory of recent event ids), so a replayed stream does not count twice. Counts never
go below zero: a ``closed`` with nothing open is clamped and the clamp is reported, because
it means a producer missed an event or a snapshot is due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opel.feeds import ReferralEvent

REMEMBERED_IDS = 2000
COUNT_INDICATORS = {"pending": "referrals", "health": "health_caseload", "social": "social_caseload"}


@dataclass(frozen=True, slots=True)
class Counted:
    duplicate: bool
    changed: tuple[str, ...]  # the indicators whose count moved
    clamped: bool


def new_counts() -> dict[str, Any]:
    return {"pending": 0, "health": 0, "social": 0, "seen": [], "as_of": None}


def apply_event(counts: dict[str, Any], event: ReferralEvent) -> Counted:
    """Apply one event to ``counts`` in place."""
    if event.event_id in counts["seen"]:
        return Counted(True, (), False)
    counts["seen"].append(event.event_id)
    del counts["seen"][:-REMEMBERED_IDS]
    before = {key: counts[key] for key in COUNT_INDICATORS}
    clamped = False
    if event.kind == "snapshot":
        counts["pending"] = event.pending
        counts["health"] = event.health_caseload
        counts["social"] = event.social_caseload
    elif event.kind == "received":
        counts["pending"] += event.count
    elif event.kind == "accepted":
        clamped = _take(counts, "pending", event.count)
        counts[event.caseload or "health"] += event.count
    else:  # closed
        clamped = _take(counts, event.caseload or "pending", event.count)
    as_of = counts["as_of"]
    if as_of is None or event.occurred_at.isoformat() > as_of:
        counts["as_of"] = event.occurred_at.isoformat()
    changed = tuple(COUNT_INDICATORS[key] for key in COUNT_INDICATORS if counts[key] != before[key])
    return Counted(False, changed, clamped)


def _take(counts: dict[str, Any], key: str, count: int) -> bool:
    clamped = bool(counts[key] < count)
    counts[key] = max(0, counts[key] - count)
    return clamped


def value_of(counts: Mapping[str, Any], indicator: str) -> int:
    for key, name in COUNT_INDICATORS.items():
        if name == indicator:
            return int(counts[key])
    raise KeyError(indicator)
