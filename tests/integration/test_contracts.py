"""Contract test on real output: every message a worker and the alerting service write over the
scripted winter day passes its published JSON Schema and every reader, with zero refusals.

A real broker, the worker with its web API, and the alerting service (real SMTP and webhook
receivers, its clock moved by the test so the 10:00 daily snapshot is written) run over
``streams.demo.winter_day`` plus an extra acute return, an override and its withdrawal, a
catalogue reload and a set of bad inputs (so every dead-letter reason the test sends shows up).
Every message on the five output topics is then checked

* against its published schema (docs/schemas/, ``jsonschema``, Draft 2020-12);
* with its contract model (``opel.contracts``), the models every reader validates with;
* by the alerting service as it ran (a status or escalation it refused is an error it logged,
  and every scope on the status topic must be among the statuses it holds);
* by the status board's state (``StatusState.apply_status`` / ``apply_audit``);
* by the API (``GET /status`` and ``GET /status/{scope}`` serve every scope, as the contract).

A refusal anywhere fails the test, listing the first few with their errors.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter, ValidationError

from opel.alerting.clock import next_daily
from opel.alerting.routing import build_routing
from opel.contracts.action_item import ActionItem
from opel.contracts.alert import ALERT_MESSAGE, AlertDelivery, DailySnapshot
from opel.contracts.audit import AuditRecord
from opel.contracts.deadletter import DeadLetter
from opel.contracts.escalation import EscalationEvent
from opel.contracts.status import STATUS
from opel.contracts.warning import WarningEvent
from opel.schemas import SCHEMA_DIR, TOPIC_SCHEMAS
from streams import topics
from streams.alerting.service import AlertingService
from streams.broker import EmbeddedBroker, free_port
from streams.codec import key_for
from streams.demo import winter_day
from streams.run_command import web_extra
from streams.status_view import StatusState
from streams.worker import Running, start, stop

from .service import PARTITIONS, fresh_broker, produce, wait_for, worker_settings

pytestmark = pytest.mark.slow

TRIGGERS = Path(__file__).resolve().parents[2] / "triggers"
OUTPUTS = (
    topics.STATUS,
    topics.ESCALATIONS,
    topics.ALERTS,
    topics.AUDIT,
    topics.DEADLETTER,
    topics.ACTION_ITEMS,
    topics.WARNINGS,
)
READERS: dict[str, TypeAdapter[Any]] = {
    topics.STATUS: STATUS,
    topics.ESCALATIONS: TypeAdapter(EscalationEvent),
    topics.ALERTS: ALERT_MESSAGE,
    topics.AUDIT: TypeAdapter(AuditRecord),
    topics.DEADLETTER: TypeAdapter(DeadLetter),
    topics.ACTION_ITEMS: TypeAdapter(ActionItem),
    topics.WARNINGS: TypeAdapter(WarningEvent),
}
SHOWN = 8
"""How many refusals the failure message lists in full."""


# --- real receivers ---------------------------------------------------------------------------


class Mailbox:
    def __init__(self) -> None:
        self.recipients: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.recipients.extend(envelope.rcpt_tos)
        return "250 OK"


@dataclass
class Webhook:
    """A local HTTP receiver that answers its first request 503, so a delivery is retried."""

    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 1

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503, text="try later")
        self.posts.append(body)
        return web.json_response({"ok": True})


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
    await web.TCPSite(runner, "127.0.0.1", port).start()
    hook.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield hook
    finally:
        await runner.cleanup()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = fresh_broker(tmp_path)
    yield broker
    broker.stop()


# --- the input ---------------------------------------------------------------------------------


Message = tuple[str, bytes | None, bytes]


def encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


def message(topic: str, value: dict[str, Any]) -> Message:
    return topic, key_for(topic, value), encode(value)


def day_input(start: datetime) -> list[Message]:
    """The scripted day, in its order, then an acute return with gaps, an override of one area and
    its withdrawal, and a catalogue reload."""
    out = [message(topic, value) for _, topic, value in winter_day(start)]
    at = start + timedelta(hours=17, minutes=30)
    now = datetime.now(UTC)
    out.append(
        message(
            topics.ACUTE,
            {
                "site": "darent_valley",
                "observed_at": at.isoformat(),
                "parameters": {"ed_4h_performance_pct": 58.0, "ga_bed_occupancy_pct": 98.5},
            },
        )
    )
    override = {
        "type": "override",
        "id": "contracts-dgs-ovr",
        "scope": "area/dgs",
        "level": 4,
        "author": "asch-escalation-group",
        "reason": "contract test: DGS declared OPEL 4 by hand",
        "at": at.isoformat(),
        "expires_at": (now + timedelta(days=1)).isoformat(),
    }
    withdraw = {
        "type": "withdraw",
        "id": "contracts-dgs-ovr",
        "scope": "area/dgs",
        "author": "asch-escalation-group",
        "reason": "contract test: pressure eased",
        "at": (at + timedelta(minutes=10)).isoformat(),
    }
    reload = {"type": "reload_catalogues", "author": "ops", "at": (at + timedelta(minutes=11)).isoformat()}
    out += [message(topics.COMMANDS, override), message(topics.COMMANDS, withdraw)]
    out.append(message(topics.COMMANDS, reload))
    return out


def bad_input(start: datetime) -> list[tuple[Message, str]]:
    """Records the worker must refuse, each with the dead-letter reason it must get."""
    at = (start + timedelta(hours=3)).isoformat()

    def reading(**fields: Any) -> bytes:
        return encode(
            {"indicator": "stp_staffing_pct", "area": "dgs", "value": 70, "observed_at": at, **fields}
        )

    return [
        ((topics.CAPACITY, b"dgs", b'{"indicator": "stp_staffing_pct", "area": '), "bad_json"),
        ((topics.CAPACITY, b"dgs", b"[1, 2, 3]"), "not_an_object"),
        ((topics.CAPACITY, b"dgs", reading(value=-3)), "invalid"),
        ((topics.CAPACITY, b"dgs", reading(indicator="beds_free")), "unknown_indicator"),
        ((topics.REFERRALS, b"medway", reading(indicator="health_caseload", area="medway")), "unknown_area"),
        (
            (
                topics.ACUTE,
                b"st_elsewhere",
                encode({"site": "st_elsewhere", "observed_at": at, "parameters": {}}),
            ),
            "unknown_site",
        ),
        ((topics.CAPACITY, b"dgs", b""), "empty"),
        ((topics.CAPACITY, b"\xff\xfedgs", b"\xff\xfe{}"), "bad_encoding"),
        ((topics.CAPACITY, b"dgs", b'{"pad": "' + "é".encode() * 300_000 + b'"}'), "too_large"),
        (
            (
                topics.REFERRAL_EVENTS,
                b"east_kent",
                encode({"event_id": "bad-1", "area": "east_kent", "kind": "accepted", "occurred_at": at}),
            ),
            "invalid",
        ),
        (
            (
                topics.COMMANDS,
                b"area/dgs",
                encode({"type": "override", "id": "bad-ovr", "scope": "area/dgs", "level": 7, "author": "x"}),
            ),
            "invalid",
        ),
    ]


def routing(path: Path, smtp_port: int, hook: str) -> dict[str, Any]:
    """A small routing file on the real receivers: e-mail for the area roles, the webhook for the
    duty line and the senior roles; every kind of scope is routed somewhere."""
    return {
        "defaults": {"group_wait": 1, "group_interval": 1, "repeat_interval": 3600, "hold": 2},
        "retry": {"initial": 0.5, "maximum": 2, "factor": 2, "jitter": 0.1, "attempts": 6},
        "channel_timeout": 5,
        "channels": {
            "mail": {"type": "email", "host": "127.0.0.1", "port": smtp_port, "sender": "${C_SENDER}"},
            "hook": {"type": "webhook", "url": "${C_HOOK}"},
            "log": {"type": "log"},
        },
        "roles": {
            "duty": {"contacts": [{"id": "duty", "name": "Duty line", "channel": "hook"}]},
            "stp_team_manager": {
                "contacts": [{"id": "tm", "name": "Team Manager", "channel": "mail", "address": "${C_TM}"}]
            },
            "senior_practitioner": {"contacts": [{"id": "scdc", "name": "SCDC", "channel": "hook"}]},
            "keah_locality_organisers": {
                "contacts": [{"id": "keah", "name": "KEaH", "channel": "mail", "address": "${C_KEAH}"}]
            },
            "pascc_ops_manager": {
                "contacts": [{"id": "ops", "name": "Ops Manager", "channel": "mail", "address": "${C_OPS}"}]
            },
        },
        "routes": [
            {
                "name": "area",
                "match": {"kinds": ["area"], "level_at_least": 2},
                "roles": ["stp_team_manager"],
            },
            {
                "name": "county",
                "match": {"kinds": ["county"], "level_at_least": 2},
                "roles": ["pascc_ops_manager"],
            },
            {
                "name": "indicator",
                "match": {"kinds": ["indicator"], "level_at_least": 3},
                "roles": ["senior_practitioner"],
            },
            {"name": "acute", "match": {"kinds": ["site", "system"], "level_at_least": 3}, "roles": ["duty"]},
        ],
    }


ENV = {
    "C_SENDER": "opel-alerts@kent.example",
    "C_TM": "tm@kent.example",
    "C_KEAH": "keah@kent.example",
    "C_OPS": "ops@kent.example",
}


class Clock:
    """Alerting's clock: moved by the test, never past ``limit`` until the test allows it."""

    def __init__(self, now: datetime, limit: datetime) -> None:
        self.now = now
        self.limit = limit

    def __call__(self) -> datetime:
        return self.now

    async def run(self, step: timedelta, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            self.now = min(self.now + step, self.limit)


# --- reading what was written ------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes | None

    def where(self) -> str:
        return f"{self.topic}@{self.partition}:{self.offset} key={self.key}"


async def read_raw(bootstrap: str, topic: str) -> list[Record]:
    """Every record in a topic, values as written (bytes), oldest first per partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Record] = []
        quiet = 0
        # Read on until the topic has been quiet for a moment (Tansu's end offsets can lag a batch).
        while quiet < 2 or any([await consumer.position(tp) < ends[tp] for tp in tps]):
            batch = await consumer.getmany(timeout_ms=300)
            quiet = 0 if batch else quiet + 1
            for records in batch.values():
                for r in records:
                    key = None if r.key is None else r.key.decode("utf-8", "replace")
                    out.append(Record(topic, r.partition, r.offset, key, r.value))
        return out
    finally:
        await consumer.stop()


async def read_outputs(bootstrap: str) -> dict[str, list[Record]]:
    found = await asyncio.gather(*(read_raw(bootstrap, topic) for topic in OUTPUTS))
    return dict(zip(OUTPUTS, found, strict=True))


def latest(records: list[Record]) -> dict[str, Record]:
    """The compacted view: the last value per key (a tombstone removes the key)."""
    out: dict[str, Record] = {}
    for record in records:
        if record.key is None:
            continue
        if record.value is None:
            out.pop(record.key, None)
        else:
            out[record.key] = record
    return out


async def soon(check: Callable[[], Awaitable[Any]], timeout: float, every: float = 0.5) -> bool:
    """Poll ``check`` until it is truthy; False (not an error) when it never is: what was not
    reached is reported with the refusals at the end."""
    try:
        await wait_for(check, timeout=timeout, every=every)
    except AssertionError:
        return False
    return True


# --- the checks --------------------------------------------------------------------------------


@dataclass
class Findings:
    refusals: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def refuse(self, reader: str, where: str, error: object) -> None:
        self.refusals.append(f"{reader} refused {where}: {error}")

    def report(self) -> str:
        lines = [f"{len(self.refusals)} refusals"]
        by_reader = Counter(line.split(" refused ", 1)[0] for line in self.refusals)
        lines += [f"  {reader}: {count}" for reader, count in by_reader.most_common()]
        lines += [f"- {line[:1500]}" for line in self.refusals[:SHOWN]]
        lines += [f"missing: {line}" for line in self.missing]
        return "\n".join(lines)


def validators() -> dict[str, Draft202012Validator]:
    out: dict[str, Draft202012Validator] = {}
    for topic in OUTPUTS:
        schema = json.loads((SCHEMA_DIR / TOPIC_SCHEMAS[topic]).read_text(encoding="utf-8"))
        out[topic] = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return out


def short(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)[:6]
    ) + (f" (+{exc.error_count() - 6} more)" if exc.error_count() > 6 else "")


def check_messages(outputs: dict[str, list[Record]], findings: Findings) -> dict[str, list[Any]]:
    """Schema, contract model and status-board state for every message; the models that passed."""
    schema = validators()
    board = StatusState()
    now = datetime.now(UTC)
    models: dict[str, list[Any]] = {topic: [] for topic in OUTPUTS}
    for topic, records in outputs.items():
        for record in records:
            if record.value is None:
                continue  # a tombstone on the compacted status topic
            try:
                body = json.loads(record.value)
            except ValueError as exc:
                findings.refuse("json", record.where(), exc)
                continue
            errors = sorted(schema[topic].iter_errors(body), key=lambda e: list(e.absolute_path))
            if errors:
                shown = "; ".join(
                    f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:4]
                )
                findings.refuse(f"schema {TOPIC_SCHEMAS[topic]}", record.where(), shown)
            try:
                model = READERS[topic].validate_json(record.value)
            except ValidationError as exc:
                findings.refuse(f"contract {topic}", record.where(), short(exc))
                continue
            models[topic].append(model)
            try:
                if topic == topics.STATUS:
                    assert record.key is not None
                    board.apply_status(record.key, model)
                    if board.status(record.key) is None:
                        findings.refuse("board state", record.where(), "apply_status kept nothing")
                elif topic == topics.AUDIT:
                    scope = board.apply_audit(model, now)
                    if model.scope and scope != model.scope:
                        findings.refuse("board history", record.where(), f"apply_audit returned {scope!r}")
            except Exception as exc:
                findings.refuse("board state", record.where(), f"{type(exc).__name__}: {exc}")
    return models


async def check_api(base: str, current: dict[str, Record], findings: Findings) -> None:
    """The API serves every scope's latest status, as the contract says it."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/status") as response:
            listing = await response.json()
        served = {s.get("scope") for s in listing.get("statuses", []) if isinstance(s, dict)}
        for scope in sorted(set(current) - served):
            findings.refuse("api GET /status", current[scope].where(), "scope not listed")
        for item in listing.get("statuses", []):
            try:
                STATUS.validate_python(item)
            except ValidationError as exc:
                findings.refuse("api GET /status", str(item.get("scope")), short(exc))
        for scope, record in sorted(current.items()):
            async with session.get(f"{base}/status/{scope}") as response:
                if response.status != 200:
                    findings.refuse("api GET /status/{scope}", record.where(), f"HTTP {response.status}")
                    continue
                body = await response.json()
            try:
                served_status = STATUS.validate_python(body)
                written = STATUS.validate_json(record.value or b"")
            except ValidationError as exc:
                findings.refuse("api GET /status/{scope}", record.where(), short(exc))
                continue
            if served_status != written:
                findings.refuse("api GET /status/{scope}", record.where(), "differs from the status written")


def expect(findings: Findings, what: str, seen: set[str], wanted: set[str]) -> None:
    if not wanted <= seen:
        findings.missing.append(f"{what}: none of {sorted(wanted - seen)} (saw {sorted(seen)})")


def check_kinds(models: dict[str, list[Any]], bad: list[tuple[Message, str]], findings: Findings) -> None:
    statuses = {m.kind for m in models[topics.STATUS]}
    expect(findings, "status kinds", statuses, {"indicator", "area", "county", "site", "system"})
    held = [m for m in models[topics.STATUS] if getattr(m, "override", None) is not None]
    if not held:
        findings.missing.append("a status with an override in force")
    events = models[topics.ESCALATIONS]
    expect(
        findings, "escalation types", {m.type.rsplit(".", 1)[1] for m in events}, {"initial", "escalation"}
    )
    expect(findings, "escalation scope kinds", {m.data.kind for m in events}, {"indicator", "area", "county"})
    expect(findings, "escalation causes", {m.data.cause for m in events}, {"observation", "override"})
    alerts = models[topics.ALERTS]
    expect(
        findings,
        "alert message kinds",
        {"daily_snapshot" if isinstance(m, DailySnapshot) else "delivery" for m in alerts},
        {"delivery", "daily_snapshot"},
    )
    deliveries = [m for m in alerts if isinstance(m, AlertDelivery)]
    expect(findings, "delivery kinds", {m.kind for m in deliveries}, {"firing", "duty"})
    expect(findings, "delivery states", {m.state for m in deliveries}, {"sent", "retrying"})
    expect(
        findings,
        "audit decisions",
        {m.decision for m in models[topics.AUDIT]},
        {
            "assessed",
            "transition",
            "override",
            "withdraw",
            "referral_counted",
            "catalogue_loaded",
            "catalogue_refused",
            "ack",
            "action_item",
        },
    )
    expect(findings, "action item states", {m.state for m in models[topics.ACTION_ITEMS]}, {"open"})
    expect(
        findings, "dead-letter reasons", {m.reason for m in models[topics.DEADLETTER]}, {r for _, r in bad}
    )


# --- the test ----------------------------------------------------------------------------------


async def test_every_message_written_passes_its_schema_and_every_reader(
    own_broker: EmbeddedBroker,
    tmp_path: Path,
    mailbox: tuple[Mailbox, int],
    webhook: Webhook,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    box, smtp_port = mailbox
    bootstrap = own_broker.bootstrap
    findings = Findings()
    real_now = datetime.now(UTC).replace(microsecond=0)
    start_of_day = (real_now - timedelta(hours=18)).replace(minute=0, second=0)
    daily = next_daily(real_now)
    clock = Clock(daily - timedelta(minutes=30), limit=daily - timedelta(minutes=1))

    config = build_routing(
        routing(tmp_path, smtp_port, webhook.url), "<contracts>", env={**ENV, "C_HOOK": webhook.url}
    )
    catalogues = tmp_path / "catalogues"
    catalogues.mkdir()
    settings = worker_settings(own_broker, tmp_path, web_port=0, catalogue_dir=catalogues)
    running: Running = await start(settings, (web_extra,))
    alerting = AlertingService(
        bootstrap=bootstrap,
        routing=config,
        clock=clock,
        group_id=f"contracts-{uuid.uuid4().hex[:8]}",
        tick_seconds=0.05,
        duties=True,
        not_before=clock.now,
    )
    await alerting.start()
    ticking = asyncio.create_task(clock.run(timedelta(seconds=2), 0.1))
    try:
        assert running.web_url is not None
        bad = bad_input(start_of_day)
        # A new version of the catalogue in force and a broken file: the reload command (or the
        # catalogue watcher) loads one and refuses the other, both audited.
        shipped = (TRIGGERS / "kcc-asch-2025-26.yaml").read_text(encoding="utf-8")
        assert '\nversion: "1.8"\n' in shipped
        newer = shipped.replace('\nversion: "1.8"\n', '\nversion: "1.8.1"\n', 1)
        (catalogues / "kcc-asch-2025-26-1.8.1.yaml").write_text(newer, encoding="utf-8")
        (catalogues / "broken.yaml").write_text("id: [unclosed\n", encoding="utf-8")
        await produce(bootstrap, day_input(start_of_day))
        await produce(bootstrap, [m for m, _ in bad])

        # The worker has done the day: the withdrawal is audited and every bad record dead-lettered.
        async def worker_done() -> bool:
            audit = await read_raw(bootstrap, topics.AUDIT)
            dead = await read_raw(bootstrap, topics.DEADLETTER)
            return b'"withdraw"' in b"".join(r.value or b"" for r in audit) and len(dead) >= len(bad)

        if not await soon(worker_done, timeout=40):
            findings.missing.append(
                "the worker did not audit the withdrawal and dead-letter every bad record"
            )

        # Alerting has read every status and told someone; an alert is acknowledged, a bad
        # routing file refused, and the 10:00 daily assessment runs.
        statuses = latest(await read_raw(bootstrap, topics.STATUS))

        async def alerting_caught_up() -> bool:
            return set(statuses) <= set(alerting.statuses) and bool(webhook.posts) and bool(box.recipients)

        await soon(alerting_caught_up, timeout=15)
        if alerting.state.alerts:
            alert_id = sorted(alerting.state.alerts.values(), key=lambda r: r.key)[0].alert_id
            ack = {"type": "ack", "alert_id": alert_id, "author": "duty-manager", "at": clock.now.isoformat()}
            await produce(bootstrap, [(topics.COMMANDS, alert_id.encode(), encode(ack))])
        bad_routing = tmp_path / "bad-routing.yaml"
        bad_routing.write_text(yaml.safe_dump({"routes": [{"name": "x", "roles": ["nobody"]}]}))
        await alerting.routing_reload(bad_routing)
        clock.limit = daily + timedelta(minutes=5)
        clock.now = daily + timedelta(seconds=5)

        async def snapshot_and_duty_sent() -> bool:
            alerts = [r.value or b"" for r in await read_raw(bootstrap, topics.ALERTS)]
            return any(b'"daily_snapshot"' in v for v in alerts) and any(
                b'"duty"' in v and b'"sent"' in v for v in alerts
            )

        await soon(snapshot_and_duty_sent, timeout=15)
        await asyncio.sleep(1.0)  # let the last deliveries' outcomes land

        outputs = await read_outputs(bootstrap)
        current = latest(outputs[topics.STATUS])

        # Readers: schema, contract, board state; then the API and alerting as they ran.
        models = check_messages(outputs, findings)

        async def api_has_all() -> bool:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{running.web_url}/status") as response,
            ):
                listed = {s.get("scope") for s in (await response.json()).get("statuses", [])}
            return set(current) <= listed

        await soon(api_has_all, timeout=10)
        await check_api(running.web_url, current, findings)
        for scope in sorted(set(current) - set(alerting.statuses)):
            findings.refuse(
                "alerting status reader", current[scope].where(), "not among the statuses it holds"
            )
        for record in caplog.records:
            if record.levelno >= logging.ERROR and record.name.startswith("streams.alerting"):
                text = record.getMessage()
                if ("refused" in text and "routing reload refused" not in text) or "failed to handle" in text:
                    findings.refuse("alerting (log)", record.name, text[:600])
        check_kinds(models, bad, findings)
    finally:
        ticking.cancel()
        await asyncio.gather(ticking, return_exceptions=True)
        await alerting.stop()
        await stop(running)

    counts = {topic: len(records) for topic, records in outputs.items()}
    assert all(counts.values()), f"a topic got no messages: {counts}"
    problems = findings.refusals + findings.missing
    assert not problems, f"messages per topic {counts}\n{findings.report()}"
