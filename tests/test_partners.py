"""Partners' webhooks: the partners file, the filter, the signed CloudEvents request, one HTTP attempt.

Signatures are checked with ``standardwebhooks``, an implementation of the scheme that is not
opel's, so a mistake shared by signer and test cannot pass.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from test_alerting_fixtures import escalation

from opel.contracts.escalation import EscalationEvent
from opel.partners.config import Partner, PartnersError, Retry, build_partners, load_partners
from opel.partners.webhook import STRUCTURED_CONTENT_TYPE, request_for, wants
from streams.broker import free_port
from streams.partners.sender import post

REPO: Final = Path(__file__).resolve().parent.parent
SECRET: Final = "whsec_" + base64.b64encode(b"k" * 32).decode()
T0: Final = datetime(2025, 11, 12, 9, 30, tzinfo=UTC)


def partner(**changes: Any) -> Partner:
    values: dict[str, Any] = {
        "url": "http://127.0.0.1:9/hook",
        "mode": "structured",
        "secret_env": "S",
        **changes,
    }
    return build_partners({"partners": {"p": values}}, "test.yaml", env={"S": SECRET})[0]


def event(scope: str = "area/east_kent", from_level: int | None = 2, to_level: int = 3) -> EscalationEvent:
    return EscalationEvent.model_validate(escalation(scope, from_level, to_level))


# ----------------------------------------------------------------------------- the partners file


def test_the_example_file_loads_with_its_secret_set() -> None:
    partners = load_partners(
        REPO / "config" / "partners.example.yaml", env={"OPEL_PARTNER_SECRET_KMPT": SECRET}
    )
    assert [(p.name, p.mode, p.scopes, p.min_level) for p in partners] == [
        ("kmpt", "structured", ("county", "area"), 3)
    ]
    assert partners[0].key == b"k" * 32
    assert "kkkk" not in repr(partners[0])


@pytest.mark.parametrize(
    ("entry", "env", "message"),
    [
        ({"secret_env": "S", "urll": "http://x"}, {"S": SECRET}, "partners.p.urll"),
        ({"url": "ftp://x/y", "secret_env": "S"}, {"S": SECRET}, "partners.p.url"),
        ({"url": "http://x", "secret_env": "S", "mode": "batch"}, {"S": SECRET}, "partners.p.mode"),
        ({"url": "http://x", "secret_env": "S", "scopes": ["aera"]}, {"S": SECRET}, "'aera' is neither"),
        ({"url": "http://x", "secret_env": "S", "scopes": ["area/"]}, {"S": SECRET}, "partners.p.scopes"),
        ({"url": "http://x", "secret_env": "S", "min_level": 5}, {"S": SECRET}, "partners.p.min_level"),
        ({"url": "http://x", "secret_env": "S", "retry": {"attempts": 0}}, {"S": SECRET}, "retry.attempts"),
        (
            {"url": "http://x", "secret_env": "S"},
            {},
            "partners.p.secret_env: environment variable S is not set",
        ),
        ({"url": "http://x", "secret_env": "S"}, {"S": "c2VjcmV0"}, "must start with 'whsec_'"),
        ({"url": "http://x", "secret_env": "S"}, {"S": "whsec_!!"}, "is not base64"),
        ({"url": "http://x", "secret_env": "S"}, {"S": "whsec_c2hvcnQ="}, "decodes to 5 bytes"),
    ],
)
def test_a_bad_partner_names_the_key(entry: dict[str, Any], env: dict[str, str], message: str) -> None:
    with pytest.raises(PartnersError, match=re.escape(message)) as caught:
        build_partners({"partners": {"p": entry}}, "partners.yaml", env=env)
    assert str(caught.value).startswith("partners.yaml: ")
    assert "whsec_!!" not in str(caught.value)
    assert "c2hvcnQ" not in str(caught.value)


def test_a_bad_partner_name_and_an_unknown_top_level_key_are_named() -> None:
    with pytest.raises(PartnersError, match=re.escape("partners.KMPT")):
        build_partners({"partners": {"KMPT": {"url": "http://x", "secret_env": "S"}}}, "f", env={"S": SECRET})
    with pytest.raises(PartnersError, match="partner:"):
        build_partners({"partner": {}}, "f", env={})


def test_a_missing_or_unparsable_file_is_a_partners_error(tmp_path: Path) -> None:
    with pytest.raises(PartnersError, match="cannot read"):
        load_partners(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("partners: [whsec_leaked\n", encoding="utf-8")
    with pytest.raises(PartnersError, match="invalid YAML") as caught:
        load_partners(bad)
    assert caught.value.__cause__ is None


def test_retry_waits_double_up_to_the_cap() -> None:
    retry = Retry(attempts=6, first_delay_seconds=1, max_delay_seconds=5)
    assert [retry.delay(n).total_seconds() for n in range(1, 6)] == [1, 2, 4, 5, 5]


# ----------------------------------------------------------------------------- which events


@pytest.mark.parametrize(
    ("scopes", "min_level", "scope", "levels", "wanted"),
    [
        ((), 1, "area/east_kent", (None, 2), True),
        (("area",), 1, "area/east_kent", (None, 2), True),
        (("area",), 1, "county/kent", (None, 2), False),
        (("site/maidstone",), 1, "site/maidstone", (1, 2), True),
        (("site/maidstone",), 1, "site/darent_valley", (1, 2), False),
        (("county", "area/dgs"), 1, "area/dgs", (1, 2), True),
        ((), 3, "area/dgs", (1, 2), False),
        ((), 3, "area/dgs", (2, 3), True),
        ((), 3, "area/dgs", (3, 2), True),  # leaving level 3 is news to whoever watched it
        ((), 4, "area/dgs", (3, 2), False),
    ],
)
def test_scopes_and_minimum_level_choose_the_events(
    scopes: tuple[str, ...], min_level: int, scope: str, levels: tuple[int | None, int], wanted: bool
) -> None:
    assert wants(partner(scopes=list(scopes), min_level=min_level), event(scope, *levels)) is wanted


# ----------------------------------------------------------------------------- the request


def test_structured_mode_sends_the_whole_event_signed_as_standard_webhooks_verifies() -> None:
    ev = event()
    now = datetime.now(UTC)
    request = request_for(partner(mode="structured"), ev, now)
    assert request.headers["content-type"] == STRUCTURED_CONTENT_TYPE
    assert request.headers["webhook-id"] == ev.id
    assert request.headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert EscalationEvent.model_validate_json(request.body) == ev
    assert not any(name.startswith("ce-") for name in request.headers)
    assert Webhook(SECRET).verify(request.body, request.headers) == json.loads(request.body)


def test_binary_mode_sends_attributes_as_headers_and_the_data_as_body() -> None:
    ev = event("county/kent", 3, 4)
    request = request_for(partner(mode="binary"), ev, datetime.now(UTC))
    assert request.headers["content-type"] == "application/json"
    assert {k: v for k, v in request.headers.items() if k.startswith("ce-")} == {
        "ce-specversion": "1.0",
        "ce-id": ev.id,
        "ce-source": ev.source,
        "ce-type": "uk.gov.kent.opel.escalation",
        "ce-subject": "county/kent",
        "ce-time": "2025-11-12T09:30:00Z",
    }
    assert json.loads(request.body) == json.loads(ev.data.to_json())
    Webhook(SECRET).verify(request.body, request.headers)


def test_a_changed_body_a_wrong_secret_or_an_old_timestamp_fail_verification() -> None:
    request = request_for(partner(), event(), datetime.now(UTC))
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(request.body.replace(b'"to_level":3', b'"to_level":4'), request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(request.body, request.headers)
    stale = request_for(partner(), event(), datetime.now(UTC) - timedelta(minutes=10))
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(stale.body, stale.headers)


def test_every_attempt_is_signed_afresh_under_the_same_id() -> None:
    first = request_for(partner(), event(), T0)
    again = request_for(partner(), event(), T0 + timedelta(seconds=4))
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    assert first.body == again.body
    assert first.headers["webhook-signature"] != again.headers["webhook-signature"]


# ----------------------------------------------------------------------------- one attempt


@pytest.fixture
async def answering() -> AsyncIterator[str]:
    """A real local server whose path says what it answers: /200, /503, /429, /400, /302, /slow."""

    async def handle(request: web.Request) -> web.StreamResponse:
        what = request.match_info["what"]
        if what == "slow":
            await asyncio.sleep(2)
            return web.Response(status=200)
        if what == "302":
            raise web.HTTPFound("/200")
        return web.Response(status=int(what))

    app = web.Application()
    app.router.add_post("/{what}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("path", "ok", "recoverable", "code"),
    [
        ("/200", True, False, 200),
        ("/503", False, True, 503),
        ("/429", False, True, 429),
        ("/400", False, False, 400),
        ("/302", False, False, 302),  # never follows a redirect with a signed event
    ],
)
async def test_what_an_answer_means_for_a_retry(
    answering: str, path: str, ok: bool, recoverable: bool, code: int
) -> None:
    request = request_for(partner(), event(), datetime.now(UTC))
    async with httpx.AsyncClient() as client:
        attempt = await post(client, answering + path, request, timeout=5)
    assert (attempt.ok, attempt.recoverable, attempt.status_code) == (ok, recoverable, code)


async def test_a_timeout_and_a_refused_connection_are_worth_retrying(answering: str) -> None:
    request = request_for(partner(), event(), datetime.now(UTC))
    async with httpx.AsyncClient() as client:
        started = time.monotonic()
        slow = await post(client, answering + "/slow", request, timeout=0.3)
        assert time.monotonic() - started < 1.5
        refused = await post(client, f"http://127.0.0.1:{free_port()}/hook", request, timeout=2)
    assert (slow.ok, slow.recoverable, slow.error) == (False, True, "timed out after 0.3 s")
    assert (refused.ok, refused.recoverable) == (False, True)
    assert refused.error


# ----------------------------------------------------------------------------- opel run


def test_opel_run_with_a_bad_partners_file_stops_before_starting_anything(tmp_path: Path) -> None:
    bad = tmp_path / "partners.yaml"
    bad.write_text("partners:\n  kmpt:\n    url: http://x/hook\n    secret_env: OPEL_TEST_UNSET_SECRET\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPEL_")}
    env.update(OPEL_PARTNERS_FILE=str(bad), OPEL_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run(
        [sys.executable, "-m", "opel.cli", "run", "--broker", "kafka://127.0.0.1:9"],
        env=env,
        cwd=tmp_path,  # no opel.env of the checkout
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert (
        f"opel run: {bad}: partners.kmpt.secret_env: environment variable OPEL_TEST_UNSET_SECRET is not set"
        in done.stderr
    )
