"""Raw Kafka record values to the core's input models, with a precise reason when they are refused.

The decoders never raise: a message the service cannot use becomes a :class:`Rejected` that the
worker writes to the dead-letter topic (:func:`opel.contracts.deadletter.deadletter`) and
carries on. The happy path is a single validation straight from the bytes in pydantic's Rust
core; only a failure pays for the slower diagnosis (encoding, JSON, shape, field by field).

Error wording comes from :func:`opel.assess_lines.describe_validation_error`, so `opel assess`,
`opel produce` and the service describe the same mistake the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

from pydantic import TypeAdapter, ValidationError
from pydantic_core import from_json

from opel.contracts.action_item import ActionItemUpdate
from opel.feeds import (
    Acknowledge,
    AnyCommand,
    Command,
    Override,
    ReferralEvent,
    ReloadCatalogues,
    ResetScope,
    Withdraw,
)
from opel.models import AcuteSubmission, Reading
from opel.validation_errors import field_problems, join_problems
from streams import topics

RejectReason = Literal["bad_json", "not_an_object", "invalid", "too_large", "empty", "bad_encoding"]
MAX_ERROR_CHARS: Final = 1000
_SNIPPET_CHARS: Final = 80

T = TypeVar("T")

_COMMAND_ADAPTER: Final[TypeAdapter[AnyCommand]] = TypeAdapter(Command)
COMMAND_MODELS: Final[dict[str, type[AnyCommand]]] = {
    "override": Override,
    "withdraw": Withdraw,
    "ack": Acknowledge,
    "reload_catalogues": ReloadCatalogues,
    "reset_scope": ResetScope,
    "action_item": ActionItemUpdate,
}


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a message was refused: ``reason`` is a short code, ``field`` the first field at fault
    (None when the message as a whole is wrong) and ``error`` a sentence naming field and value."""

    reason: RejectReason
    field: str | None
    error: str


# --------------------------------------------------------------------------- decoders
def decode_reading(raw: bytes | None, max_bytes: int) -> Reading | Rejected:
    """An indicator reading (capacity and referrals topics)."""
    return _decode(raw, max_bytes, Reading.model_validate_json, Reading.model_validate_json)


def decode_acute(raw: bytes | None, max_bytes: int) -> AcuteSubmission | Rejected:
    """An acute site submission."""
    return _decode(raw, max_bytes, AcuteSubmission.model_validate_json, AcuteSubmission.model_validate_json)


def decode_referral_event(raw: bytes | None, max_bytes: int) -> ReferralEvent | Rejected:
    """A referral lifecycle event or count snapshot."""
    return _decode(raw, max_bytes, ReferralEvent.model_validate_json, ReferralEvent.model_validate_json)


def decode_command(raw: bytes | None, max_bytes: int) -> AnyCommand | Rejected:
    """An escalation-group command, chosen by its ``type``."""
    return _decode(raw, max_bytes, _COMMAND_ADAPTER.validate_json, _diagnose_command)


def _decode(
    raw: bytes | None,
    max_bytes: int,
    fast: Callable[[bytes], T],
    slow: Callable[[bytes], object],
) -> T | Rejected:
    if not raw:
        return Rejected("empty", None, "the message has no value; expected a JSON object")
    if len(raw) > max_bytes:
        return Rejected(
            "too_large",
            None,
            f"the message is {len(raw)} bytes; the limit is {max_bytes} (OPEL_MAX_MESSAGE_BYTES)",
        )
    try:
        return fast(raw)
    except ValidationError as exc:
        first_failure = exc
    return _diagnose(raw, first_failure, slow)


def _diagnose(raw: bytes, failure: ValidationError, slow: Callable[[bytes], object]) -> Rejected:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejected(
            "bad_encoding",
            None,
            f"not UTF-8: {exc.reason} (byte 0x{raw[exc.start]:02x} at offset {exc.start}), "
            f"starting {_snippet(raw)}",
        )
    try:
        data = from_json(raw)
    except ValueError as exc:
        return Rejected("bad_json", None, f"not valid JSON ({exc}): {_snippet(raw)}")
    if not isinstance(data, dict):
        return Rejected(
            "not_an_object", None, f"expected a JSON object, got {_json_type(data)} {_snippet(raw)}"
        )
    try:
        slow(raw)
    except ValidationError as exc:
        failure = exc
    except _CommandTypeError as exc:
        return Rejected("invalid", "type", _clip(str(exc)))
    return _invalid(failure)


def _invalid(exc: ValidationError) -> Rejected:
    problems = field_problems(exc)
    # A rule across fields has no field of its own; on Kafka the whole thing is a message, not a line.
    field = (problems[0].path or None) if problems else None
    return Rejected("invalid", field, _clip(join_problems(problems, whole="(message)")))


class _CommandTypeError(Exception):
    """A command whose ``type`` is missing or not one of the known ones."""


def _diagnose_command(raw: bytes) -> AnyCommand:
    # Validating with the one model the type names keeps the union's tag out of field paths
    # ("level", not "override.level"), so the error reads like the other topics'.
    data = from_json(raw)
    kind = data.get("type") if isinstance(data, dict) else None
    model = COMMAND_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(COMMAND_MODELS)
        if kind is None:
            raise _CommandTypeError(f"type: is required (one of {known})")
        raise _CommandTypeError(f"type: must be one of {known}, got {kind!r}")
    return model.model_validate_json(raw)


def _json_type(data: Any) -> str:
    if isinstance(data, list):
        return "an array"
    if isinstance(data, str):
        return "a string"
    if isinstance(data, bool):
        return "a boolean"
    if data is None:
        return "null"
    return "a number"


def _snippet(raw: bytes) -> str:
    text = raw[: _SNIPPET_CHARS * 4].decode("utf-8", "replace")
    return repr(text[:_SNIPPET_CHARS] + ("…" if len(text) > _SNIPPET_CHARS or len(raw) > len(text) else ""))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


# --------------------------------------------------------------------------- routing by contract
_READING_TOPIC_BY_INDICATOR: Final = {
    "referrals": topics.REFERRALS,
    "health_caseload": topics.REFERRALS,
    "social_caseload": topics.REFERRALS,
}


def topic_for(value: dict[str, Any]) -> str | None:
    """The inbound topic a message of this shape belongs on (docs/topics.md), or None if unclear."""
    if "site" in value:
        return topics.ACUTE
    if "kind" in value and "event_id" in value:
        return topics.REFERRAL_EVENTS
    if "type" in value:
        return topics.COMMANDS
    if "indicator" in value:
        indicator = value["indicator"]
        return (
            _READING_TOPIC_BY_INDICATOR.get(indicator, topics.CAPACITY)
            if isinstance(indicator, str)
            else None
        )
    return None


def key_for(topic: str, value: dict[str, Any]) -> bytes | None:
    """The record key the contract gives a message: area, site, scope or alert id (None if none)."""
    if topic == topics.ACUTE:
        field = "site"
    elif topic == topics.COMMANDS:
        field = {"ack": "alert_id", "action_item": "item_id"}.get(str(value.get("type")), "scope")
    else:
        field = "area"
    key = value.get(field)
    return key.encode("utf-8") if isinstance(key, str) else None


DECODERS: Final[dict[str, Callable[[bytes | None, int], object]]] = {
    topics.CAPACITY: decode_reading,
    topics.REFERRALS: decode_reading,
    topics.REFERRAL_EVENTS: decode_referral_event,
    topics.ACUTE: decode_acute,
    topics.COMMANDS: decode_command,
}
"""The decoder for each inbound topic."""
