"""What callers send: request bodies (pydantic, extra fields refused) and query parameters.

Bodies are checked twice on purpose: here for the shape a caller writes, then as the full
``opel.feeds`` command once the server has added id, author and time, so a command that
reaches the topic is exactly one the worker accepts.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any, Final, Literal, TypeVar

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from opel.feeds import Ref, ScopeKey, Text
from opel.models import Identifier
from streams.web.problems import ProblemError, validation_problem

__all__ = ["AckBody", "KeahToldBody", "OverrideBody", "PlacementBody", "parse_body", "parse_rfc3339"]

MAX_BODY_BYTES: Final = 16 * 1024

M = TypeVar("M", bound=BaseModel)

_RFC3339: Final = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


class OverrideBody(BaseModel):
    """``POST /overrides``: the escalation group sets a scope's level until ``expires_at``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: ScopeKey
    level: Annotated[int, Field(ge=1, le=4, strict=True)]
    reason: Text
    expires_at: AwareDatetime
    declaration: bool = False


class AckBody(BaseModel):
    """``POST /alerts/{id}/ack``: an optional note to keep with the acknowledgement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    note: Text | None = None


class KeahToldBody(BaseModel):
    """``POST /keah/{event_id}/referrer-told``: an optional note; the caller is the author."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    note: Text | None = None


class PlacementBody(BaseModel):
    """``POST /assessment-beds/placements``: a placement started or ended (plan 6.3)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    placement_id: Ref
    area: Identifier
    change: Literal["started", "ended"]
    at: AwareDatetime | None = None
    ref: Ref | None = None


async def parse_body(request: web.Request, model: type[M], *, optional: bool = False) -> M:
    """Read a JSON object body into ``model``; any problem is a 422 naming the field."""
    raw = await request.read()
    if len(raw) > MAX_BODY_BYTES:
        raise ProblemError(413, "body-too-large", f"the body is over {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        if optional:
            return model()
        raise ProblemError(422, "invalid-request", "body: a JSON object is required", extra={"field": "body"})
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProblemError(
            422, "invalid-request", f"body: not valid JSON ({exc})", extra={"field": "body"}
        ) from None
    if not isinstance(data, dict):
        raise ProblemError(422, "invalid-request", "body: must be a JSON object", extra={"field": "body"})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc) from None


def parse_rfc3339(name: str, text: str) -> dt.datetime:
    """An RFC 3339 date-time with an offset; anything else is a 422 naming ``name``.

    A ``+`` in a query string arrives as a space when the caller did not encode it, so a
    space before the offset is read as ``+``.
    """
    candidate = text.strip()
    candidate = re.sub(r"\s(?=\d{2}:\d{2}$)", "+", candidate)
    match = _RFC3339.match(candidate)
    problem = ProblemError(
        422,
        "invalid-request",
        f"{name}: must be an RFC 3339 date-time with an offset, e.g. 2025-11-12T09:30:00Z; got {text!r}",
        title="Invalid request",
        extra={"field": name},
    )
    if match is None:
        raise problem
    # RFC 3339 allows a leap second (:60); Python cannot hold one, so it becomes :59.
    normalised = candidate.upper().replace("Z", "+00:00")
    if match.group(6) == "60":
        normalised = normalised[:17] + "59" + normalised[19:]
    try:
        parsed = dt.datetime.fromisoformat(normalised)
    except ValueError:
        raise problem from None
    if parsed.tzinfo is None:  # pragma: no cover  (the pattern demands an offset)
        raise problem
    return parsed
