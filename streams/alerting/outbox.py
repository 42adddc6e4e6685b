"""The outbox: deliveries waiting to be sent, and what a send's outcome does to them.

A delivery is written as ``pending`` before its first attempt and as ``sent`` after success.
A crash in between leaves it ``pending``, so it is sent again after the restart: delivery is
at least once, and the delivery id in every message lets receivers drop the copy.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime

from opel.alerting import stages
from opel.alerting.records import Delivery
from opel.alerting.routing import RetryPolicy
from streams.alerting.channels import SendResult


def due(deliveries: Iterable[Delivery], now: datetime, in_flight: set[str]) -> list[Delivery]:
    """Pending deliveries whose next attempt is due and which are not being sent right now."""
    return sorted(
        (
            d
            for d in deliveries
            if d.state == "pending" and d.next_at <= now and d.delivery_id not in in_flight
        ),
        key=lambda d: (d.next_at, d.delivery_id),
    )


def outcome(
    delivery: Delivery, result: SendResult, now: datetime, policy: RetryPolicy, rng: random.Random
) -> tuple[Delivery, str]:
    """The delivery as it stands after one attempt, and why."""
    attempts = delivery.attempts + 1
    if result.ok:
        return delivery.model_copy(update={"state": "sent", "attempts": attempts, "sent_at": now}), "sent"
    if not result.recoverable:
        reason = f"not retried: {result.error}"
        return delivery.model_copy(
            update={"state": "dead", "attempts": attempts, "last_error": result.error}
        ), reason
    decision = stages.retry_after(attempts, policy, now, rng)
    if not decision.act or decision.at is None:
        reason = f"{decision.reason}: {result.error}"
        return delivery.model_copy(
            update={"state": "dead", "attempts": attempts, "last_error": result.error}
        ), reason
    updated = delivery.model_copy(
        update={"attempts": attempts, "next_at": decision.at, "last_error": result.error}
    )
    return updated, f"{decision.reason} ({result.error})"
