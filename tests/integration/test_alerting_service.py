"""The alerting service end to end: real broker, real SMTP server, real HTTP webhook receiver.

Time that the pipeline reasons about (group wait, repeats, escalation delays, holds) comes
from an injected clock the test moves; Kafka and the sockets run in real time, so every
check is a polling wait with a generous deadline. Each test uses its own areas and consumer
group, because the session broker's topics are shared with every other test.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from test_alerting_fixtures import escalation, stp_actions

from opel.alerting.clock import LONDON, next_daily
from opel.alerting.events import ack_command, keah_told_command
from opel.alerting.records import KeahRecord
from opel.alerting.routing import RoutingConfig, build_routing
from opel.contracts.alert import ALERT_MESSAGE, AlertDelivery, DailySnapshot
from opel.contracts.audit import AuditRecord
from opel.contracts.status import AreaStatus, IndicatorStatus
from streams.alerting.service import AlertingService, AlertingTopics
from streams.broker import EmbeddedBroker, free_port
from streams.compacted import topic_partitions
from streams.metrics import REGISTRY
from streams.topics import ALERTS, AUDIT, COMMANDS, ESCALATIONS, REFERRAL_EVENTS, TopicSpec

DEADLINE = 60.0
T0 = datetime(2025, 11, 12, 9, 30, tzinfo=UTC)
S = timedelta(seconds=1)


# --- real receivers ----------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        message = message_from_bytes(content)
        message["X-Rcpt"] = ",".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["X-Rcpt"] == address]


@dataclass
class Webhook:
    """A local HTTP receiver; ``fail_next`` answers that many requests with 503 first; ``delay``
    holds each answer that long after the post is taken (a slow receiver)."""

    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0
    failures: int = 0
    delay: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.fail_next > 0:
            self.fail_next -= 1
            self.failures += 1
            return web.Response(status=503, text="try later")
        self.posts.append(body)
        await asyncio.sleep(self.delay)
        return web.json_response({"ok": True})

    def subjects(self) -> list[str]:
        return [str(p["text"]).split("\n", 1)[0].strip("*") for p in self.posts]


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    hook.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield hook
    finally:
        await runner.cleanup()


@pytest.fixture
async def producer(broker: EmbeddedBroker) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


# --- helpers -----------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


async def wait_for(check: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not check():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def advance_until(clock: Clock, check: Callable[[], bool], steps: int = 20) -> None:
    """Move the clock a second at a time, with real time between, until ``check`` holds (retry
    backoff and group waits run on the clock, sends in real time)."""
    for _ in range(steps):
        if check():
            return
        clock.advance(1 * S)
        await asyncio.sleep(0.3)


async def settle(service: AlertingService, seconds: float = 1.5) -> None:
    """Give the service real time to act on the current clock (used before asserting nothing happens)."""
    await service.tick()
    await asyncio.sleep(seconds)
    await service.tick()


async def send(producer: AIOKafkaProducer, topic: str, key: str, value: dict[str, Any]) -> None:
    await producer.send_and_wait(topic, key=key.encode(), value=json.dumps(value).encode())


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def kent_like(area: str, smtp_port: int, hook: str, **overrides: Any) -> dict[str, Any]:
    """A small routing file for one test area: email to the Team Manager, webhook to the SCDC."""
    data: dict[str, Any] = {
        "defaults": {"group_wait": 1, "group_interval": 1, "repeat_interval": 600, "hold": 30},
        "retry": {"initial": 0.2, "maximum": 1, "factor": 2, "jitter": 0.1, "attempts": 6},
        "channel_timeout": 5,
        "channels": {
            "mail": {
                "type": "email",
                "host": "127.0.0.1",
                "port": "${TEST_SMTP_PORT}",
                "sender": "${TEST_SENDER}",
            },
            "hook": {"type": "webhook", "url": "${TEST_HOOK_URL}"},
            "log": {"type": "log"},
        },
        "roles": {
            "duty": {"contacts": [{"id": "duty", "name": "Duty", "channel": "log"}]},
            "stp_team_manager": {
                "contacts": [
                    {
                        "id": "tm",
                        "name": "Team Manager",
                        "channel": "mail",
                        "address": "${TEST_TM}",
                        "areas": [area],
                    },
                    {
                        "id": "tm-other",
                        "name": "Other TM",
                        "channel": "mail",
                        "address": "${TEST_OTHER}",
                        "areas": ["dgs"],
                    },
                ]
            },
            "senior_practitioner": {"contacts": [{"id": "scdc", "name": "SCDC", "channel": "hook"}]},
            "inhouse_registered_managers": {
                "contacts": [
                    {"id": "inhouse", "name": "In-house", "channel": "mail", "address": "${TEST_INHOUSE}"}
                ]
            },
            "pascc_ops_manager": {
                "contacts": [
                    {"id": "ops", "name": "Ops Manager", "channel": "mail", "address": "${TEST_OPS}"}
                ]
            },
        },
        "escalation_policies": {
            "opel34": {"min_level": 3, "levels": [{"roles": ["pascc_ops_manager"], "delay": 120}]},
        },
        "routes": [
            {
                "name": "area",
                "match": {"kinds": ["area", "indicator"], "areas": [area], "level_at_least": 2},
                "roles": ["stp_team_manager", "senior_practitioner"],
                "escalation_policy": "opel34",
            },
            {
                "name": "inhouse",
                "match": {"kinds": ["area"], "areas": [area], "level_at_least": 3},
                "roles": ["inhouse_registered_managers"],
            },
            {"name": "drill", "match": {"areas": [area], "exercise": True}, "roles": ["duty"]},
        ],
    }
    data.update(overrides)
    return data


ENV_BASE = {
    "TEST_SENDER": "opel-alerts@kent.example",
    "TEST_TM": "tm@kent.example",
    "TEST_OTHER": "other@kent.example",
    "TEST_INHOUSE": "inhouse@kent.example",
    "TEST_OPS": "ops@kent.example",
}


def config_for(area: str, smtp_port: int, hook: str, **overrides: Any) -> RoutingConfig:
    env = {**ENV_BASE, "TEST_SMTP_PORT": str(smtp_port), "TEST_HOOK_URL": hook}
    return build_routing(kent_like(area, smtp_port, hook, **overrides), "<test>", env=env)


Factory = Callable[..., Awaitable[AlertingService]]


@pytest.fixture
async def services(broker: EmbeddedBroker) -> AsyncIterator[Factory]:
    started: list[AlertingService] = []

    async def make(config: RoutingConfig, clock: Clock, group_id: str, **kwargs: Any) -> AlertingService:
        service = AlertingService(
            bootstrap=broker.bootstrap,
            routing=config,
            clock=clock,
            group_id=group_id,
            tick_seconds=0.05,
            duties=kwargs.pop("duties", False),
            **kwargs,
        )
        await service.start()
        started.append(service)
        return service

    yield make
    for service in started:
        await service.stop()


# --- tests -------------------------------------------------------------------------------------


async def test_routing_per_role_area_level_and_grouping(
    services: Factory, producer: AIOKafkaProducer, mailbox: tuple[Mailbox, int], webhook: Webhook
) -> None:
    box, port = mailbox
    area = unique("ra")
    clock = Clock(T0)
    service = await services(config_for(area, port, webhook.url), clock, unique("g-"))

    # Two indicators of one area inside group_wait: one message per role.
    await send(
        producer, ESCALATIONS, f"indicator/referrals/{area}", escalation(f"indicator/referrals/{area}", 1, 2)
    )
    await send(
        producer,
        ESCALATIONS,
        f"indicator/social_caseload/{area}",
        escalation(f"indicator/social_caseload/{area}", 1, 2),
    )
    await wait_for(lambda: len(service.state.alerts) == 4, "four open alerts (2 indicators x 2 roles)")
    clock.advance(2 * S)
    await wait_for(
        lambda: len(box.to("tm@kent.example")) == 1 and len(webhook.posts) == 1, "one grouped message each"
    )
    assert box.to("tm@kent.example")[0]["Subject"].startswith("OPEL 2 AMBER: 2 changes in")
    assert box.to("other@kent.example") == []  # the other area's Team Manager is not told
    assert box.to("inhouse@kent.example") == []  # in-house only from OPEL 3

    # The area itself at OPEL 3: Team Manager, SCDC and now In-house too.
    clock.advance(10 * S)
    await send(
        producer,
        ESCALATIONS,
        f"area/{area}",
        escalation(f"area/{area}", 2, 3, clock.now, actions=stp_actions()),
    )
    await wait_for(
        lambda: any(r.scope == f"area/{area}" for r in service.state.alerts.values()), "area alert"
    )
    clock.advance(2 * S)
    await wait_for(lambda: len(box.to("inhouse@kent.example")) == 1, "in-house told at OPEL 3")
    await wait_for(lambda: len(box.to("tm@kent.example")) == 2, "Team Manager told at OPEL 3")
    tm_mail = box.to("tm@kent.example")[1]
    assert tm_mail["Subject"] == f"OPEL 3 RED: {area}"
    assert tm_mail["X-OPEL-Delivery-Id"]
    body = tm_mail.get_payload()
    assert isinstance(body, str)
    assert "Make sure SHREWD is updated by 10:30" in body
    await wait_for(lambda: len(webhook.posts) == 2, "SCDC webhook at OPEL 3")
    assert webhook.posts[1]["opel"]["alert_ids"]

    # Exercise traffic reaches only the exercise route.
    await send(
        producer, ESCALATIONS, f"area/{area}", escalation(f"area/{area}", 3, 4, clock.now, exercise=True)
    )
    await wait_for(lambda: any(r.route == "drill" for r in service.state.alerts.values()), "drill alert")
    clock.advance(2 * S)
    await settle(service)
    assert len(box.to("tm@kent.example")) == 2
    assert len(webhook.posts) == 2


async def test_repeat_interval_exact_and_ack_stops_repeats(
    services: Factory, producer: AIOKafkaProducer, mailbox: tuple[Mailbox, int], webhook: Webhook
) -> None:
    box, port = mailbox
    area = unique("rp")
    clock = Clock(T0)
    service = await services(config_for(area, port, webhook.url), clock, unique("g-"))
    await send(producer, ESCALATIONS, f"area/{area}", escalation(f"area/{area}", 1, 2))
    await wait_for(lambda: len(service.state.alerts) == 2, "open alerts")
    clock.advance(1 * S)
    await wait_for(lambda: len(box.to("tm@kent.example")) == 1, "first message")
    sent_at = next(r.notified_at for r in service.state.alerts.values() if r.role == "stp_team_manager")
    assert sent_at == T0 + 1 * S

    clock.now = T0 + 1 * S + 599 * S
    await settle(service)
    assert len(box.to("tm@kent.example")) == 1  # 1 s early: nothing
    clock.now = T0 + 1 * S + 600 * S
    await wait_for(lambda: len(box.to("tm@kent.example")) == 2, "repeat at exactly repeat_interval")
    assert box.to("tm@kent.example")[1]["Subject"].startswith("REMINDER OPEL 2 AMBER")
    await settle(service)
    assert len(box.to("tm@kent.example")) == 2  # once, not on every tick

    alert = next(r.alert_id for r in service.state.alerts.values() if r.role == "stp_team_manager")
    ack = ack_command({"alert_id": alert, "author": "tm.dgs"}, clock.now)
    await send(producer, COMMANDS, alert, ack.model_dump(mode="json", exclude_none=True))
    await wait_for(lambda: all(r.acked_by == "tm.dgs" for r in service.state.alerts.values()), "ack applied")
    clock.now = T0 + 1 * S + 1800 * S
    await settle(service)
    assert len(box.to("tm@kent.example")) == 2  # acknowledged: no more repeats


async def test_unacknowledged_opel_3_escalates_to_the_next_role(
    services: Factory, producer: AIOKafkaProducer, mailbox: tuple[Mailbox, int], webhook: Webhook
) -> None:
    box, port = mailbox
    area = unique("es")
    clock = Clock(T0)
    service = await services(config_for(area, port, webhook.url), clock, unique("g-"))
    await send(producer, ESCALATIONS, f"area/{area}", escalation(f"area/{area}", 2, 3))
    await wait_for(lambda: len(service.state.alerts) == 3, "open alerts")
    clock.advance(1 * S)
    await wait_for(lambda: len(box.to("tm@kent.example")) == 1, "first message")
    clock.advance(119 * S)
    await settle(service)
    assert box.to("ops@kent.example") == []
    clock.advance(1 * S)
    await wait_for(lambda: len(box.to("ops@kent.example")) == 1, "operations manager told after 120 s")
    assert box.to("ops@kent.example")[0]["Subject"] == f"UNACKNOWLEDGED OPEL 3 RED: {area}"


async def test_retry_dedup_and_resolved_notice_across_restarts(
    services: Factory, producer: AIOKafkaProducer, mailbox: tuple[Mailbox, int], webhook: Webhook
) -> None:
    box, port = mailbox
    area = unique("rs")
    group = unique("g-")
    clock = Clock(T0)
    config = config_for(area, port, webhook.url)
    webhook.fail_next = 2
    first = await services(config, clock, group)
    await send(producer, ESCALATIONS, f"area/{area}", escalation(f"area/{area}", 2, 3))
    await wait_for(lambda: len(first.state.alerts) == 3, "open alerts")
    clock.advance(1 * S)
    # Two 503s, then success: the outbox retries with backoff (real seconds, as the clock moves).
    await advance_until(clock, lambda: bool(webhook.posts))
    await wait_for(lambda: len(webhook.posts) == 1, "webhook delivered after retries")
    assert webhook.failures == 2
    hook_delivery = next(d for d in first.state.outbox.values() if d.channel == "hook")
    await wait_for(lambda: first.state.outbox[hook_delivery.delivery_id].state == "sent", "sent recorded")
    assert first.state.outbox[hook_delivery.delivery_id].attempts == 3
    await wait_for(lambda: len(box.to("tm@kent.example")) == 1, "email sent")
    await first.stop()

    # Restart: the log says everything was sent; nothing goes out twice.
    second = await services(config, clock, group)
    assert len(second.state.outbox) == len(first.state.outbox)
    await settle(second, 2.0)
    assert len(webhook.posts) == 1
    assert len(box.to("tm@kent.example")) == 1
    await second.stop()

    # The area steps down while nothing runs; the next instance sends the resolved notice.
    await send(
        producer, ESCALATIONS, f"area/{area}", escalation(f"area/{area}", 3, 1, T0 + 60 * S, cause="dwell")
    )
    third = await services(config, clock, group)
    await wait_for(
        lambda: all(r.status == "resolved" for r in third.state.alerts.values()), "resolve recorded"
    )
    clock.advance(31 * S)  # past the flap hold
    await wait_for(lambda: len(box.to("inhouse@kent.example")) == 2, "in-house resolved notice")
    await wait_for(lambda: len(webhook.posts) == 2, "SCDC resolved notice")
    await wait_for(lambda: len(box.to("tm@kent.example")) == 2, "Team Manager resolved notice")
    resolved = box.to("tm@kent.example")
    assert resolved[1]["Subject"] == f"RESOLVED {area}: now OPEL 1 green"
    assert webhook.subjects()[1].startswith("RESOLVED")

    # Resolved and told: the alerts are closed, so deleted (tombstones on the log). The next
    # instance reads none of them back, and still every delivery, so nothing is sent again.
    await wait_for(lambda: not third.state.alerts, "closed alerts deleted")
    await third.stop()
    fourth = await services(config, clock, group)
    assert fourth.state.alerts == {}
    assert fourth.state.outbox == third.state.outbox
    await settle(fourth, 1.0)
    assert (len(box.to("tm@kent.example")), len(webhook.posts)) == (2, 2)


async def test_stop_lets_a_send_in_flight_finish_and_be_recorded(
    services: Factory, producer: AIOKafkaProducer, mailbox: tuple[Mailbox, int], webhook: Webhook
) -> None:
    """A stop while the receiver holds its answer: the send finishes and is recorded as sent, so
    the next instance sends nothing again (cancelling it left it pending: a repeat per deploy)."""
    box, port = mailbox
    area = unique("sf")
    group = unique("g-")
    clock = Clock(T0)
    config = config_for(area, port, webhook.url)
    webhook.delay = 2.0
    first = await services(config, clock, group)
    await send(producer, ESCALATIONS, f"area/{area}", escalation(f"area/{area}", 2, 3))
    await wait_for(lambda: len(first.state.alerts) == 3, "open alerts")
    await advance_until(clock, lambda: bool(webhook.posts))
    await wait_for(lambda: len(webhook.posts) == 1, "webhook post taken, answer held")
    await first.stop()
    hook = next(d for d in first.state.outbox.values() if d.channel == "hook")
    assert (hook.state, hook.attempts) == ("sent", 1)

    webhook.delay = 0.0
    second = await services(config, clock, group)
    assert second.state.outbox[hook.delivery_id].state == "sent"
    await settle(second, 1.5)
    assert len(webhook.posts) == 1
    await wait_for(lambda: len(box.to("tm@kent.example")) == 1, "email sent once")


async def test_keah_referral_and_refused_reload(  # noqa: PLR0917  (pytest fixtures)
    services: Factory,
    producer: AIOKafkaProducer,
    mailbox: tuple[Mailbox, int],
    webhook: Webhook,
    broker: EmbeddedBroker,
    tmp_path: Path,
) -> None:
    box, port = mailbox
    area = unique("kh")
    clock = Clock(T0)
    overrides = {
        "roles": {
            **kent_like(area, port, webhook.url)["roles"],
            "keah_locality_organisers": {
                "contacts": [
                    {
                        "id": "keah",
                        "name": "KEaH",
                        "channel": "mail",
                        "address": "${TEST_KEAH}",
                        "areas": [area],
                    }
                ]
            },
        }
    }
    env = {
        **ENV_BASE,
        "TEST_SMTP_PORT": str(port),
        "TEST_HOOK_URL": webhook.url,
        "TEST_KEAH": "keah@kent.example",
    }
    config = build_routing(kent_like(area, port, webhook.url, **overrides), "<test>", env=env)
    service = await services(config, clock, unique("g-"))
    event_id = unique("ev-")
    referral: dict[str, Any] = {
        "event_id": event_id,
        "area": area,
        "kind": "received",
        "occurred_at": T0.isoformat(),
        "service": "keah",
        "ref": "KEAH-20251112-0042",
        "start_date_within_24h": False,
    }
    await send(producer, REFERRAL_EVENTS, area, referral)
    await send(producer, REFERRAL_EVENTS, area, referral)  # a replay counts once
    await wait_for(lambda: len(box.to("keah@kent.example")) == 1, "KEaH tell-the-referrer alert")
    assert (
        box.to("keah@kent.example")[0]["Subject"]
        == "KEaH: tell the referrer KEAH-20251112-0042 by 11:30 Wed 12 Nov"
    )

    def record() -> KeahRecord | None:
        return service.state.keah.get(event_id)

    await wait_for(
        lambda: (r := record()) is not None and r.alerted_at is not None, "opel's message recorded"
    )
    # opel's own message leaving is not the referrer being told: still open, never "met".
    assert service.keah_figures() == (0, 0, 1)
    # The KEaH organiser confirms on the board or the API: that is what stops the clock.
    told = keah_told_command({"event_id": event_id, "author": "keah-lo"}, T0 + 40 * 60 * S)
    await send(producer, COMMANDS, event_id, told.model_dump(mode="json", exclude_none=True))
    await wait_for(lambda: service.keah_figures() == (1, 0, 0), "2-hour rule met on the organiser's word")
    confirmed = record()
    assert confirmed is not None
    assert (confirmed.told_at, confirmed.told_by) == (T0 + 40 * 60 * S, "keah-lo")
    await settle(service, 1.0)
    assert len(box.to("keah@kent.example")) == 1

    bad = tmp_path / "routing.yaml"
    bad.write_text(yaml.safe_dump({"routes": [{"name": "x", "roles": ["nobody"]}]}))
    assert await service.routing_reload(bad) is False
    assert service.routing is config
    assert any("routing reload refused" in d for d in service.decisions)
    refused = AuditRecord.model_validate_json(await wait_for_message(broker, AUDIT, str(bad)))
    assert (refused.decision, refused.input, refused.author) == (
        "routing_refused",
        {"file": str(bad)},
        "alerting",
    )
    assert refused.outcome == {"result": "running routing config kept"}
    audit = AuditRecord.model_validate_json(await wait_for_message(broker, AUDIT, event_id))
    assert (audit.decision, audit.rule, audit.author) == ("ack", "keah_referrer_told", "keah-lo")
    assert audit.outcome == {
        "result": "referrer told, confirmed by keah-lo within the 2 hours",
        "recorded": True,
    }

    # What alerting wrote on opel.alerts.v1 about the KEaH delivery is a contract message.
    notice = next(d for d in service.state.outbox.values() if d.contact == "keah")
    sent = ALERT_MESSAGE.validate_json(await wait_for_message(broker, ALERTS, notice.alert_ids[0]))
    assert isinstance(sent, AlertDelivery)
    assert (sent.id, sent.kind, sent.state, sent.route) == (notice.delivery_id, "duty", "sent", "clock:keah")


async def wait_for_message(broker: EmbeddedBroker, topic: str, key: str) -> bytes:
    """The first value under ``key`` on ``topic`` (read from the start), within the deadline."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        assert tps, f"no topic {topic} on the broker"
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        loop = asyncio.get_running_loop()
        end = loop.time() + DEADLINE
        while loop.time() < end:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                for message in messages:
                    value: bytes | None = message.value
                    if message.key == key.encode() and value is not None:
                        return value
        raise AssertionError(f"no message keyed {key} on {topic}")
    finally:
        await consumer.stop()


def refused_statuses() -> float:
    return REGISTRY.get_sample_value("opel_alerting_refused_total", {"input": "status"}) or 0.0


async def test_daily_assessment_runs_once_across_a_restart(
    services: Factory,
    producer: AIOKafkaProducer,
    mailbox: tuple[Mailbox, int],
    webhook: Webhook,
    broker: EmbeddedBroker,
) -> None:
    box, port = mailbox
    area = unique("dy")
    status_topic = unique("test.status.")
    await broker.acreate_topics(
        [TopicSpec(status_topic, 4, True, "out", "private status topic for one test")]
    )
    names = AlertingTopics(status=status_topic)
    roles = kent_like(area, port, webhook.url)["roles"]
    roles["duty"] = {
        "contacts": [{"id": "duty-mail", "name": "Duty", "channel": "mail", "address": "${TEST_DUTY}"}]
    }
    env = {
        **ENV_BASE,
        "TEST_SMTP_PORT": str(port),
        "TEST_HOOK_URL": webhook.url,
        "TEST_DUTY": "duty@kent.example",
    }
    config = build_routing(
        kent_like(area, port, webhook.url, roles=roles, clock={"areas": [area], "stale_after": "30d"}),
        "<test>",
        env=env,
    )
    # 2026-03-29 is the spring-forward Sunday: 10:00 London is 09:00 UTC.
    clock = Clock(datetime(2026, 3, 29, 8, 59, tzinfo=UTC))
    status = AreaStatus(
        scope=f"area/{area}",
        kind="area",
        area=area,
        level=2,
        colour="amber",
        computed_level=2,
        computed_colour="amber",
        state_level=2,
        since=clock.now - timedelta(hours=3),
        updated_at=clock.now - timedelta(hours=3),
    )
    refused_before = refused_statuses()
    # The old writer's shape (every kind's scope parts) is refused: logged and counted, not read.
    old_shape = {
        **json.loads(status.to_json()),
        "scope": f"area/{area}x",
        "area": f"{area}x",
        "indicator": None,
    }
    await send(producer, status_topic, f"area/{area}x", old_shape)
    await producer.send_and_wait(status_topic, key=status.scope.encode(), value=status.to_json())
    group = unique("g-")
    first = await services(config, clock, group, duties=True, not_before=clock.now, topic_names=names)
    await wait_for(lambda: f"area/{area}" in first.statuses, "status read")
    await wait_for(lambda: refused_statuses() >= refused_before + 1, "refused status counted")
    assert f"area/{area}x" not in first.statuses
    await settle(first)
    assert box.to("duty@kent.example") == []
    clock.now = datetime(2026, 3, 29, 9, 0, 5, tzinfo=UTC)
    await wait_for(lambda: len(box.to("duty@kent.example")) == 1, "10:00 BST daily summary")
    assert box.to("duty@kent.example")[0]["Subject"] == "OPEL daily assessment Sun 29 Mar"
    await first.stop()
    snapshot = ALERT_MESSAGE.validate_json(await wait_for_message(broker, ALERTS, "snapshot/2026-03-29"))
    assert isinstance(snapshot, DailySnapshot)
    assert status in snapshot.statuses  # the status exactly as read, typed

    second = await services(config, clock, group, duties=True, topic_names=names)
    await wait_for(lambda: f"area/{area}" in second.statuses, "status read again")
    await settle(second)
    assert len(box.to("duty@kent.example")) == 1  # recorded run: not doubled after the restart
    clock.now = datetime(2026, 3, 30, 9, 0, 1, tzinfo=UTC)
    await wait_for(lambda: len(box.to("duty@kent.example")) == 2, "next day's summary")


def indicator_status(area: str, indicator: str, observed_at: datetime) -> IndicatorStatus:
    return IndicatorStatus(
        scope=f"indicator/{indicator}/{area}",
        kind="indicator",
        area=area,
        indicator=indicator,
        level=2,
        colour="amber",
        computed_level=2,
        computed_colour="amber",
        state_level=2,
        observed_at=observed_at,
        updated_at=observed_at,
        value=3,
    )


@pytest.mark.parametrize(
    ("deadline", "last_reading"),
    [
        (datetime(2026, 1, 13, 10, 0, tzinfo=UTC), "10:15 Mon 12 Jan"),  # a Tuesday, GMT
        (datetime(2026, 7, 14, 9, 0, tzinfo=UTC), "10:15 Mon 13 Jul"),  # a Tuesday, BST
    ],
    ids=["GMT", "BST"],
)
async def test_the_10_00_submission_nudge_reaches_the_owner_in_both_dst_periods(  # noqa: PLR0917
    deadline: datetime,
    last_reading: str,
    services: Factory,
    producer: AIOKafkaProducer,
    mailbox: tuple[Mailbox, int],
    webhook: Webhook,
    broker: EmbeddedBroker,
) -> None:
    """A Tuesday at 10:00 London (10:00Z in January, 09:00Z in July): the Senior Practitioners (webhook) are
    reminded of the referrals reading not entered today; the Team Manager, whose staffing reading
    came at 08:30, is not; the duty summary lists the missing one with its owner."""
    box, port = mailbox
    area = unique("sub")
    status_topic = unique("test.status.")
    await broker.acreate_topics(
        [TopicSpec(status_topic, 4, True, "out", "private status topic for one test")]
    )
    roles = kent_like(area, port, webhook.url)["roles"]
    roles["duty"] = {
        "contacts": [{"id": "duty-mail", "name": "Duty", "channel": "mail", "address": "${TEST_DUTY}"}]
    }
    env = {
        **ENV_BASE,
        "TEST_SMTP_PORT": str(port),
        "TEST_HOOK_URL": webhook.url,
        "TEST_DUTY": "duty@kent.example",
    }
    clock_settings = {
        "areas": [area],
        "stale_after": "30d",
        "indicator_owners": {"referrals": "senior_practitioner", "stp_staffing_pct": "stp_team_manager"},
        "board_url": "https://opel.kent.example",
    }
    config = build_routing(
        kent_like(area, port, webhook.url, roles=roles, clock=clock_settings), "<test>", env=env
    )
    clock = Clock(deadline - timedelta(minutes=1))  # 09:59 London
    for status in (
        indicator_status(area, "referrals", deadline - timedelta(hours=23, minutes=45)),  # yesterday
        indicator_status(area, "stp_staffing_pct", deadline - timedelta(hours=1, minutes=30)),  # 08:30 today
    ):
        await producer.send_and_wait(status_topic, key=status.scope.encode(), value=status.to_json())
    service = await services(
        config,
        clock,
        unique("g-"),
        duties=True,
        not_before=clock.now,
        topic_names=AlertingTopics(status=status_topic),
    )
    # The job is registered on the plan's wall clock: its next run is 10:00 London time.
    assert service._plan_clock is not None
    expected = next_daily(datetime.now(UTC), time(10, 0), LONDON).astimezone(LONDON)
    assert service._plan_clock.next_runs()["submissions"] == str(expected)
    await wait_for(lambda: f"indicator/referrals/{area}" in service.statuses, "statuses read")
    await wait_for(lambda: f"indicator/stp_staffing_pct/{area}" in service.statuses, "statuses read")
    await settle(service)
    assert webhook.posts == []  # 09:59 London: not yet
    clock.now = deadline + timedelta(seconds=5)
    await wait_for(lambda: len(webhook.posts) == 1, "the 10:00 nudge to the Senior Practitioners")
    await wait_for(lambda: len(box.to("duty@kent.example")) == 1, "the 10:00 daily summary")
    await settle(service)
    assert webhook.subjects() == [f"Readings due by 10:00: {area}"]
    text = str(webhook.posts[0]["text"])
    assert "https://opel.kent.example/submit" in text
    assert f"- Referrals pending assessment outcome (last reading {last_reading})" in text
    assert box.to("tm@kent.example") == []  # staffing was entered today
    summary = box.to("duty@kent.example")[0]
    body = summary.get_payload(decode=True)
    assert isinstance(body, bytes)
    owner = "Senior Practitioner / Social Care Discharge Co-ordinator"
    assert f"- {area}: Referrals pending assessment outcome (owner: {owner})." in body.decode()
    assert any("submissions" in d and "1 deliveries" in d for d in service.decisions)
