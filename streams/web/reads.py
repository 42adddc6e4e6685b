"""Read-only routes: status, history, level timelines, early warnings, actions in force, catalogues,
metrics and health."""

from __future__ import annotations

import importlib
from typing import Final

import prometheus_client
from aiohttp import web
from prometheus_client import CollectorRegistry

from opel.contracts.status import AreaStatus
from opel.levels import Level
from opel.models import AREA_IDS
from streams.status_view import audit_json, status_json, warning_json
from streams.web.auth import Permission
from streams.web.context import context
from streams.web.guard import require
from streams.web.inputs import parse_rfc3339
from streams.web.problems import ProblemError

_SCOPE_KINDS: Final = (
    "indicator/<indicator>/<area>, area/<area>, county/<county>, site/<site>, system/<system>"
)


def level_label(level: object) -> str:
    """``OPEL 3 red``, or ``not assessed``: the words shown beside (never instead of) a colour."""
    if isinstance(level, int) and not isinstance(level, bool) and 1 <= level <= 4:
        parsed = Level(level)
        return f"{parsed.label} {parsed.colour}"
    return "not assessed"


def _area_order(status: AreaStatus) -> tuple[int, str]:
    area = status.area
    return (AREA_IDS.index(area) if area in AREA_IDS else len(AREA_IDS), area)


async def get_status(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    ctx = context(request)
    return web.json_response(
        {
            "now": ctx.view.now().isoformat(),
            "caught_up": ctx.view.caught_up,
            "stale_after_seconds": int(ctx.board.stale_after.total_seconds()),
            "statuses": [status_json(status) for status in ctx.view.statuses()],
            "overrides": [override.as_json() for override in ctx.view.active_overrides()],
        }
    )


def _unknown_scope(scope: str) -> ProblemError:
    return ProblemError(
        404,
        "unknown-scope",
        f"no status or history for scope {scope!r}; scopes look like {_SCOPE_KINDS}",
        title="Unknown scope",
    )


async def get_scope_status(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    scope = request.match_info["scope"]
    status = context(request).view.status(scope)
    if status is None:
        raise _unknown_scope(scope)
    return web.json_response(status_json(status))


async def get_history(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    view = context(request).view
    scope = request.match_info["scope"]
    since_text = request.query.get("since")
    since = parse_rfc3339("since", since_text) if since_text is not None else None
    if not view.knows(scope):
        raise _unknown_scope(scope)
    return web.json_response(
        {
            "scope": scope,
            "since": since.isoformat() if since else None,
            "entries": [audit_json(entry) for entry in view.history(scope, since)],
        }
    )


def _timeline_order(scope: str) -> tuple[int, int, str]:
    """County first, then the areas in the plan's order, then systems."""
    kind, _, name = scope.partition("/")
    rank = {"county": 0, "area": 1, "system": 2}.get(kind, 3)
    return (rank, AREA_IDS.index(name) if name in AREA_IDS else len(AREA_IDS), scope)


async def get_timeline(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    view = context(request).view
    now = view.now()
    timelines = view.timelines()
    return web.json_response(
        {
            "now": now.isoformat(),
            "from": (now - view.state.timeline_window).isoformat(),
            "scopes": [
                {"scope": scope, "changes": [change.as_json() for change in timelines[scope]]}
                for scope in sorted(timelines, key=_timeline_order)
            ],
        }
    )


async def get_warnings(request: web.Request) -> web.Response:
    """The open early warnings (opel.warnings.v1 events whose latest step is ``open``), by scope."""
    require(request, Permission.READ)
    view = context(request).view
    return web.json_response(
        {
            "now": view.now().isoformat(),
            "warnings": [warning_json(warning) for warning in view.open_warnings()],
        }
    )


async def get_actions(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    ctx = context(request)
    county = ctx.view.status(ctx.county_scope)
    level = Level(county.level) if county is not None and county.level is not None else None
    plan = ctx.action_plan
    roles = []
    for role in plan.roles.values():
        actions = plan.in_force(role.id, level)
        roles.append(
            {
                "role": role.id,
                "name": role.name,
                "plan_ref": role.plan_ref,
                "actions": [
                    {"id": a.id, "level": int(a.level), "text": a.text, "plan_ref": a.plan_ref}
                    for a in actions
                ],
            }
        )
    areas = sorted(
        (status for status in ctx.view.statuses() if isinstance(status, AreaStatus)),
        key=_area_order,
    )
    return web.json_response(
        {
            "plan": {"id": plan.id, "version": plan.version},
            "county": {
                "scope": ctx.county_scope,
                "level": int(level) if level else None,
                "label": level_label(int(level) if level else None),
                "since": status_json(county)["since"] if county is not None else None,
            },
            "areas": [
                {
                    "scope": status.scope,
                    "area": status.area,
                    "level": status.level,
                    "label": level_label(status.level),
                }
                for status in areas
            ],
            "roles": roles,
        }
    )


async def get_catalogues(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    return web.json_response({"catalogues": context(request).catalogues()})


def metrics_registry() -> CollectorRegistry:
    """``streams.metrics.REGISTRY`` when that module exists, else prometheus_client's default."""
    try:
        module = importlib.import_module("streams.metrics")
    except ImportError:
        return prometheus_client.REGISTRY
    registry = getattr(module, "REGISTRY", None)
    return registry if isinstance(registry, CollectorRegistry) else prometheus_client.REGISTRY


async def get_metrics(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    body = prometheus_client.generate_latest(metrics_registry())
    response = web.Response(body=body)
    response.headers["Content-Type"] = prometheus_client.CONTENT_TYPE_LATEST
    return response


async def get_healthz(request: web.Request) -> web.Response:
    view = context(request).view
    if not view.running:
        raise ProblemError(503, "not-ready", "the status view is not consuming", title="Not ready")
    if not view.caught_up:
        raise ProblemError(503, "not-ready", "the status view is still reading the topics", title="Not ready")
    return web.json_response(
        {
            "status": "ok",
            "caught_up": True,
            "scopes": len(view.statuses()),
            "refused": view.records_rejected,
        }
    )
