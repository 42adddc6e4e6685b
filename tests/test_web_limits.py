"""What the API never does, over a real local HTTP server (no broker: the view is fed by hand).

- a non-UTF-8 ``Authorization`` header is a 401 problem, never a 500;
- ``/history`` never shows a referral event's ``ref``;
- ``/events`` holds at most ``board.max_event_streams`` connections: the next gets 503 with
  ``Retry-After`` until one closes;
- an override names a scope of the catalogues in force (else 422 naming ``scope``), and an ack
  an alert alerting has published on ``opel.alerts.v1`` (else 404): never a 202 for nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import aiohttp
import pytest
from support.demo import audit_entry, status_record
from support.local_stack import shipped_catalogues

from opel.actions_load import default_action_plan
from opel.contracts.alert import AlertDelivery, NoticeKind
from streams.broker import LOOPBACK
from streams.status_view import StatusView
from streams.topics import ALERTS
from streams.web.auth import BoardConfig, build_api_config
from streams.web.server import WebServer

TOKEN: Final = "a-long-enough-token-0001"
NOW: Final = dt.datetime(2025, 11, 12, 9, 30, tzinfo=dt.UTC)
REF: Final = "MOSAIC-REF-7731-XQ"

Serve = Callable[..., Awaitable[WebServer]]


async def _refuse_commands(command: dict[str, Any]) -> None:
    raise AssertionError(f"no command should be sent here, got {command}")


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    started: list[WebServer] = []

    async def make(*, board: BoardConfig | None = None, reads_require_token: bool = True) -> WebServer:
        config = {
            "reads_require_token": reads_require_token,
            "principals": {"wall": {"roles": ["viewer"], "token_env": "T"}},
        }
        # The view is never started: what it holds is applied by the tests themselves.
        view = StatusView("127.0.0.1:9", use_metrics=False, clock=lambda: NOW)
        server = WebServer(
            host=LOOPBACK,
            port=0,
            view=view,
            send_command=_refuse_commands,
            auth=build_api_config(config, {"T": TOKEN}).auth,
            catalogues=list,
            action_plan=default_action_plan(),
            board=board,
            sse_heartbeat=0.05,
        )
        await server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()


async def raw_request(server: WebServer, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send request bytes as they are (aiohttp's client would refuse them); status, headers, body."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(head)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status_line, _, rest = response.partition(b"\r\n")
    header_block, _, body = rest.partition(b"\r\n\r\n")
    headers = {}
    for line in header_block.split(b"\r\n"):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


# --------------------------------------------------------------------------- Authorization


@pytest.mark.parametrize(
    "credentials",
    [
        b"Bearer \xff\xfe-not-utf-8-0123456789",
        b"Bearer a-long-enough-token-\xe9001",  # Latin-1, as an old client might send it
        b"\xc3\x28earer a-long-enough-token-0001",
    ],
)
async def test_a_non_utf8_authorization_header_is_401_not_500(serve: Serve, credentials: bytes) -> None:
    server = await serve()
    status, headers, body = await raw_request(
        server,
        b"GET /status HTTP/1.1\r\nHost: opel\r\nAuthorization: "
        + credentials
        + b"\r\nConnection: close\r\n\r\n",
    )
    assert status == 401
    assert headers["content-type"].startswith("application/problem+json")
    assert headers["www-authenticate"].startswith('Bearer realm="opel"')
    problem = json.loads(body)
    assert problem["status"] == 401
    assert set(problem) >= {"type", "title", "status", "detail"}


async def test_the_valid_token_still_reads(serve: Serve) -> None:
    server = await serve()
    status, _, _ = await raw_request(
        server,
        b"GET /status HTTP/1.1\r\nHost: opel\r\nAuthorization: Bearer "
        + TOKEN.encode()
        + b"\r\nConnection: close\r\n\r\n",
    )
    assert status == 200


# --------------------------------------------------------------------------- referral refs


async def test_history_never_shows_a_referral_events_ref(serve: Serve) -> None:
    server = await serve(reads_require_token=False)
    event = {
        "event_id": "evt-0001",
        "area": "dgs",
        "kind": "received",
        "occurred_at": NOW.isoformat(),
        "service": "stp",
        "count": 1,
        "ref": REF,
    }
    view = server._ctx.view
    view.apply_audit_record(
        audit_entry("area/dgs", "referral_counted", NOW, input=event, outcome={"pending": 1})
    )
    view.apply_audit_record(audit_entry("area/dgs", "duplicate", NOW, input=event, reason="seen before"))
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/history/area/dgs") as response:
        assert response.status == 200
        text = await response.text()
    assert REF not in text
    entries = json.loads(text)["entries"]
    assert [entry["decision"] for entry in entries] == ["referral_counted", "duplicate"]
    for entry in entries:
        # Everything else about the event stays: only the reference is withheld.
        assert entry["input"] == {k: v for k, v in event.items() if k != "ref"}


# --------------------------------------------------------------------------- /events limit


async def _open_stream(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientResponse:
    response = await http.get(f"{url}/events")
    if response.status == 200:
        # Wait for the ready event, so the server has counted this stream.
        while b"event: ready" not in await response.content.readline():
            pass
    return response


async def test_event_streams_are_limited_and_the_next_one_gets_503(serve: Serve) -> None:
    server = await serve(board=BoardConfig(max_event_streams=2), reads_require_token=False)
    async with aiohttp.ClientSession() as http:
        first = await _open_stream(http, server.url)
        second = await _open_stream(http, server.url)
        assert (first.status, second.status) == (200, 200)
        third = await _open_stream(http, server.url)
        assert third.status == 503
        assert int(third.headers["Retry-After"]) > 0
        assert third.content_type == "application/problem+json"
        problem = await third.json()
        assert problem["status"] == 503
        assert "2" in problem["detail"]
        third.release()

        first.close()  # a client goes away; the next heartbeat notices and frees its place
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            again = await _open_stream(http, server.url)
            if again.status == 200:
                break
            again.release()
            assert asyncio.get_running_loop().time() < deadline, "the closed stream was never freed"
            await asyncio.sleep(0.05)
        again.close()
        second.close()


def test_the_default_limit_is_sensible_and_comes_from_the_api_config() -> None:
    assert BoardConfig().max_event_streams == 100
    config = build_api_config({"board": {"max_event_streams": 5}}, {})
    assert config.board.max_event_streams == 5
    with pytest.raises(ValueError, match="max_event_streams"):
        build_api_config({"board": {"max_event_streams": 0}}, {})


# --------------------------------------------------------------------------- commands name what exists

GROUP_TOKEN: Final = "a-long-enough-token-0002"
DUTY_TOKEN: Final = "a-long-enough-token-0003"


@pytest.fixture
async def commands() -> AsyncIterator[Callable[..., Awaitable[tuple[WebServer, list[dict[str, Any]]]]]]:
    started: list[WebServer] = []

    async def make(
        catalogues: Callable[[], list[dict[str, Any]]] = shipped_catalogues,
    ) -> tuple[WebServer, list[dict[str, Any]]]:
        sent: list[dict[str, Any]] = []

        async def send(command: dict[str, Any]) -> None:
            sent.append(command)

        config = {
            "principals": {
                "group": {"roles": ["escalation_group"], "token_env": "T_GROUP"},
                "duty": {"roles": ["duty_manager"], "token_env": "T_DUTY"},
            }
        }
        server = WebServer(
            host=LOOPBACK,
            port=0,
            view=StatusView("127.0.0.1:9", use_metrics=False, clock=lambda: NOW),
            send_command=send,
            auth=build_api_config(config, {"T_GROUP": GROUP_TOKEN, "T_DUTY": DUTY_TOKEN}).auth,
            catalogues=catalogues,
            action_plan=default_action_plan(),
        )
        await server.start()
        started.append(server)
        return server, sent

    yield make
    for server in started:
        await server.stop()


async def _override(server: WebServer, scope: str) -> tuple[int, dict[str, Any]]:
    body = {
        "scope": scope,
        "level": 3,
        "reason": "test",
        "expires_at": (NOW + dt.timedelta(hours=2)).isoformat(),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/overrides", json=body, headers={"Authorization": f"Bearer {GROUP_TOKEN}"}
        ) as response,
    ):
        return response.status, await response.json()


@pytest.mark.parametrize(
    ("scope", "known"),
    [
        ("area/dgs", True),
        ("indicator/referrals/east_kent", True),
        ("site/maidstone", True),
        ("system/kent-medway", True),
        ("county/kent", True),
        ("area/atlantis", False),
        ("indicator/moonbeams/dgs", False),
        ("indicator/referrals/atlantis", False),
        ("site/st_elsewhere", False),
        ("system/nowhere", False),
        ("county/essex", False),
    ],
)
async def test_an_override_names_a_scope_of_the_catalogues_in_force(
    commands: Callable[..., Awaitable[tuple[WebServer, list[dict[str, Any]]]]], scope: str, known: bool
) -> None:
    server, sent = await commands()
    status, answer = await _override(server, scope)
    if known:
        assert status == 202
        assert [command["scope"] for command in sent] == [scope]
    else:
        assert status == 422
        assert answer["field"] == "scope"
        assert answer["type"].endswith("unknown-scope")
        assert scope in answer["detail"]
        assert sent == []


async def test_without_a_readable_catalogue_the_scopes_the_view_has_seen_count(
    commands: Callable[..., Awaitable[tuple[WebServer, list[dict[str, Any]]]]],
) -> None:
    server, sent = await commands(catalogues=lambda: [{"id": "kcc-asch-2025-26", "version": "1.8"}])
    server._ctx.view.apply_status_record("area/swale", status_record("area/swale", 2, at=NOW))
    assert (await _override(server, "area/swale"))[0] == 202
    assert (await _override(server, "county/kent"))[0] == 202
    assert (await _override(server, "area/atlantis"))[0] == 422
    assert [command["scope"] for command in sent] == ["area/swale", "county/kent"]


def delivery(alert_ids: tuple[str, ...], kind: NoticeKind = "firing", at: dt.datetime = NOW) -> bytes:
    return AlertDelivery(
        kind=kind,
        id=f"d-{alert_ids[0]}",
        notice_id=f"n-{alert_ids[0]}",
        alert_ids=alert_ids,
        role="stp_team_manager",
        route="area-operational",
        contact="tm",
        channel="log",
        state="sent",
        attempts=1,
        reason="sent",
        subject="OPEL 3 RED: Swale",
        text="...",
        at=at,
    ).to_json()


async def _ack(server: WebServer, alert_id: str) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/alerts/{alert_id}/ack", headers={"Authorization": f"Bearer {DUTY_TOKEN}"}
        ) as response,
    ):
        return response.status, await response.json()


async def test_an_ack_names_an_alert_alerting_has_published(
    commands: Callable[..., Awaitable[tuple[WebServer, list[dict[str, Any]]]]],
) -> None:
    server, sent = await commands()
    view = server._ctx.view
    status, problem = await _ack(server, "3f2a9c1e77d04b5e")
    assert status == 404
    assert problem["type"].endswith("unknown-alert")
    assert "3f2a9c1e77d04b5e" in problem["detail"]

    view.apply_alert_json(delivery(("3f2a9c1e77d04b5e", "aa11bb22cc33dd44")))
    view.apply_alert_json(delivery(("dd99dd99dd99dd99",), kind="duty"))  # a duty notice: nothing to ack
    assert (await _ack(server, "3f2a9c1e77d04b5e"))[0] == 202
    assert (await _ack(server, "aa11bb22cc33dd44"))[0] == 202
    assert (await _ack(server, "3F2A9C1E"))[0] == 202  # the 8 characters a phone shows
    assert (await _ack(server, "3f2a9c"))[0] == 404  # too short to name one alert
    assert (await _ack(server, "dd99dd99dd99dd99"))[0] == 404
    assert [command["alert_id"] for command in sent] == ["3f2a9c1e77d04b5e", "aa11bb22cc33dd44", "3F2A9C1E"]


def test_known_alerts_are_forgotten_after_the_history_window() -> None:
    clock = [NOW]
    view = StatusView("127.0.0.1:9", use_metrics=False, clock=lambda: clock[0])
    view.apply_alert_json(delivery(("3f2a9c1e77d04b5e",)))
    assert view.knows_alert("3f2a9c1e77d04b5e")
    clock[0] = NOW + dt.timedelta(days=8)
    view.apply_alert_json(delivery(("0000111122223333",), at=clock[0]))
    assert not view.knows_alert("3f2a9c1e77d04b5e")
    assert view.knows_alert("0000111122223333")
    view.apply_alert_json(b'{"kind": "firing"}')
    assert view.records_refused[ALERTS] == 1
