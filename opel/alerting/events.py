"""Acknowledgements: the one function the HTTP API calls to turn an acknowledgement POST into
the command it writes to ``opel.commands.v1``, so both doors produce exactly the same record.

The escalation CloudEvents alerting reads are declared once, in
:mod:`opel.contracts.escalation`, shared with the worker that writes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from opel.feeds import Acknowledge


class AckRequest(BaseModel):
    """The body the HTTP API accepts: who acknowledges which alert, with an optional note."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alert_id: str = Field(min_length=1, max_length=200)
    author: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=500)


def ack_command(request: AckRequest | dict[str, Any], at: datetime) -> Acknowledge:
    """The ``opel.commands.v1`` command for an acknowledgement received at ``at``.

    An :class:`opel.feeds.Acknowledge`, so an ack the API writes is always one the alerting
    service accepts; write ``.model_dump_json(exclude_none=True)``, keyed by ``alert_id``.
    """
    body = request if isinstance(request, AckRequest) else AckRequest.model_validate(request)
    return Acknowledge(type="ack", alert_id=body.alert_id, author=body.author, at=at, note=body.note)
