"""Applying a computed level to a scope, and publishing the transitions of the level in force.

The level *in force* for a scope is an active override's level, else the escalation state's
(dwell applied). Escalation events are about the level in force, because that is what people
act on; a computed change hidden by an override is still audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from opel.contracts.audit import audit_record
from opel.escalation import ScopeState, Transition, advance, observe
from opel.levels import Level
from opel.scopes import Scope, parse_scope
from opel.stages.book import Book, ScopeRec, active_override, iso, parse_time, record
from opel.stages.context import Context, Emit
from opel.stages.outputs import escalation_event


def evidence(rec: ScopeRec) -> dict[str, Any]:
    return {"computed_level": rec.computed, **rec.facts}


def update_scope(
    book: Book,
    scope: Scope,
    computed: Level | None,
    at: datetime,
    *,
    facts: Mapping[str, Any],
    ctx: Context,
    emit: Emit,
) -> tuple[Transition, ...]:
    """Record a new computed level for a scope and publish what changed; returns the scope's
    transitions (the early warning links the one that made a warning come true)."""
    rec = record(book, scope)
    transitions: tuple[Transition, ...] = ()
    if computed is not None:
        rec.state, transitions = observe(rec.state, computed, at, ctx.policy)
        expiry = next_expiry(rec.state, ctx)
        if expiry is not None:
            due = _due(book, ctx)
            if due is None or expiry < due:
                _set_due(book, expiry)
    rec.computed = None if computed is None else int(computed)
    rec.facts = dict(facts)
    publish_transitions(book, scope, transitions, ctx, emit)
    emit.touched[scope.key] = (scope, at)
    emit.changed = True
    return transitions


def publish_transitions(
    book: Book, scope: Scope, transitions: tuple[Transition, ...], ctx: Context, emit: Emit
) -> None:
    """Audit every transition of the escalation state; publish those not hidden by an override."""
    if not transitions:
        return
    rec = record(book, scope)
    override = active_override(book, scope.key)
    for t in transitions:
        from_level = None if t.from_level is None else int(t.from_level)
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
                    "from_level": from_level,
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
                    from_level=from_level,
                    to_level=int(t.to_level),
                    at=t.at,
                    direction=t.direction,
                    cause=t.cause,
                    evidence=evidence(rec),
                )
            )


def next_expiry(state: ScopeState, ctx: Context) -> datetime | None:
    """When the scope's next step-down falls due, if it is waiting for one."""
    level = state.level
    if level is None or level <= 1:
        return None
    start = state.held_since[level - 2]
    return None if start is None else start + ctx.policy.step_down_dwell


def _earliest(book: Book, ctx: Context) -> datetime | None:
    due = [e for rec in book["scopes"].values() if (e := next_expiry(rec.state, ctx)) is not None]
    return min(due, default=None)


def _due(book: Book, ctx: Context) -> datetime | None:
    """The earliest step-down due in the book: stored (``due``) so that neither a reading nor a
    new batch has to look at every scope to know that none is due yet."""
    if "_due" in book:
        due: datetime | None = book["_due"]
        return due
    due = parse_time(book["due"]) if "due" in book else _earliest(book, ctx)
    book["_due"] = due
    return due


def _set_due(book: Book, due: datetime | None) -> None:
    book["_due"] = due
    book["due"] = iso(due)


def advance_all(book: Book, upto: datetime, ctx: Context, emit: Emit) -> None:
    """Step down every scope of the book whose dwell has elapsed by data time ``upto``.

    The book keeps the earliest step-down due (``due``, lowered as scopes observe lower levels),
    so data time moving on costs nothing per scope until a step-down is actually due: a
    reading's cost does not grow with the area's indicators.
    """
    due = _due(book, ctx)
    if due is None or due > upto:
        return
    for key, rec in book["scopes"].items():
        held = rec.state.held_since
        if rec.state.level is None or (held[0] is None and held[1] is None and held[2] is None):
            continue
        rec.state, transitions = advance(rec.state, upto, ctx.policy)
        if transitions:
            scope = parse_scope(key)
            publish_transitions(book, scope, transitions, ctx, emit)
            emit.touched[key] = (scope, transitions[-1].at)
            emit.changed = True
    _set_due(book, _earliest(book, ctx))
