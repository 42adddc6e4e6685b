"""``GET /daily-record/{day}``: one Kent day's levels, decisions and action items, as JSON (the
:class:`~opel.contracts.daily_record.DailyRecord` contract) or as a page to print and file.

The record is put together from what the status view holds (:func:`opel.daily_record.daily_record`):
the audit trail of the last seven days and every action item, so a day older than that shows
its action items but not its levels or decisions; ``held_since`` says from when they are known.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from html import escape
from typing import Final

from aiohttp import web

from opel.alerting.message import AREA_NAMES, ROLE_NAMES
from opel.contracts.daily_record import ActionDay, DailyRecord, Decision, ScopeDay
from opel.daily_record import LONDON, daily_record
from streams.web.auth import Permission
from streams.web.context import context
from streams.web.guard import require
from streams.web.problems import ProblemError
from streams.web.reads import level_label

_EVER: Final = (dt.datetime.min.replace(tzinfo=dt.UTC), dt.datetime.max.replace(tzinfo=dt.UTC))
_DAY: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EVENT_WORDS: Final = {
    "opened": "started",
    "reminded": "reminded (past its deadline)",
    "done": "marked done",
    "not_applicable": "marked not applicable",
    "closed_by_stand_down": "stood down",
}
_STATE_WORDS: Final = {
    "open": "open",
    "done": "done",
    "not_applicable": "not applicable",
    "closed_by_stand_down": "stood down",
}
_DECISION_WORDS: Final = {
    "override": "override",
    "withdraw": "override withdrawn",
    "override_expired": "override expired",
    "ack": "alert acknowledged",
    "reset": "scope repaired",
    "catalogue_loaded": "catalogue loaded",
    "routing_loaded": "routing loaded",
}


def _parse_day(text: str) -> dt.date:
    try:
        if _DAY.match(text):
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    raise ProblemError(
        422,
        "invalid-request",
        f"day: must be a date written YYYY-MM-DD, e.g. 2025-11-12; got {text!r}",
        title="Invalid request",
        extra={"field": "day", "errors": [{"field": "day", "message": "is not a date YYYY-MM-DD"}]},
    )


def build(request: web.Request, day: dt.date) -> DailyRecord:
    view = context(request).view
    statuses = {s.scope: (s.level, s.since) for s in view.statuses()}
    start = dt.datetime.combine(day, dt.time(0), tzinfo=LONDON) - dt.timedelta(days=8)
    held = view.audit_between(start.astimezone(dt.UTC), view.now() + dt.timedelta(days=1))
    everything = view.audit_between(
        dt.datetime.min.replace(tzinfo=dt.UTC), dt.datetime.max.replace(tzinfo=dt.UTC)
    )
    return daily_record(
        day,
        held,
        view.items(),
        statuses,
        view.now(),
        everything[0].at if everything else None,
    )


async def get_daily_record(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    record = build(request, _parse_day(request.match_info["day"]))
    return web.json_response(record.model_dump(mode="json"))


async def get_daily_record_page(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    record = build(request, _parse_day(request.match_info["day"]))
    return web.Response(text=render_page(record), content_type="text/html", charset="utf-8")


# --- the printable page -------------------------------------------------------------------------


def _time(at: dt.datetime, day: dt.date) -> str:
    """Clock time in Kent; the date too when it is not the record's own day."""
    local = at.astimezone(LONDON)
    return f"{local:%H:%M}" if local.date() == day else f"{local:%H:%M} {local:%a} {local.day} {local:%b}"


def _scope_name(scope: str) -> str:
    kind, _, name = scope.partition("/")
    if kind == "area":
        return AREA_NAMES.get(name, name)
    if kind == "county":
        return "Kent County Council"
    words = name.replace("_", " ").title()
    return f"{words} (hospital site)" if kind == "site" else f"{words} (system)"


def _cell(level: int | None) -> str:
    css = f"level-{level}" if level is not None else "level-none"
    return f'<td><span class="badge {css}">{escape(level_label(level))}</span></td>'


def _levels(rows: Iterable[ScopeDay], day: dt.date) -> str:
    body = []
    for row in rows:
        changes = "; ".join(
            f"{_time(c.at, day)} {level_label(c.level)}"
            + (f" ({c.cause.replace('_', ' ')} by {c.author})" if c.author else "")
            for c in row.changes
        )
        body.append(
            f'<tr><th scope="row">{escape(_scope_name(row.scope))}</th>'
            f"{_cell(row.start_level)}{_cell(row.highest_level)}{_cell(row.end_level)}"
            f"<td>{escape(changes) or 'no change'}</td></tr>"
        )
    if not body:
        return "<p>No level is known for this day.</p>"
    return (
        '<table id="levels"><caption>Levels in force: at the start of the day, the highest reached, '
        "at the end, and each change with its time.</caption>"
        '<thead><tr><th scope="col">Scope</th><th scope="col">Start of day</th><th scope="col">Highest</th>'
        '<th scope="col">End of day</th><th scope="col">Changes</th></tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _decisions(rows: Iterable[Decision], day: dt.date) -> str:
    body = [
        f"<tr><td>{escape(_time(d.at, day))}</td>"
        f"<td>{escape(_DECISION_WORDS.get(d.decision, d.decision))}"
        + (f": {escape(level_label(d.level))}" if d.level is not None else "")
        + f"</td><td>{escape(_scope_name(d.scope)) if d.scope else ''}</td>"
        f"<td>{escape(d.author or '')}</td><td>{escape(d.reason or '')}</td></tr>"
        for d in rows
    ]
    if not body:
        return "<p>No decision was recorded this day.</p>"
    return (
        '<table id="decisions"><caption>Decisions and overrides, with who took them and when.</caption>'
        '<thead><tr><th scope="col">Time</th><th scope="col">Decision</th><th scope="col">Scope</th>'
        '<th scope="col">By</th><th scope="col">Reason</th></tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _actions(rows: Iterable[ActionDay], day: dt.date) -> str:
    body = []
    for a in rows:
        events = "".join(
            f"<li>{escape(_time(e.at, day))} {escape(_EVENT_WORDS[e.event])} by {escape(e.by)}"
            + (f": {escape(e.note)}" if e.note else "")
            + "</li>"
            for e in a.events
        )
        body.append(
            f'<tr data-item="{escape(a.item_id)}"><td>{escape(_scope_name(a.scope))}</td>'
            f"<td>{escape(ROLE_NAMES.get(a.role, a.role_name))}</td>"
            f'<td>{escape(a.text)} <span class="ref">(plan {escape(a.plan_ref)})</span></td>'
            f"<td>{escape(_time(a.due_at, day))}</td><td>{escape(_STATE_WORDS[a.state_at_end])}</td>"
            f"<td><ul>{events}</ul></td></tr>"
        )
    if not body:
        return "<p>No action was in force this day.</p>"
    return (
        '<table id="actions"><caption>Actions in force, who did what and when.</caption>'
        '<thead><tr><th scope="col">Scope</th><th scope="col">Role</th><th scope="col">Action</th>'
        '<th scope="col">Due</th><th scope="col">At end of day</th>'
        '<th scope="col">What happened</th></tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def render_page(record: DailyRecord) -> str:
    day = record.day
    title = f"OPEL daily record: {day:%A} {day.day} {day:%B %Y}"
    held = (
        f" Levels and decisions are known from {escape(_time(record.held_since, day))}."
        if record.held_since is not None and record.held_since > record.starts_at
        else ""
    )
    return (
        '<!doctype html><html lang="en-GB"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="/static/board.css">'
        '<link rel="stylesheet" href="/static/daily-record.css">'
        f'</head><body><main class="daily-record"><h1>{escape(title)}</h1>'
        f'<p class="meta">Kent Adult Social Care and Health. Times are UK time ({escape(record.timezone)}); '
        f"the day runs from midnight to midnight. Put together at {escape(_time(record.as_of, day))}.{held} "
        f'<a href="/daily-record/{day.isoformat()}">JSON</a></p>'
        + _section("levels", "Levels", _levels(record.levels, day))
        + _section("decisions", "Decisions and overrides", _decisions(record.decisions, day))
        + _section("actions", "Actions", _actions(record.actions, day))
        + "</main></body></html>"
    )


def _section(name: str, heading: str, body: str) -> str:
    return f'<section aria-labelledby="{name}-heading"><h2 id="{name}-heading">{heading}</h2>{body}</section>'
