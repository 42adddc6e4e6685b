"""Operator repairs: rebuild a scope whose stored state a bad input has bent.

Since the edge refuses inputs stamped far from the clock (opel.destinations.check_times), this
is for state written before that check existed, or by a catalogue mistake: ``reset_scope`` on
``area/<area>`` drops every held reading stamped after the command's ``at`` and rebuilds the
area's indicator and area states from the readings that remain, in time order; on
``indicator/<indicator>/<area>`` it drops that indicator's reading and state and rebuilds the
area's own state. A rebuilt state starts afresh from the held readings (the step-down wait
restarts). Every reset is audited with what it dropped, and a change of the level in force is
published as an escalation event with cause ``reset``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opel.contracts.audit import audit_record
from opel.escalation import ScopeState, observe, transition_id
from opel.feeds import ResetScope
from opel.levels import Level
from opel.rollup import area_level
from opel.scopes import Scope, parse_scope
from opel.stages.book import Book, active_override, forget_derived, in_force, record
from opel.stages.context import Context, Emit
from opel.stages.outputs import direction_of, escalation_event
from opel.stages.transitions import evidence


def reset_scope(book: Book, area: str, command: ResetScope, ctx: Context, emit: Emit) -> None:
    # Readings and states are rebuilt here, so are the indexes and the next step-down due after it.
    forget_derived(book)
    book.pop("due", None)
    scope = parse_scope(command.scope)
    area_key = f"area/{area}"
    before = {
        key: in_force(rec.state.level, active_override(book, key)) for key, rec in book["scopes"].items()
    }
    readings: dict[str, dict[str, Any]] = book["readings"]
    dropped: list[dict[str, Any]] = []
    for indicator, held in list(readings.items()):
        stamped = datetime.fromisoformat(held["observed_at"])
        if stamped > command.at or (scope.kind == "indicator" and indicator == scope.indicator):
            dropped.append({"indicator": indicator, **held})
            del readings[indicator]
            book["scopes"].pop(f"indicator/{indicator}/{area}", None)
    rebuilt = [area_key]
    ordered = sorted(readings.items(), key=lambda item: item[1]["observed_at"])
    if scope.kind == "area":
        for indicator, held in ordered:
            key = f"indicator/{indicator}/{area}"
            rec = record(book, Scope("indicator", area, indicator))
            rec.state = _fresh(key, held["level"], datetime.fromisoformat(held["observed_at"]), ctx)
            rebuilt.append(key)
    book["scopes"].pop(area_key, None)
    area_rec = record(book, Scope("area", area))
    levels: dict[str, Level | None] = {}
    state = ScopeState(area_key)
    for indicator, held in ordered:
        levels[indicator] = None if held["level"] is None else Level(held["level"])
        result = area_level(area, levels)
        if result.level is not None:
            state, _ = observe(state, result.level, datetime.fromisoformat(held["observed_at"]), ctx.policy)
        area_rec.computed = None if result.level is None else int(result.level)
    area_rec.state = state
    last = ordered[-1][1]["observed_at"] if ordered else None
    area_rec.facts = {**area_rec.facts, "observed_at": last}
    # With no reading left, the area's data time is the repair's own time: the county must hear
    # of the area again, and nothing older than the repair can be newer than what it dropped.
    book["wm"] = last or command.at.isoformat()
    book["reset"] = True
    emit.changed = True
    emit.audit.append(
        audit_record(
            "reset",
            command.scope,
            command.at,
            input=command.model_dump(),
            author=command.author,
            reason=command.reason,
            outcome={"dropped": dropped, "rebuilt": rebuilt, "data_time": last},
        )
    )
    for key in rebuilt:
        rec = book["scopes"][key]
        after = in_force(rec.state.level, active_override(book, key))
        target = parse_scope(key)
        emit.touched[key] = (target, command.at)
        if after is not None and after != before.get(key):
            was = before.get(key)
            emit.transitions.append((target.kind, direction_of(was, after)))
            emit.escalations.append(
                escalation_event(
                    ctx,
                    target,
                    event_id=transition_id(
                        key, None if was is None else Level(was), Level(after), command.at
                    ),
                    from_level=was,
                    to_level=after,
                    at=command.at,
                    direction=direction_of(was, after),
                    cause="reset",
                    evidence=evidence(rec),
                )
            )


def _fresh(key: str, level: int | None, at: datetime, ctx: Context) -> ScopeState:
    state = ScopeState(key)
    if level is not None:
        state, _ = observe(state, Level(level), at, ctx.policy)
    return state
