"""``GET /readings/form``: what the daily submission page (``/submit``) asks its signed-in owner for.

For each area the principal may submit readings for, every indicator the catalogue in force
judges there, with what a value must be (a number in its unit, or one of its categories) and
the last value the status view holds, its age and the level it gave. The page previews and
submits through ``POST /readings``, so validation has one path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic_core import to_jsonable_python

from opel.catalogue import IndicatorCatalogue, IndicatorRule
from opel.contracts.status import IndicatorStatus
from streams.web.auth import Permission, Principal
from streams.web.context import context
from streams.web.guard import require_principal
from streams.web.problems import ProblemError
from streams.web.reads import level_label

__all__ = ["get_readings_form", "readings_form"]


def _last(status: object, now: dt.datetime) -> dict[str, Any] | None:
    if not isinstance(status, IndicatorStatus) or status.value is None or status.observed_at is None:
        return None
    # The level the value gave, not one an override or the step-down wait holds in force.
    level = status.computed_level
    return {
        "value": status.value,
        "observed_at": status.observed_at.isoformat(),
        "age_seconds": max(0, int((now - status.observed_at).total_seconds())),
        "level": level,
        "label": level_label(level),
    }


def _field(rule: IndicatorRule, status: object, now: dt.datetime) -> dict[str, Any]:
    indicator = rule.indicator
    return {
        "indicator": indicator.id,
        "name": indicator.name,
        "unit": indicator.unit,
        "kind": rule.kind,
        "categories": list(rule.categories),
        "last": _last(status, now),
    }


def readings_form(
    catalogue: IndicatorCatalogue,
    principal: Principal,
    status_of: Callable[[str], object],
    now: dt.datetime,
) -> dict[str, Any]:
    """The form's content; ``status_of(scope)`` is the status view's latest status of a scope."""
    areas = []
    for area in catalogue.areas.values():
        if not principal.may_submit_for(area.id):
            continue
        fields = [
            _field(rule, status_of(f"indicator/{indicator}/{area.id}"), now)
            for indicator in catalogue.indicators
            if (rule := catalogue.rules.get((indicator, area.id))) is not None
        ]
        areas.append({"area": area.id, "name": area.name, "indicators": fields})
    return {
        "author": principal.name,
        "now": now.isoformat(),
        "catalogue": catalogue.meta.id,
        "catalogue_version": catalogue.meta.version,
        "areas": areas,
    }


async def get_readings_form(request: web.Request) -> web.Response:
    principal = require_principal(request, Permission.SUBMIT_READINGS)
    ctx = context(request)
    catalogue = ctx.indicators()
    if catalogue is None:
        raise ProblemError(503, "catalogue-unavailable", "the indicator catalogue in force cannot be read")
    body = readings_form(catalogue, principal, ctx.view.status, ctx.view.now())
    return web.json_response(to_jsonable_python(body))
