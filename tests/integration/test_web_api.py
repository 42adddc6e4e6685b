"""The HTTP API over a real broker: status records in, JSON out; commands land on the commands topic."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final, TypeVar

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from support.demo import audit_entry, override, status_record
from support.local_stack import LocalStack, shipped_catalogues

from opel.actions_load import default_action_plan
from opel.contracts.alert import AlertDelivery
from opel.contracts.status import STATUS as STATUS_CONTRACT
from opel.contracts.status import AnyStatus
from opel.feeds import Acknowledge, Override, Withdraw
from opel.levels import Level
from streams.broker import EmbeddedBroker
from streams.compacted import topic_partitions
from streams.status_view import StatusView
from streams.topics import STATUS
from streams.web.auth import build_api_config

GROUP_TOKEN: Final = "group-token-0123456789abcdef"
DUTY_TOKEN: Final = "duty-token-0123456789abcdef"
VIEWER_TOKEN: Final = "viewer-token-0123456789abcdef"
DEADLINE: Final = 60.0
T = TypeVar("T")

CONFIG: Final = {
    "principals": {
        "escalation-group": {"roles": ["escalation_group"], "token_env": "T_GROUP"},
        "duty-manager": {"roles": ["duty_manager"], "token_env": "T_DUTY"},
        "wall-board": {"roles": ["viewer"], "token_env": "T_VIEW"},
    }
}
ENV: Final = {"T_GROUP": GROUP_TOKEN, "T_DUTY": DUTY_TOKEN, "T_VIEW": VIEWER_TOKEN}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def until(probe: Callable[[], T | None], what: str, timeout: float = DEADLINE) -> T:
    """Poll ``probe`` until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


StackFactory = Callable[..., Awaitable[LocalStack]]


@pytest.fixture
async def make_stack(broker: EmbeddedBroker) -> AsyncIterator[StackFactory]:
    started: list[LocalStack] = []

    async def make(*, reads_require_token: bool = False, **kwargs: Any) -> LocalStack:
        config = build_api_config({**CONFIG, "reads_require_token": reads_require_token}, ENV)
        stack = LocalStack(broker, auth=config.auth, board=config.board, **kwargs)
        await stack.start()
        started.append(stack)
        return stack

    yield make
    for stack in started:
        await stack.stop()


@pytest.fixture
async def stack(make_stack: StackFactory) -> LocalStack:
    return await make_stack()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DEADLINE)) as session:
        yield session


async def publish_and_wait(stack: LocalStack, *statuses: AnyStatus) -> None:
    await stack.publish_status(statuses)

    def all_seen() -> bool:
        return all(stack.view.status(status.scope) == status for status in statuses)

    await until(all_seen, "the published statuses")


async def read_commands(broker: EmbeddedBroker, topic: str, count: int) -> list[tuple[str | None, Any]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, topic)
        assert partitions, f"no topic {topic} on the broker"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: list[tuple[str | None, Any]] = []
        deadline = asyncio.get_running_loop().time() + DEADLINE
        while len(found) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"only {len(found)} of {count} commands on {topic}")
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found.extend(
                    (r.key.decode() if r.key is not None else None, json.loads(r.value)) for r in records
                )
        return found
    finally:
        await consumer.stop()


# --------------------------------------------------------------------------- reads


async def test_status_lists_every_scope_and_one_scope_with_slashes(
    stack: LocalStack, http: aiohttp.ClientSession
) -> None:
    at = now()
    indicator = status_record("indicator/health_caseload/dgs", 3, at=at, value=58)
    area = status_record("area/dgs", 3, at=at)
    await publish_and_wait(stack, indicator, area)

    async with http.get(f"{stack.url}/status") as response:
        assert response.status == 200
        body = await response.json()
    assert [s["scope"] for s in body["statuses"]] == ["area/dgs", "indicator/health_caseload/dgs"]
    assert body["caught_up"] is True
    assert body["stale_after_seconds"] == 26 * 3600
    # The API sends each status exactly as the contract serialises it: no field added or lost.
    assert body["statuses"] == [json.loads(area.to_json()), json.loads(indicator.to_json())]
    assert "county" not in body["statuses"][0]
    assert [STATUS_CONTRACT.validate_python(s) for s in body["statuses"]] == [area, indicator]

    async with http.get(f"{stack.url}/status/indicator/health_caseload/dgs") as response:
        assert response.status == 200
        assert await response.json() == json.loads(indicator.to_json())


async def test_a_status_the_contract_refuses_is_counted_not_served(
    stack: LocalStack, http: aiohttp.ClientSession
) -> None:
    good = status_record("area/dgs", 2, at=now())
    await publish_and_wait(stack, good)
    broken = {**json.loads(good.to_json()), "level": 4, "points": 12}  # an area has no points
    await stack.publish_raw_status("area/dgs", json.dumps(broken).encode())
    await stack.publish_raw_status("area/swale", b"{not json")
    await until(lambda: stack.view.records_rejected == 2, "both refusals")
    async with http.get(f"{stack.url}/status/area/dgs") as response:
        assert (await response.json())["level"] == 2
    async with http.get(f"{stack.url}/status/area/swale") as response:
        assert response.status == 404
    async with http.get(f"{stack.url}/healthz") as response:
        assert (await response.json())["refused"] == 2


async def test_unknown_scope_is_404_problem(stack: LocalStack, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{stack.url}/status/area/nowhere") as response:
        assert response.status == 404
        assert response.content_type == "application/problem+json"
        problem = await response.json()
    assert problem["status"] == 404
    assert problem["title"] == "Unknown scope"
    assert "area/nowhere" in problem["detail"]
    assert set(problem) >= {"type", "title", "status", "detail"}


async def test_tombstone_removes_scope(stack: LocalStack, http: aiohttp.ClientSession) -> None:
    await publish_and_wait(stack, status_record("site/maidstone", 2, at=now(), score=12, score_max=44))
    await stack.remove_status("site/maidstone")
    await until(lambda: stack.view.status("site/maidstone") is None, "tombstone")
    async with http.get(f"{stack.url}/status/site/maidstone") as response:
        assert response.status == 404


async def test_history_since_and_bad_since(stack: LocalStack, http: aiohttp.ClientSession) -> None:
    at = now()
    old = audit_entry("area/swale", "transition", at - dt.timedelta(hours=5), outcome={"to_level": 2})
    new = audit_entry("area/swale", "transition", at - dt.timedelta(hours=1), outcome={"to_level": 3})
    ancient = audit_entry("area/swale", "transition", at - dt.timedelta(days=8))
    await stack.publish_audit([ancient, old, new])
    await until(lambda: len(stack.view.history("area/swale")) == 2, "history")

    async with http.get(f"{stack.url}/history/area/swale") as response:
        assert response.status == 200
        body = await response.json()
    assert body["entries"] == [json.loads(old.to_json()), json.loads(new.to_json())]  # 8 days old: dropped

    since = (at - dt.timedelta(hours=2)).isoformat()
    async with http.get(f"{stack.url}/history/area/swale", params={"since": since}) as response:
        body = await response.json()
    assert [e["id"] for e in body["entries"]] == [new.id]

    async with http.get(f"{stack.url}/history/area/swale", params={"since": "yesterday"}) as response:
        assert response.status == 422
        problem = await response.json()
    assert problem["field"] == "since"
    assert "since" in problem["detail"]

    async with http.get(f"{stack.url}/history/area/unknown") as response:
        assert response.status == 404


async def test_actions_follow_the_county_level(stack: LocalStack, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{stack.url}/actions") as response:
        body = await response.json()
    assert body["county"]["level"] is None
    assert all(role["actions"] == [] for role in body["roles"])  # not assessed: business as usual

    at = now()
    await publish_and_wait(
        stack,
        status_record("county/kent", 3, at=at),
        status_record("area/east_kent", 3, at=at),
        status_record("area/dgs", 2, at=at),
    )
    async with http.get(f"{stack.url}/actions") as response:
        body = await response.json()
    assert body["county"] == {
        "scope": "county/kent",
        "level": 3,
        "label": "OPEL 3 red",
        "since": body["county"]["since"],
    }
    assert [a["area"] for a in body["areas"]] == ["dgs", "east_kent"]
    assert [a["label"] for a in body["areas"]] == ["OPEL 2 amber", "OPEL 3 red"]
    manager = next(role for role in body["roles"] if role["role"] == "stp_team_manager")
    plan = default_action_plan()
    assert [a["id"] for a in manager["actions"]] == [
        a.id for a in plan.in_force("stp_team_manager", Level.OPEL_3)
    ]
    assert manager["actions"]


async def test_catalogues_metrics_and_health(stack: LocalStack, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{stack.url}/catalogues") as response:
        assert (await response.json()) == {"catalogues": shipped_catalogues()}
    async with http.get(f"{stack.url}/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        assert "# TYPE" in await response.text()
    async with http.get(f"{stack.url}/healthz") as response:
        assert response.status == 200
        assert (await response.json())["caught_up"] is True


async def test_unknown_route_and_method_are_problems(stack: LocalStack, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{stack.url}/nope") as response:
        assert response.status == 404
        assert response.content_type == "application/problem+json"
    async with http.put(f"{stack.url}/overrides") as response:
        assert response.status == 405
        assert "POST" in response.headers["Allow"]
        assert (await response.json())["status"] == 405


# --------------------------------------------------------------------------- auth


async def test_writes_need_a_token_and_the_right_role(stack: LocalStack, http: aiohttp.ClientSession) -> None:
    body = {
        "scope": "area/dgs",
        "level": 3,
        "reason": "test",
        "expires_at": (now() + dt.timedelta(hours=1)).isoformat(),
    }
    async with http.post(f"{stack.url}/overrides", json=body) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await response.json())["title"] == "Unauthorized"
    async with http.post(
        f"{stack.url}/overrides", json=body, headers=bearer("not-a-real-token-at-all")
    ) as response:
        assert response.status == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    async with http.post(f"{stack.url}/overrides", json=body, headers=bearer(DUTY_TOKEN)) as response:
        assert response.status == 403
        problem = await response.json()
    assert "escalation_group" in problem["detail"]
    async with http.post(f"{stack.url}/alerts/a-1/ack", headers=bearer(GROUP_TOKEN)) as response:
        assert response.status == 403
    async with http.post(f"{stack.url}/alerts/a-1/ack", headers=bearer(VIEWER_TOKEN)) as response:
        assert response.status == 403
    async with http.post(
        f"{stack.url}/overrides", json=body, headers={"Authorization": "Basic abc"}
    ) as response:
        assert response.status == 401


async def test_reads_can_require_a_token(make_stack: StackFactory, http: aiohttp.ClientSession) -> None:
    stack = await make_stack(reads_require_token=True)
    async with http.get(f"{stack.url}/status") as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="opel"'
    async with http.get(f"{stack.url}/events") as response:
        assert response.status == 401
    async with http.get(f"{stack.url}/status", headers=bearer(VIEWER_TOKEN)) as response:
        assert response.status == 200
    # The page and health carry no data and stay open.
    async with http.get(f"{stack.url}/") as response:
        assert response.status == 200
    async with http.get(f"{stack.url}/healthz") as response:
        assert response.status == 200


# --------------------------------------------------------------------------- commands


async def test_override_is_queued_as_a_valid_command(
    broker: EmbeddedBroker, stack: LocalStack, http: aiohttp.ClientSession
) -> None:
    expires = (now() + dt.timedelta(hours=6)).replace(microsecond=0)
    body = {
        "scope": "area/east_kent",
        "level": 4,
        "reason": "Norovirus in two teams",
        "expires_at": expires.isoformat(),
    }
    async with http.post(f"{stack.url}/overrides", json=body, headers=bearer(GROUP_TOKEN)) as response:
        assert response.status == 202
        command = await response.json()
    parsed = Override.model_validate(command)
    assert parsed.author == "escalation-group"
    assert parsed.scope == "area/east_kent"
    assert parsed.level == 4
    assert parsed.expires_at == expires
    [(key, queued)] = await read_commands(broker, stack.topics["commands"].name, 1)
    assert key == "area/east_kent"
    assert queued == command


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"level": 5}, "level"),
        ({"level": "3"}, "level"),
        ({"scope": "area/"}, "scope"),
        ({"reason": "   "}, "reason"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "2099-01-01T00:00:00"}, "expires_at"),
        ({"author": "someone-else"}, "author"),
        ({"expires_at": None}, "expires_at"),
    ],
)
async def test_bad_override_body_is_422_naming_the_field(
    stack: LocalStack, http: aiohttp.ClientSession, change: dict[str, Any], field: str
) -> None:
    body: dict[str, Any] = {
        "scope": "area/dgs",
        "level": 3,
        "reason": "test",
        "expires_at": (now() + dt.timedelta(hours=1)).isoformat(),
    }
    body.update(change)
    async with http.post(f"{stack.url}/overrides", json=body, headers=bearer(GROUP_TOKEN)) as response:
        assert response.status == 422
        problem = await response.json()
    assert problem["field"] == field
    assert problem["detail"].startswith(f"{field}:")
    assert problem["title"] == "Invalid request"


async def test_non_json_body_is_422(stack: LocalStack, http: aiohttp.ClientSession) -> None:
    for data in (b"not json", b"[1, 2]", b""):
        async with http.post(
            f"{stack.url}/overrides",
            data=data,
            headers={**bearer(GROUP_TOKEN), "Content-Type": "application/json"},
        ) as response:
            assert response.status == 422
            assert (await response.json())["field"] == "body"


async def test_withdraw_finds_the_scope_of_an_active_override(
    broker: EmbeddedBroker, stack: LocalStack, http: aiohttp.ClientSession
) -> None:
    at = now()
    declared = override(
        "area/swale", 3, at, expires_at=at + dt.timedelta(hours=2), id="ovr-test-1", reason="declared"
    )
    await publish_and_wait(stack, status_record("area/swale", 3, at=at, computed_level=1, override=declared))

    async with http.delete(f"{stack.url}/overrides/ovr-missing", headers=bearer(GROUP_TOKEN)) as response:
        assert response.status == 404
        assert "ovr-missing" in (await response.json())["detail"]
    async with http.delete(
        f"{stack.url}/overrides/ovr-test-1", params={"reason": "pressure eased"}, headers=bearer(GROUP_TOKEN)
    ) as response:
        assert response.status == 202
        command = await response.json()
    withdraw = Withdraw.model_validate(command)
    assert (withdraw.id, withdraw.scope, withdraw.reason) == ("ovr-test-1", "area/swale", "pressure eased")
    [(key, queued)] = await read_commands(broker, stack.topics["commands"].name, 1)
    assert (key, queued) == ("area/swale", command)

    async with http.get(f"{stack.url}/status") as response:
        listed = (await response.json())["overrides"]
    assert [(o["id"], o["scope"], o["computed_level"]) for o in listed] == [("ovr-test-1", "area/swale", 1)]


def delivery(*alert_ids: str, at: dt.datetime) -> AlertDelivery:
    """What alerting publishes on opel.alerts.v1 once it has told someone about ``alert_ids``."""
    return AlertDelivery(
        kind="firing",
        id=f"dlv-{alert_ids[0]}",
        notice_id=f"ntc-{alert_ids[0]}",
        alert_ids=alert_ids,
        role="stp_team_manager",
        route="area-operational",
        contact="tm",
        channel="log",
        state="sent",
        attempts=1,
        reason="sent",
        subject="OPEL 3 RED: Swale",
        text="Swale is OPEL 3 red",
        at=at,
    )


async def publish_alerts_and_wait(stack: LocalStack, *deliveries: AlertDelivery) -> None:
    await stack.publish_alerts(deliveries)
    ids = [alert_id for d in deliveries for alert_id in d.alert_ids]
    await until(lambda: all(stack.view.knows_alert(i) for i in ids), "the published alerts")


async def test_ack_is_queued_by_alert_id(
    broker: EmbeddedBroker, stack: LocalStack, http: aiohttp.ClientSession
) -> None:
    await publish_alerts_and_wait(stack, delivery("alert-42", "alert-43", "alert-44", at=now()))
    async with http.post(
        f"{stack.url}/alerts/alert-42/ack",
        json={"note": "called the STP manager"},
        headers=bearer(DUTY_TOKEN),
    ) as response:
        assert response.status == 202
        command = await response.json()
    ack = Acknowledge.model_validate(command)
    assert (ack.alert_id, ack.author, ack.note) == ("alert-42", "duty-manager", "called the STP manager")
    async with http.post(f"{stack.url}/alerts/alert-43/ack", headers=bearer(DUTY_TOKEN)) as response:
        assert response.status == 202  # the note is optional
    async with http.post(
        f"{stack.url}/alerts/alert-44/ack", json={"notes": "typo"}, headers=bearer(DUTY_TOKEN)
    ) as response:
        assert response.status == 422
        assert (await response.json())["field"] == "notes"
    queued = await read_commands(broker, stack.topics["commands"].name, 2)
    assert sorted(key or "" for key, _ in queued) == ["alert-42", "alert-43"]


async def test_ack_of_an_alert_alerting_never_sent_is_404(
    broker: EmbeddedBroker, stack: LocalStack, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{stack.url}/alerts/alert-never-sent/ack", headers=bearer(DUTY_TOKEN)) as response:
        assert response.status == 404
        assert "alert-never-sent" in (await response.json())["detail"]
    await publish_alerts_and_wait(stack, delivery("alert-sent-1", at=now()))
    async with http.post(f"{stack.url}/alerts/alert-sent-1/ack", headers=bearer(DUTY_TOKEN)) as response:
        assert response.status == 202
    [(key, queued)] = await read_commands(broker, stack.topics["commands"].name, 1)
    assert (key, queued["alert_id"]) == ("alert-sent-1", "alert-sent-1")


async def test_override_of_a_scope_no_catalogue_defines_is_422(
    stack: LocalStack, http: aiohttp.ClientSession
) -> None:
    body = {
        "scope": "area/atlantis",
        "level": 4,
        "reason": "test",
        "expires_at": (now() + dt.timedelta(hours=1)).isoformat(),
    }
    async with http.post(f"{stack.url}/overrides", json=body, headers=bearer(GROUP_TOKEN)) as response:
        assert response.status == 422
        problem = await response.json()
    assert problem["field"] == "scope"
    assert "area/atlantis" in problem["detail"]


async def test_command_that_cannot_be_queued_is_503(stack: LocalStack, http: aiohttp.ClientSession) -> None:
    await publish_alerts_and_wait(stack, delivery("alert-1", at=now()))
    await stack.sender.stop()  # the producer is gone, as when the broker is unreachable
    async with http.post(f"{stack.url}/alerts/alert-1/ack", headers=bearer(DUTY_TOKEN)) as response:
        assert response.status == 503
        assert (await response.json())["title"] == "Command not queued"


# --------------------------------------------------------------------------- live events


async def test_events_stream_status_changes(stack: LocalStack, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{stack.url}/events") as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"

        async def next_event() -> tuple[str, dict[str, Any]]:
            event = ""
            while True:
                line = (await response.content.readline()).decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[len("event: ") :]
                elif line.startswith("data: "):
                    return event, json.loads(line[len("data: ") :])

        kind, ready = await asyncio.wait_for(next_event(), DEADLINE)
        assert kind == "ready"
        assert ready["caught_up"] is True

        status = status_record("area/west_kent", 3, at=now())
        await stack.publish_status([status])
        kind, data = await asyncio.wait_for(next_event(), DEADLINE)
        assert (kind, data) == ("status", {"scope": "area/west_kent", "status": json.loads(status.to_json())})

        await stack.remove_status("area/west_kent")
        kind, data = await asyncio.wait_for(next_event(), DEADLINE)
        assert (kind, data) == ("status", {"scope": "area/west_kent", "status": None})


async def test_server_stop_ends_open_event_streams(stack: LocalStack, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{stack.url}/events") as response:
        await response.content.readline()
        started = asyncio.get_running_loop().time()
        await stack.server.stop()
        assert await asyncio.wait_for(response.content.read(), DEADLINE) is not None
        assert asyncio.get_running_loop().time() - started < 30


# --------------------------------------------------------------------------- the real topic


async def test_view_reads_the_real_status_topic_from_the_beginning(broker: EmbeddedBroker) -> None:
    """Records written before the view starts are there once it has caught up (default topics)."""
    scope = f"area/t{uuid.uuid4().hex[:12]}"
    value = status_record(scope, 2, at=now())
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(STATUS, value.to_json(), key=scope.encode())
    finally:
        await producer.stop()
    seen: list[dict[str, Any]] = []
    view = StatusView(broker.bootstrap, status_hook=seen.append)
    await view.start()
    try:
        await view.wait_caught_up(DEADLINE)
        assert view.status(scope) == value
        assert json.loads(value.to_json()) in seen
    finally:
        await view.stop()
