"""The daily record of one day in Kent, from the audit trail and the action items. Pure.

A day is a Europe/London calendar day: it starts at local midnight and ends at the next, so
the day the clocks go forward is 23 hours long and the day they go back 25.

The level in force of a scope changes with the data (a ``transition`` not hidden by an
override), an override, and an override's withdrawal or expiry; the audit trail records each
of these. The record shows area, county, site and system scopes (indicators are the areas'
detail, on the board).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from opel.contracts.action_item import ActionItem, ItemState
from opel.contracts.audit import AuditRecord
from opel.contracts.daily_record import (
    ActionDay,
    ActionEvent,
    DailyRecord,
    Decision,
    LevelCause,
    LevelChange,
    ScopeDay,
)

LONDON = ZoneInfo("Europe/London")
SCOPE_KINDS: tuple[str, ...] = ("county", "area", "system", "site")
"""The kinds of scope the record lists, in this order."""
PEOPLE_DECISIONS: frozenset[str] = frozenset(
    {"override", "withdraw", "override_expired", "ack", "reset", "catalogue_loaded", "routing_loaded"}
)
"""Audit decisions the record lists as decisions (action items have their own section)."""


def day_bounds(day: dt.date, tz: ZoneInfo = LONDON) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants of local midnight at the start of ``day`` and of the next day."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    return start, end


def _level(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4 else None


def level_change(record: AuditRecord) -> LevelChange | None:
    """The change of the level in force an audit record made, if it made one."""
    outcome = record.outcome or {}
    cause: LevelCause
    if record.decision == "transition":
        if outcome.get("hidden_by_override"):
            return None
        level, cause = _level(outcome.get("to_level")), "data"
    elif record.decision == "override":
        level, cause = _level(outcome.get("level")), "override"
    elif record.decision in ("withdraw", "override_expired") and outcome.get("applied"):
        level, cause = (
            _level(outcome.get("level")),
            "withdraw" if record.decision == "withdraw" else "override_expired",
        )
    else:
        return None
    author = record.author if cause != "data" else None
    return LevelChange(at=record.at, level=level, cause=cause, author=author)


def _scope_order(scope: str) -> tuple[int, str]:
    kind = scope.partition("/")[0]
    return (SCOPE_KINDS.index(kind) if kind in SCOPE_KINDS else len(SCOPE_KINDS), scope)


LevelsNow = Mapping[str, tuple[int | None, dt.datetime | None]]
"""Each scope's level in force now and since when (its status's ``level`` and ``since``)."""


def _scope_days(
    records: Iterable[AuditRecord], start: dt.datetime, end: dt.datetime, levels_now: LevelsNow
) -> tuple[ScopeDay, ...]:
    before: dict[str, LevelChange] = {}
    during: dict[str, list[LevelChange]] = {}
    for record in sorted(records, key=lambda r: r.at):
        if not record.scope or record.scope.partition("/")[0] not in SCOPE_KINDS or record.at >= end:
            continue
        change = level_change(record)
        if change is None:
            continue
        if change.at < start:
            before[record.scope] = change
        else:
            during.setdefault(record.scope, []).append(change)
    days = []
    for scope in sorted(set(before) | set(during) | set(levels_now), key=_scope_order):
        if scope.partition("/")[0] not in SCOPE_KINDS:
            continue
        changes = during.get(scope, [])
        first = before.get(scope)
        start_level = first.level if first is not None else None
        level_now, since = levels_now.get(scope, (None, None))
        if first is None and not changes and since is not None and since <= start:
            # No record changes it, and it was in force before the day began: it held all day.
            start_level = level_now
        end_level = changes[-1].level if changes else start_level
        reached = [lvl for lvl in (start_level, *(c.level for c in changes)) if lvl is not None]
        days.append(
            ScopeDay(
                scope=scope,
                start_level=start_level,
                highest_level=max(reached, default=None),
                end_level=end_level,
                changes=tuple(changes),
            )
        )
    return tuple(days)


def _decisions(records: Iterable[AuditRecord], start: dt.datetime, end: dt.datetime) -> tuple[Decision, ...]:
    return tuple(
        Decision(
            at=r.at,
            decision=r.decision,
            scope=r.scope,
            author=r.author,
            reason=r.reason,
            level=_level((r.outcome or {}).get("level")) if r.decision == "override" else None,
            audit_id=r.id,
        )
        for r in sorted(records, key=lambda r: (r.at, r.id))
        if r.decision in PEOPLE_DECISIONS and start <= r.at < end
    )


def _action_day(item: ActionItem, start: dt.datetime, end: dt.datetime) -> ActionDay | None:
    if item.opened_at >= end or (item.closed_at is not None and item.closed_at < start):
        return None
    events = [ActionEvent(at=item.opened_at, event="opened", by="alerting")]
    if item.reminded_at is not None:
        events.append(ActionEvent(at=item.reminded_at, event="reminded", by="alerting"))
    state: ItemState = "open"
    if item.closed_at is not None and item.state != "open":
        events.append(
            ActionEvent(at=item.closed_at, event=item.state, by=item.closed_by or "alerting", note=item.note)
        )
        if item.closed_at < end:
            state = item.state
    return ActionDay(
        item_id=item.id,
        scope=item.scope,
        role=item.role,
        role_name=item.role_name,
        action_id=item.action_id,
        text=item.text,
        plan_ref=item.plan_ref,
        level=item.level,
        opened_at=item.opened_at,
        due_at=item.due_at,
        state_at_end=state,
        events=tuple(e for e in events if start <= e.at < end),
    )


def daily_record(  # noqa: PLR0917  (the shell hands over what it holds)
    day: dt.date,
    records: Iterable[AuditRecord],
    items: Iterable[ActionItem],
    levels_now: LevelsNow,
    as_of: dt.datetime,
    held_since: dt.datetime | None,
    tz: ZoneInfo = LONDON,
) -> DailyRecord:
    """The record of ``day`` from the audit records and items held at ``as_of``.

    ``records`` may include records from before the day: the latest level change before it is
    the level the day began with. ``levels_now`` stands in for a scope whose level the held
    records never changed, when that level was already in force as the day began.
    """
    start, end = day_bounds(day, tz)
    held = list(records)
    actions = (_action_day(item, start, end) for item in items)
    return DailyRecord(
        day=day,
        timezone=str(tz),
        starts_at=start,
        ends_at=end,
        as_of=as_of,
        held_since=held_since,
        levels=_scope_days(held, start, end, levels_now),
        decisions=_decisions(held, start, end),
        actions=tuple(
            sorted(
                (a for a in actions if a is not None),
                key=lambda a: (_scope_order(a.scope), a.role, a.opened_at),
            )
        ),
    )
