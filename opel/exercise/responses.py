"""What participants really did in a live exercise, as the report's :class:`Response` records.

The live exercise (:mod:`streams.exercise`) scores what happened through the API, not the
scenario's own ``responses:`` (those are for the offline report): each of its action items
marked done is a ``done`` response (a KEaH "tell the referrer" item a ``referrer_told`` one), and
each acknowledged alert an ``acknowledged`` one, at its time from the scenario's start. Items
marked not applicable or stood down were not done, so they give none.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from opel.alerting.records import AlertRecord
from opel.contracts.action_item import ActionItem

from .scenario import Response, Scenario

REFERRER_TOLD_ACTIONS = frozenset({"keah_locality_organisers.l2.tell_referrer_2h"})
"""Action items whose being done is the plan's "referrer told" (section 8, KEaH within 2 h)."""


def _offset(scenario: Scenario, at: datetime) -> timedelta:
    # A mark stamped before the start (a clock step) counts from the start: offsets are never negative.
    return max(at - scenario.start, timedelta(0))


def item_responses(scenario: Scenario, items: Iterable[ActionItem]) -> list[Response]:
    out: list[Response] = []
    for item in items:
        if item.state != "done" or item.closed_at is None:
            continue
        kind = "referrer_told" if item.action_id in REFERRER_TOLD_ACTIONS else "done"
        out.append(
            Response.model_validate(
                {
                    "at": _offset(scenario, item.closed_at),
                    "kind": kind,
                    "role": item.role,
                    "scope": item.scope,
                    "action": item.action_id,
                    "note": item.note,
                }
            )
        )
    return out


def ack_responses(scenario: Scenario, alerts: Iterable[AlertRecord]) -> list[Response]:
    return [
        Response.model_validate(
            {
                "at": _offset(scenario, alert.acked_at),
                "kind": "acknowledged",
                "role": alert.role,
                "scope": alert.scope,
            }
        )
        for alert in alerts
        if alert.acked_at is not None
    ]


def live_responses(
    scenario: Scenario, items: Iterable[ActionItem], alerts: Iterable[AlertRecord]
) -> tuple[Response, ...]:
    """Every response, in time order (then scope, role, action) so the report is the same each time."""
    found = item_responses(scenario, items) + ack_responses(scenario, alerts)
    return tuple(sorted(found, key=lambda r: (r.at, r.scope, r.role, r.action or "", r.kind)))
