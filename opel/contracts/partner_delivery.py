"""``opel.partner-deliveries.v1``: the delivery log of escalation events to partners' webhooks.

Compacted, key ``<consumer group>/<event id>``: the latest attempt for each event and partner,
which is what the delivery service reads back on start so that an event already delivered (or
given up on) is never sent again after a restart. Earlier attempts stay until the log cleaner
removes them. Carries ids, levels' scope keys and HTTP outcomes only: no personal data.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from opel.contracts.base import Contract

DeliveryOutcome = Literal["delivered", "retrying", "given_up", "refused"]
FINAL_OUTCOMES: frozenset[str] = frozenset({"delivered", "given_up", "refused"})
"""Outcomes after which the event is never sent to that partner again."""


class PartnerDelivery(Contract):
    """One attempt to deliver one escalation event to one partner, and how it ended.

    ``retrying``: it failed and another attempt follows; ``given_up``: the last attempt failed,
    or the partner answered a 4xx that no retry can change; ``refused``: the message on
    ``opel.escalations.v1`` was not a valid escalation (``event_id`` is then its place,
    ``topic/partition/offset``, and ``error`` says why).
    """

    partner: str
    event_id: str = Field(min_length=1)
    subject: str | None = None
    attempt: int = Field(ge=0)
    outcome: DeliveryOutcome
    status_code: int | None = None
    error: str | None = None
    at: AwareDatetime
