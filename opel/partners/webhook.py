"""What a partner receives: which events, and the signed CloudEvents HTTP request for each.

Pure functions of the event, the partner and the send time, so the signing can be checked
against an independent implementation without any network.

Signing is the Standard Webhooks scheme (https://www.standardwebhooks.com/): HMAC-SHA256 with
the partner's key over ``{webhook-id}.{webhook-timestamp}.{body}``, sent as
``webhook-signature: v1,<base64>``. The webhook id is the CloudEvent id, the transition's
deterministic id, so a retry, a replay or a re-send after a restart carries the same id and a
partner can drop duplicates by it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from opel.contracts.escalation import EscalationEvent
from opel.partners.config import Partner

STRUCTURED_CONTENT_TYPE: Final = "application/cloudevents+json"
_CE_ATTRIBUTES: Final = ("specversion", "id", "source", "type", "subject", "time")


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    headers: dict[str, str]
    body: bytes


def wants(partner: Partner, event: EscalationEvent) -> bool:
    """Whether ``partner`` asked for ``event``: its scope filter, then its minimum level.

    The level test looks at both ends of the change, so a partner that asked for OPEL 3 and
    above also hears when a scope falls back below 3, not just when it reaches it.
    """
    data = event.data
    if partner.scopes and not any(s in (data.kind, data.scope) for s in partner.scopes):
        return False
    return max(data.to_level, data.from_level or 0) >= partner.min_level


def signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value: ``v1,`` and the base64 HMAC-SHA256."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def request_for(partner: Partner, event: EscalationEvent, sent_at: datetime) -> WebhookRequest:
    """The partner's HTTP request for ``event`` in its mode, signed as of ``sent_at``.

    Binary mode: the CloudEvent attributes as ``ce-*`` headers and the event's ``data`` as an
    ``application/json`` body. Structured mode: the whole event as the body,
    ``application/cloudevents+json``.
    """
    if partner.mode == "binary":
        attributes = event.model_dump(mode="json", include=set(_CE_ATTRIBUTES))
        headers = {f"ce-{name}": str(attributes[name]) for name in _CE_ATTRIBUTES}
        headers["content-type"] = event.datacontenttype
        body = event.data.to_json()
    else:
        headers = {"content-type": STRUCTURED_CONTENT_TYPE}
        body = event.to_json()
    timestamp = int(sent_at.timestamp())
    headers["webhook-id"] = event.id
    headers["webhook-timestamp"] = str(timestamp)
    headers["webhook-signature"] = signature(partner.key, event.id, timestamp, body)
    return WebhookRequest(headers=headers, body=body)
