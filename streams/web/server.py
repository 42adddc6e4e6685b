"""The HTTP server: routes, middleware and lifecycle (aiohttp, bound to the host it is given)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from opel.actions import ActionPlan, PlanSource, plan_source
from streams.status_view import StatusView
from streams.web import (
    action_items,
    board,
    daily_record,
    duties,
    events,
    exercise,
    readings_form,
    readings_submit,
    reads,
    writes,
)
from streams.web.auth import AuthConfig, BoardConfig
from streams.web.catalogue_in_force import IndicatorsInForce
from streams.web.context import CONTEXT, Catalogues, Context, SendCommand, SendRecords
from streams.web.idempotency import IdempotencyStore
from streams.web.problems import problem_middleware
from streams.web.scopes import ScopeCatalogue

if TYPE_CHECKING:
    from streams.exercise.desk import ExerciseDesk

__all__ = ["ROUTES", "Route", "WebServer", "build_app"]

log = logging.getLogger(__name__)

DEFAULT_COUNTY_SCOPE: Final = "county/kent"
SHUTDOWN_SECONDS: Final = 5.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler


# Scopes contain slashes (indicator/health_caseload/dgs), hence the ".+" patterns.
ROUTES: Final[tuple[Route, ...]] = (
    Route("GET", "/", board.get_board),
    Route("GET", "/static/{filename}", board.get_static),
    Route("GET", "/healthz", reads.get_healthz),
    Route("GET", "/metrics", reads.get_metrics),
    Route("GET", "/status", reads.get_status),
    Route("GET", "/status/{scope:.+}", reads.get_scope_status),
    Route("GET", "/history/{scope:.+}", reads.get_history),
    Route("GET", "/timeline", reads.get_timeline),
    Route("GET", "/warnings", reads.get_warnings),
    Route("GET", "/actions", reads.get_actions),
    Route("GET", "/catalogues", reads.get_catalogues),
    Route("GET", "/events", events.get_events),
    Route("POST", "/overrides", writes.post_override),
    Route("DELETE", "/overrides/{id}", writes.delete_override),
    Route("POST", "/alerts/{id}/ack", writes.post_ack),
    Route("GET", "/keah/open", duties.get_keah_open),
    Route("POST", "/keah/{event_id}/referrer-told", duties.post_keah_told),
    Route("POST", "/assessment-beds/placements", duties.post_placement),
    Route("GET", "/submit", board.get_submit_page),
    Route("GET", "/readings/form", readings_form.get_readings_form),
    Route("POST", "/readings", readings_submit.post_readings),
    Route("GET", "/action-items", action_items.get_action_items),
    Route("POST", "/action-items/{id}", action_items.post_action_item),
    # The page first: "{day}" alone would also match "2025-11-12.html".
    Route("GET", "/daily-record/{day}.html", daily_record.get_daily_record_page),
    Route("GET", "/daily-record/{day}", daily_record.get_daily_record),
    Route("GET", "/exercise", exercise.get_exercise),
    Route("POST", "/exercise", exercise.post_exercise),
    Route("POST", "/exercise/stop", exercise.post_exercise_stop),
    Route("GET", "/exercise/report.html", exercise.get_exercise_report_html),
    Route("GET", "/exercise/action-items", exercise.get_exercise_items),
    Route("POST", "/exercise/action-items/{id}", exercise.post_exercise_item),
    Route("POST", "/exercise/alerts/{id}/ack", exercise.post_exercise_ack),
)

# The board loads only its own files and talks only to this server.
_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("Cache-Control", "no-store")


def build_app(ctx: Context) -> web.Application:
    app = web.Application(middlewares=[problem_middleware], client_max_size=64 * 1024)
    app[CONTEXT] = ctx
    for route in ROUTES:
        # No automatic HEAD: the OpenAPI document lists every method the server answers.
        if route.method == "GET":
            app.router.add_get(route.path, route.handler, allow_head=False)
        else:
            app.router.add_route(route.method, route.path, route.handler)
    app.on_response_prepare.append(_security_headers)
    return app


class WebServer:
    """Serves the API and the board. ``port=0`` picks a free port; read it from :attr:`port`.

    ``action_plan`` is best a function returning the plan of the catalogue in force
    (``lambda: store.action_plan``), so that a catalogue reload changes the actions shown.
    ``keah_within`` is the routing file's ``clock.keah_within``, so that the KEaH due times shown
    are those alerting keeps. ``send_readings`` (``CommandSender.send_records``) puts the readings
    of ``POST /readings`` on the input topics; without it only dry runs are answered.
    ``exercise`` is the live exercise desk (``/exercise`` routes); without it they answer 503.

    It can be stopped and started again; a restart binds the port it had before.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        view: StatusView,
        send_command: SendCommand,
        auth: AuthConfig,
        catalogues: Catalogues,
        action_plan: ActionPlan | PlanSource,
        board: BoardConfig | None = None,
        county_scope: str = DEFAULT_COUNTY_SCOPE,
        sse_heartbeat: float = 15.0,
        keah_within: timedelta = duties.KEAH_WITHIN,
        send_readings: SendRecords | None = None,
        exercise: ExerciseDesk | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._ctx = Context(
            view=view,
            send_command=send_command,
            auth=auth,
            catalogues=catalogues,
            plan_source=plan_source(action_plan),
            board=board or BoardConfig(),
            county_scope=county_scope,
            sse_heartbeat=sse_heartbeat,
            scopes=ScopeCatalogue(catalogues, county_scope),
            keah_within=keah_within,
            indicators=IndicatorsInForce(catalogues),
            send_readings=send_readings,
            idempotency=IdempotencyStore(view.now),
            exercise=exercise,
        )
        self.app = build_app(self._ctx)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._last_port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the web server is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        if self._runner is not None:
            return
        # One line, not a warning per principal: a role nobody has a token for is simply not in use.
        roles = sorted({r for p in self._ctx.auth.principals if p.token is not None for r in p.roles})
        log.info(
            "API roles that can log in: %s (opel token create --role ROLE makes a token)",
            ", ".join(roles) or "none, reads only",
        )
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
        await runner.setup()
        # Started again after stop(), it returns to the same address, so clients can reconnect.
        site = web.TCPSite(runner, self.host, self._last_port or self._requested_port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        address: Any = runner.addresses[0]
        self._port = self._last_port = int(address[1])
        self._runner = runner
        log.info("opel web server on %s", self.url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        # Event streams never end by themselves; closing their subscriptions lets them return.
        for subscription in list(self._ctx.streams):
            subscription.close()
        await runner.cleanup()
        self._port = None

    async def __aenter__(self) -> WebServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
