"""What every stage of the engine shares: scope records, overrides, and the events they emit.

A *book* is the state of one aggregate key (an area, the county, a system) as a plain
JSON-able dict, so the streaming shell can keep it in a Faust table without knowing what is
inside. Functions here change a book in place and append what must be published to an
:class:`Emit`; nothing reads a clock, so the same inputs always give the same outputs and ids.

The level *in force* for a scope is an active override's level, else the escalation state's
(dwell applied). Escalation events are about the level in force, because that is what people
act on; a computed change hidden by an override is still audited.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from opel.actions import ActionPlan
from opel.catalogue import AcuteCatalogue, IndicatorCatalogue
from opel.escalation import EscalationPolicy, ScopeState, Transition, advance, observe, transition_id
from opel.levels import Level
from opel.scopes import Scope, parse_scope

AUDIT_NAMESPACE = uuid.UUID("8f1b6d0e-3c55-4a8e-bd7c-51f0a9e2c4d7")
EVENT_TYPES = {
    "initial": "uk.gov.kent.opel.initial",
    "escalation": "uk.gov.kent.opel.escalation",
    "de-escalation": "uk.gov.kent.opel.de-escalation",
}
ACTION_KINDS = ("area", "county")

Book = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Context:
    """The rules in force when a book is updated: catalogues, action plan, dwell, grace."""

    catalogue: IndicatorCatalogue
    acute: AcuteCatalogue
    actions: ActionPlan | None
    policy: EscalationPolicy
    county: str = "kent"
    idle_grace: timedelta = timedelta(seconds=60)
    exercise: bool = False
    source: str = "urn:opel:kcc-asch"


@dataclass(slots=True)
class Emit:
    """What one update produced, in the order it must be published."""

    statuses: dict[str, tuple[Scope, datetime]] = field(default_factory=dict)  # built by finish()
    escalations: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)  # to the next aggregate up
    transitions: list[tuple[str, str]] = field(default_factory=list)  # (scope kind, direction)
    outcomes: list[str] = field(default_factory=list)  # per input: assessed, not_assessed, ...
    changed: bool = False  # the book must be saved


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def colour(level: int | None) -> str | None:
    return None if level is None else Level(level).colour


# --- scope records ------------------------------------------------------------------


@dataclass(slots=True)
class ScopeRec:
    """One scope inside a thawed book: its escalation state, computed level and facts."""

    state: ScopeState
    computed: int | None
    facts: dict[str, Any]


def thaw(book: Book) -> Book:
    """Turn a stored book's scope records into objects for the length of one batch."""
    book["scopes"] = {
        key: ScopeRec(load_state(key, rec), rec["computed"], rec["facts"])
        for key, rec in book.get("scopes", {}).items()
    }
    return book


def freeze(book: Book) -> Book:
    """The JSON-able form of a thawed book (a new dict; the thawed one stays usable)."""
    out = dict(book)
    out["scopes"] = {
        key: {"state": dump_state(rec.state), "computed": rec.computed, "facts": rec.facts}
        for key, rec in book["scopes"].items()
    }
    return out


def record(book: Book, scope: Scope) -> ScopeRec:
    scopes = book["scopes"]
    rec: ScopeRec | None = scopes.get(scope.key)
    if rec is None:
        rec = scopes[scope.key] = ScopeRec(ScopeState(scope.key), None, {})
    return rec


def load_state(key: str, rec: Mapping[str, Any]) -> ScopeState:
    raw = rec["state"]
    if raw is None or (raw[0] is None and raw[2] is None):
        return ScopeState(key)
    level, since, last, h1, h2, h3 = raw
    return ScopeState(
        key,
        None if level is None else Level(level),
        parse_time(since),
        parse_time(last),
        (parse_time(h1), parse_time(h2), parse_time(h3)),
    )


def dump_state(state: ScopeState) -> list[Any]:
    h1, h2, h3 = state.held_since
    return [
        None if state.level is None else int(state.level),
        iso(state.since),
        iso(state.last_observed_at),
        iso(h1),
        iso(h2),
        iso(h3),
    ]


def active_override(book: Book, key: str) -> dict[str, Any] | None:
    override: dict[str, Any] | None = book.get("overrides", {}).get(key)
    return override


def in_force(state_level: Level | None, override: Mapping[str, Any] | None) -> int | None:
    if override is not None:
        return int(override["level"])
    return None if state_level is None else int(state_level)


# --- events ---------------------------------------------------------------------------


def audit_record(
    decision: str,
    scope: str | None,
    at: datetime,
    *,
    at_text: str | None = None,
    input: Mapping[str, Any] | None = None,
    rule: str | None = None,
    catalogue: str | None = None,
    catalogue_version: str | None = None,
    author: str | None = None,
    reason: str | None = None,
    outcome: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One decision for the audit trail; its id is derived from its content, like transitions.

    ``at_text`` is ``at.isoformat()`` when the caller already has it (the per-reading path).
    """
    if at_text is None:
        at_text = at.isoformat()
    basis = f"{decision}|{scope}|{at_text}|{sorted((input or {}).items())!r}|{author}"
    # A content hash shaped as a UUID: the same decision always gets the same id (blake2b is
    # several times cheaper than uuid5's SHA-1 route, and this runs for every reading).
    digest = hashlib.blake2b(basis.encode(), digest_size=16, key=AUDIT_NAMESPACE.bytes).digest()
    return {
        "id": _uuid_text(digest.hex()),
        "at": at_text,
        "decision": decision,
        "scope": scope,
        "input": dict(input) if input is not None else None,
        "rule": rule,
        "catalogue": catalogue,
        "catalogue_version": catalogue_version,
        "author": author,
        "reason": reason,
        "outcome": dict(outcome) if outcome is not None else None,
    }


def _uuid_text(h: str) -> str:
    # str(uuid.UUID(bytes=digest)) without building the object: the same 8-4-4-4-12 text.
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _actions(ctx: Context, scope: Scope, from_level: int | None, to_level: int) -> list[dict[str, Any]]:
    if ctx.actions is None or scope.kind not in ACTION_KINDS:
        return []
    before = None if from_level is None else Level(from_level)
    out = []
    for change in ctx.actions.changes(before, Level(to_level)):
        if not change.changed:
            continue
        out.append(
            {
                "role": change.role.id,
                "role_name": change.role.name,
                "start": [_action(a) for a in change.start],
                "stand_down": [_action(a) for a in change.stand_down],
            }
        )
    return out


def _action(action: Any) -> dict[str, Any]:
    return {"id": action.id, "level": int(action.level), "text": action.text, "plan_ref": action.plan_ref}


def escalation_event(
    ctx: Context,
    scope: Scope,
    *,
    event_id: str,
    from_level: int | None,
    to_level: int,
    at: datetime,
    direction: str,
    cause: str,
    evidence: Mapping[str, Any],
) -> dict[str, Any]:
    """A CloudEvents 1.0 structured-mode event for a change of the level in force."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": ctx.source,
        "type": EVENT_TYPES[direction],
        "subject": scope.key,
        "time": at.isoformat(),
        "datacontenttype": "application/json",
        "data": {
            "scope": scope.key,
            "kind": scope.kind,
            **scope.parts(),
            "from_level": from_level,
            "from_colour": colour(from_level),
            "to_level": to_level,
            "to_colour": colour(to_level),
            "direction": direction,
            "cause": cause,
            "at": at.isoformat(),
            "exercise": ctx.exercise,
            "evidence": dict(evidence),
            "actions": _actions(ctx, scope, from_level, to_level),
        },
    }


def direction_of(from_level: int | None, to_level: int) -> str:
    if from_level is None:
        return "initial"
    return "escalation" if to_level > from_level else "de-escalation"


def status_value(book: Book, scope: Scope, updated_at: datetime) -> dict[str, Any]:
    rec = record(book, scope)
    state = rec.state
    override = active_override(book, scope.key)
    level = in_force(state.level, override)
    computed = rec.computed
    since = override["at"] if override is not None else iso(state.since)
    return {
        "scope": scope.key,
        "kind": scope.kind,
        **scope.parts(),
        "level": level,
        "colour": colour(level),
        "computed_level": computed,
        "computed_colour": colour(computed),
        "state_level": None if state.level is None else int(state.level),
        "override": override,
        **rec.facts,
        "since": since,
        "updated_at": updated_at.isoformat(),
    }


def _evidence(rec: ScopeRec) -> dict[str, Any]:
    return {"computed_level": rec.computed, **rec.facts}


# --- applying levels, overrides and time -------------------------------------------------


def update_scope(
    book: Book,
    scope: Scope,
    computed: Level | None,
    at: datetime,
    *,
    facts: Mapping[str, Any],
    ctx: Context,
    emit: Emit,
    policy: EscalationPolicy | None = None,
) -> None:
    """Record a new computed level for a scope and publish what changed."""
    rec = record(book, scope)
    transitions: tuple[Transition, ...] = ()
    if computed is not None:
        rec.state, transitions = observe(rec.state, computed, at, policy or ctx.policy)
    rec.computed = None if computed is None else int(computed)
    rec.facts = dict(facts)
    _publish_transitions(book, scope, transitions, ctx, emit)
    emit.statuses[scope.key] = (scope, at)
    emit.changed = True


def _publish_transitions(
    book: Book, scope: Scope, transitions: tuple[Transition, ...], ctx: Context, emit: Emit
) -> None:
    if not transitions:
        return
    rec = record(book, scope)
    override = active_override(book, scope.key)
    for t in transitions:
        emit.transitions.append((scope.kind, t.direction))
        emit.audit.append(
            audit_record(
                "transition",
                scope.key,
                t.at,
                rule=f"escalation state ({t.cause})",
                catalogue=rec.facts.get("catalogue"),
                catalogue_version=rec.facts.get("catalogue_version"),
                outcome={
                    "id": t.id,
                    "from_level": None if t.from_level is None else int(t.from_level),
                    "to_level": int(t.to_level),
                    "hidden_by_override": override is not None,
                },
            )
        )
        if override is None:
            emit.escalations.append(
                escalation_event(
                    ctx,
                    scope,
                    event_id=t.id,
                    from_level=None if t.from_level is None else int(t.from_level),
                    to_level=int(t.to_level),
                    at=t.at,
                    direction=t.direction,
                    cause=t.cause,
                    evidence=_evidence(rec),
                )
            )


def set_override(book: Book, scope: Scope, override: Mapping[str, Any], ctx: Context, emit: Emit) -> None:
    """Apply an escalation-group override (or declaration); the newest by ``at`` wins."""
    overrides = book.setdefault("overrides", {})
    current = overrides.get(scope.key)
    at = datetime.fromisoformat(override["at"])
    stale = current is not None and datetime.fromisoformat(current["at"]) > at
    if (
        (current is not None and current["id"] == override["id"])
        or stale
        or override["id"] in book.get("ended", [])
    ):
        emit.audit.append(
            audit_record(
                "duplicate", scope.key, at, input=override, author=override["author"], reason="older"
            )
        )
        return
    rec = record(book, scope)
    before = in_force(rec.state.level, current)
    overrides[scope.key] = dict(override)
    emit.audit.append(
        audit_record(
            "override",
            scope.key,
            at,
            input=override,
            author=override["author"],
            reason=override["reason"],
            outcome={"level": override["level"], "computed_level": rec.computed, "from_level": before},
        )
    )
    _override_change(book, scope, before, int(override["level"]), at=at, cause="override", ctx=ctx, emit=emit)


def end_override(
    book: Book,
    scope: Scope,
    at: datetime,
    ctx: Context,
    emit: Emit,
    *,
    decision: str,
    author: str | None,
    reason: str,
    override_id: str | None = None,
) -> None:
    """Withdraw or expire the scope's override; the state's level comes back into force."""
    overrides = book.setdefault("overrides", {})
    current = overrides.get(scope.key)
    if current is None or (override_id is not None and current["id"] != override_id):
        emit.audit.append(
            audit_record(decision, scope.key, at, author=author, reason=reason, outcome={"applied": False})
        )
        return
    rec = record(book, scope)
    # Dwell expiries that fell due while the override hid them are applied first, so the
    # level that comes back is the one the data supports now.
    rec.state, transitions = advance(rec.state, at, ctx.policy)
    state = rec.state
    del overrides[scope.key]
    ended = book.setdefault("ended", [])
    ended.append(current["id"])
    del ended[:-200]
    _publish_transitions(book, scope, transitions, ctx, emit)  # audited only: still hidden
    emit.audit.append(
        audit_record(
            decision,
            scope.key,
            at,
            input=current,
            author=author,
            reason=reason,
            outcome={"applied": True, "level": None if state.level is None else int(state.level)},
        )
    )
    after = None if state.level is None else int(state.level)
    _override_change(
        book, scope, int(current["level"]), after, at=at, cause="override-ended", ctx=ctx, emit=emit
    )


def _override_change(
    book: Book,
    scope: Scope,
    before: int | None,
    after: int | None,
    *,
    at: datetime,
    cause: str,
    ctx: Context,
    emit: Emit,
) -> None:
    emit.changed = True
    emit.statuses[scope.key] = (scope, at)
    if after is None or before == after:
        return
    rec = record(book, scope)
    direction = direction_of(before, after)
    emit.transitions.append((scope.kind, direction))
    emit.escalations.append(
        escalation_event(
            ctx,
            scope,
            event_id=transition_id(scope.key, None if before is None else Level(before), Level(after), at),
            from_level=before,
            to_level=after,
            at=at,
            direction=direction,
            cause=cause,
            evidence=_evidence(rec),
        )
    )


def tick(book: Book, now: datetime, ctx: Context, emit: Emit) -> None:
    """Apply wall-clock time: overrides end at their expiry.

    Dwell is judged on data time instead (see :func:`advance_all`), so a backfill or a
    replay of old readings steps down exactly as the live stream did.
    """
    for key, override in sorted(book.get("overrides", {}).items()):
        expires = datetime.fromisoformat(override["expires_at"])
        if expires <= now:
            end_override(
                book,
                parse_scope(key),
                expires,
                ctx,
                emit,
                decision="override_expired",
                author=None,
                reason="expired",
                override_id=override["id"],
            )


def advance_all(book: Book, upto: datetime, ctx: Context, emit: Emit) -> None:
    """Step down every scope of the book whose dwell has elapsed by data time ``upto``."""
    for key, rec in book["scopes"].items():
        held = rec.state.held_since
        if rec.state.level is None or (held[0] is None and held[1] is None and held[2] is None):
            continue
        rec.state, transitions = advance(rec.state, upto, ctx.policy)
        if transitions:
            scope = parse_scope(key)
            _publish_transitions(book, scope, transitions, ctx, emit)
            emit.statuses[key] = (scope, transitions[-1].at)
            emit.changed = True


def finish(book: Book, emit: Emit) -> dict[str, dict[str, Any]]:
    """The status values of every scope the batch touched, built once each."""
    return {key: status_value(book, scope, at) for key, (scope, at) in emit.statuses.items()}
