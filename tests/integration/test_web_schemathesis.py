"""Schemathesis: generated requests (valid and invalid) against a live server answer as the spec says.

The server runs on 127.0.0.1 with the example API config and a token in the environment, over
the session broker, holding the demo statuses (so an override exists to withdraw). Requests are
sent from the test thread with requests; the server's event loop runs on its own thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from support.demo import demo_statuses
from support.local_stack import LocalStack, log_routing

from streams.broker import EmbeddedBroker
from streams.exercise.desk import ExerciseDesk
from streams.web.auth import load_api_config

REPO: Final = Path(__file__).resolve().parents[2]
TOKEN: Final = "schemathesis-escalation-token-0123456789"
MAX_EXAMPLES: Final = 20

# Schemathesis's own strategies use the random module, which Hypothesis warns about; not ours.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

spec = schemathesis.openapi.from_path(REPO / "docs" / "openapi.yaml")
spec.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES
)
# A body over the server's 64 KB limit is refused with 413 before it is read, which is a refusal of
# invalid data as much as a 422 is; schemathesis's list of refusals lacks it.
spec.config.checks.negative_data_rejection.expected_statuses = [
    *spec.config.checks.negative_data_rejection.expected_statuses,
    "413",
]
# An event stream never ends, so a request/response tester would wait forever on it;
# tests/integration/test_web_api.py reads it with a real client instead.
schema = spec.exclude(path="/events")


class _ServerThread:
    """Runs a LocalStack on its own event loop in a daemon thread."""

    def __init__(self, broker: EmbeddedBroker) -> None:
        self.broker = broker
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="opel-web-schemathesis", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("OPEL_API_TOKEN_ESCALATION_GROUP", TOKEN)
            config = load_api_config(REPO / "config" / "api.example.yaml")
        # An exercise desk with no exercise started: its routes answer as without one running.
        desk = ExerciseDesk(
            bootstrap=self.broker.bootstrap,
            routing_file=Path("<test routing>"),
            app_id=f"schemathesis-{uuid.uuid4().hex[:8]}",
            routing_loader=lambda _: log_routing(["duty"]),
        )
        async with LocalStack(self.broker, auth=config.auth, board=config.board, exercise=desk) as stack:
            statuses = demo_statuses(dt.datetime.now(dt.UTC))
            await stack.publish_status(statuses)
            while len(stack.view.statuses()) < len(statuses):
                await asyncio.sleep(0.05)
            self.url = stack.url
            self._ready.set()
            await self._stop.wait()
        await desk.close()

    def start(self, timeout: float) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the web server did not start in time")
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture(scope="module")
def live_server(broker: EmbeddedBroker) -> Iterator[str]:
    server = _ServerThread(broker)
    server.start(timeout=120)
    try:
        yield server.url
    finally:
        server.stop()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_conforms_to_openapi(case: Any, live_server: str) -> None:
    excluded = []
    if case.operation.method.upper() == "POST" and case.operation.path == "/overrides":
        # "expires_at in the future" depends on the clock, which no JSON Schema can state: a
        # schema-valid past expiry is rightly refused with 422 (checked in test_web_api.py), and
        # so is a well-formed scope no catalogue in force defines.
        excluded.append(positive_data_acceptance)
    if case.operation.method.upper() == "POST" and case.operation.path == "/alerts/{id}/ack":
        # A well-formed id of an alert alerting never sent is rightly 404 (test_web_api.py).
        excluded.append(positive_data_acceptance)
    if case.operation.method.upper() == "POST" and case.operation.path == "/action-items/{id}":
        # Only the plan role owning an item may mark it, so this token is rightly refused (403),
        # as is an id no item has (404): tests/integration/test_action_items.py marks real items.
        excluded.append(positive_data_acceptance)
    if case.operation.path.startswith("/exercise"):
        # No exercise runs here: stopping one or marking its items is rightly 409 or 404, and
        # text that fits the schema is no scenario (422 naming the key).
        # tests/integration/test_exercise_live.py runs a real exercise through a real worker.
        excluded.append(positive_data_acceptance)
    case.call_and_validate(
        base_url=live_server,
        headers={"Authorization": f"Bearer {TOKEN}"},
        excluded_checks=excluded,
        timeout=30,
    )
