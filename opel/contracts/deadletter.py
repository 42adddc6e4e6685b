"""``opel.deadletter.v1``: a refused input record, where it came from, and why.

The raw value is kept so the message can be fixed and replayed: as text when it is UTF-8, else
base64. A too-large value keeps only its first 4 KiB (``truncated``); ``size`` is always the
full length. Keys are kept the same way, cut to the same limit.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Final, Literal

from pydantic import AwareDatetime, Field

from opel.contracts.base import Contract

DEADLETTER_KEEP_BYTES: Final = 4 * 1024
"""How much of a too-large value or key the dead letter keeps: enough to see what it was."""

Reason = Literal[
    "bad_json",
    "not_an_object",
    "invalid",
    "too_large",
    "empty",
    "bad_encoding",
    "unknown_indicator",
    "unknown_area",
    "unknown_site",
    "future_timestamp",
    "too_old",
    "internal",
]
Encoding = Literal["utf-8", "base64"]


class DeadLetter(Contract):
    topic: str
    partition: int
    offset: int
    timestamp: AwareDatetime | None = Field(default=None, description="The record's Kafka timestamp.")
    key: str | None = None
    key_encoding: Encoding = "utf-8"
    value: str | None = None
    encoding: Encoding = "utf-8"
    size: int = Field(description="Length of the raw value in bytes.")
    truncated: bool = False
    reason: Reason
    field: str | None = Field(default=None, description="The first field at fault, if one is.")
    error: str = Field(description="What is wrong, naming the field and the value.")
    at: AwareDatetime = Field(description="When the service refused it.")


def deadletter(
    *,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    key: bytes | None,
    value: bytes | None,
    reason: Reason,
    error: str,
    field: str | None,
    at: datetime,
) -> DeadLetter:
    """The dead letter for a refused record (``at`` must be timezone-aware)."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    size = 0 if value is None else len(value)
    kept, truncated = _cut(value) if reason == "too_large" else (value, False)
    text, encoding = _as_text(kept, truncated=truncated)
    key_kept, key_truncated = _cut(key)
    key_text, key_encoding = _as_text(key_kept, truncated=key_truncated)
    return DeadLetter(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=None if timestamp_ms is None else datetime.fromtimestamp(timestamp_ms / 1000, UTC),
        key=key_text,
        key_encoding=key_encoding,
        value=text,
        encoding=encoding,
        size=size,
        truncated=truncated,
        reason=reason,
        field=field,
        error=error,
        at=at,
    )


def _cut(data: bytes | None) -> tuple[bytes | None, bool]:
    if data is None or len(data) <= DEADLETTER_KEEP_BYTES:
        return data, False
    return data[:DEADLETTER_KEEP_BYTES], True


def _as_text(data: bytes | None, *, truncated: bool) -> tuple[str | None, Encoding]:
    if data is None:
        return None, "utf-8"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        # A cut can split a multi-byte character; drop that partial tail rather than go base64.
        if truncated and exc.start >= len(data) - 3 and exc.end == len(data):
            return data[: exc.start].decode("utf-8"), "utf-8"
        return base64.b64encode(data).decode("ascii"), "base64"
