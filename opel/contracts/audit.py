"""``opel.audit.v1``: every decision the service takes, with its input, rule and author.

The id is a hash of the decision's content, so the same decision replayed after a crash gets
the same id and a reader can drop the repeat.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, Field

from opel.contracts.base import Contract

NAMESPACE = uuid.UUID("8f1b6d0e-3c55-4a8e-bd7c-51f0a9e2c4d7")

Decision = Literal[
    "assessed",
    "not_assessed",
    "duplicate",
    "stale",
    "transition",
    "override",
    "withdraw",
    "override_expired",
    "referral_counted",
    "catalogue_loaded",
    "catalogue_refused",
    "routing_loaded",
    "routing_refused",
    "ack",
    "action_item",
    "reset",
    "internal_error",
    "warning_open",
    "warning_came_true",
    "warning_closed",
]


class AuditRecord(Contract):
    id: str = Field(description="Content hash shaped as a UUID: the same decision has the same id.")
    at: AwareDatetime = Field(description="Data time of the decision (the input's time, or now).")
    decision: Decision
    scope: str | None = None
    input: dict[str, Any] | None = Field(default=None, description="The input decided on, as it arrived.")
    rule: str | None = None
    catalogue: str | None = None
    catalogue_version: str | None = None
    author: str | None = None
    reason: str | None = None
    outcome: dict[str, Any] | None = None


def audit_record(
    decision: Decision,
    scope: str | None,
    at: datetime,
    *,
    input: Mapping[str, Any] | None = None,
    rule: str | None = None,
    catalogue: str | None = None,
    catalogue_version: str | None = None,
    author: str | None = None,
    reason: str | None = None,
    outcome: Mapping[str, Any] | None = None,
) -> AuditRecord:
    """One decision for the audit trail (``at`` must be timezone-aware)."""
    inputs = None if input is None else dict(input)
    # The outcome is part of the decision: a scope can step down after its dwell and back up on a
    # reading at the same instant, two transitions with the same decision, scope, time and input.
    result = sorted(outcome.items()) if outcome else None
    basis = f"{decision}|{scope}|{at.isoformat()}|{sorted((inputs or {}).items())!r}|{author}|{result!r}"
    # blake2b is several times cheaper than uuid5's SHA-1 route, and this runs for every reading.
    digest = hashlib.blake2b(basis.encode(), digest_size=16, key=NAMESPACE.bytes).hexdigest()
    # The arguments are typed above and the contract tests validate what is written; validating
    # again here would cost more than the reading's assessment.
    return AuditRecord.trusted(
        id=f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}",
        at=at,
        decision=decision,
        scope=scope,
        input=inputs,
        rule=rule,
        catalogue=catalogue,
        catalogue_version=catalogue_version,
        author=author,
        reason=reason,
        outcome=None if outcome is None else dict(outcome),
    )
