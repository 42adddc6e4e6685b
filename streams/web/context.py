"""What every handler needs, kept on the aiohttp application under one typed key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from opel.actions import ActionPlan, PlanSource
from opel.catalogue import IndicatorCatalogue
from streams.status_view import StatusView, Subscription
from streams.web.auth import AuthConfig, BoardConfig
from streams.web.idempotency import IdempotencyStore
from streams.web.scopes import ScopeCatalogue

if TYPE_CHECKING:
    from streams.exercise.desk import ExerciseDesk

SendCommand = Callable[[dict[str, Any]], Awaitable[None]]
SendRecords = Callable[[Sequence[tuple[str, bytes | None, bytes]]], Awaitable[None]]
"""Puts ``(topic, key, value)`` records on the input topics (``CommandSender.send_records``)."""
Catalogues = Callable[[], list[dict[str, Any]]]


@dataclass(slots=True)
class Context:
    view: StatusView
    send_command: SendCommand
    auth: AuthConfig
    catalogues: Catalogues
    plan_source: PlanSource
    board: BoardConfig
    county_scope: str
    sse_heartbeat: float
    scopes: ScopeCatalogue
    keah_within: dt.timedelta
    """How long after receipt a KEaH referrer must be told (plan 7.6): the due time shown."""
    indicators: Callable[[], IndicatorCatalogue | None] = lambda: None
    """The indicator catalogue in force: what ``POST /readings`` assesses with."""
    send_readings: SendRecords | None = None
    """Where ``POST /readings`` puts readings; None: submissions are not taken (503)."""
    idempotency: IdempotencyStore | None = None
    exercise: ExerciseDesk | None = None
    """The live exercise desk; None: exercises are not taken (503), as without alerting."""
    streams: set[Subscription] = field(default_factory=set)

    @property
    def action_plan(self) -> ActionPlan:
        return self.plan_source()

    def known_scopes(self) -> frozenset[str]:
        """The scopes a command may name: the catalogues' in force, else those the view has seen."""
        known = self.scopes.known()
        if known is None:
            return self.view.scopes() | {self.county_scope}
        return known


CONTEXT: Final = web.AppKey("opel_context", Context)


def context(request: web.Request) -> Context:
    return request.app[CONTEXT]
