"""The escalation group's overrides: set, withdrawn, or expired by wall-clock time."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from opel.contracts.audit import audit_record
from opel.contracts.escalation import Cause
from opel.escalation import advance, transition_id
from opel.feeds import Override, Withdraw
from opel.levels import Level
from opel.scopes import Scope, parse_scope
from opel.stages.book import Book, active_override, in_force, record
from opel.stages.context import Context, Emit
from opel.stages.outputs import direction_of, escalation_event
from opel.stages.transitions import evidence, publish_transitions

ENDED_KEPT = 200
"""How many ended override ids a book remembers, so a replayed override is not applied again."""


def set_override(book: Book, command: Override, ctx: Context, emit: Emit) -> None:
    """Apply an escalation-group override (or declaration); the newest by ``at`` wins."""
    scope = parse_scope(command.scope)
    overrides = book.setdefault("overrides", {})
    current = overrides.get(scope.key)
    value = command.model_dump(mode="json")
    at = command.at
    stale = current is not None and datetime.fromisoformat(current["at"]) > at
    if (current is not None and current["id"] == command.id) or stale or command.id in book.get("ended", []):
        emit.audit.append(
            audit_record("duplicate", scope.key, at, input=value, author=command.author, reason="older")
        )
        return
    rec = record(book, scope)
    before = in_force(rec.state.level, current)
    overrides[scope.key] = value
    emit.audit.append(
        audit_record(
            "override",
            scope.key,
            at,
            input=value,
            author=command.author,
            reason=command.reason,
            outcome={"level": command.level, "computed_level": rec.computed, "from_level": before},
        )
    )
    _override_change(book, scope, before, command.level, at=at, cause="override", ctx=ctx, emit=emit)


def withdraw(book: Book, command: Withdraw, ctx: Context, emit: Emit) -> None:
    end_override(
        book,
        parse_scope(command.scope),
        command.at,
        ctx,
        emit,
        decision="withdraw",
        author=command.author,
        reason=command.reason,
        override_id=command.id,
    )


def end_override(
    book: Book,
    scope: Scope,
    at: datetime,
    ctx: Context,
    emit: Emit,
    *,
    decision: Literal["withdraw", "override_expired"],
    author: str | None,
    reason: str,
    override_id: str | None = None,
) -> None:
    """Withdraw or expire the scope's override; the state's level comes back into force."""
    overrides = book.setdefault("overrides", {})
    current = active_override(book, scope.key)
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
    # The level now in force began when the override ended, not when the state reached it.
    book.setdefault("resumed", {})[scope.key] = at.isoformat()
    ended = book.setdefault("ended", [])
    ended.append(current["id"])
    del ended[:-ENDED_KEPT]
    publish_transitions(book, scope, transitions, ctx, emit)  # audited only: still hidden
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
    cause: Cause,
    ctx: Context,
    emit: Emit,
) -> None:
    emit.changed = True
    emit.touched[scope.key] = (scope, at)
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
            evidence=evidence(rec),
        )
    )


def expire_overrides(book: Book, now: datetime, ctx: Context, emit: Emit) -> None:
    """Apply wall-clock time: overrides end at their expiry.

    Dwell is judged on data time instead (see :func:`opel.stages.transitions.advance_all`), so
    a backfill or a replay of old readings steps down exactly as the live stream did.
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
