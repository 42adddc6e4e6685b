"""Partners without Kafka, end to end: a real worker's escalations to real webhooks, across restarts.

A real broker of its own, the worker with its web API and the partner delivery it starts
(``streams.run_command.partners_extra``, as ``opel run`` does with ``OPEL_PARTNERS_FILE``), and a
real aiohttp receiver on 127.0.0.1 that verifies every request with ``standardwebhooks`` (an
implementation that is not opel's) and answers 401 to any it cannot verify. Two partners: one in
structured mode for areas and the county whose endpoint answers 503 now and then (so it gets
retries), one in binary mode for indicators at OPEL 3 and above.

Readings go in in two rounds with the worker (and so the delivery) stopped in between; the
second round's escalations are written after the restart. Then, with the worker stopped again,
the first partner's committed offsets are set back to the start of the topic, as if it had
crashed after delivering and recording but before committing: started again, it reads every
event again and must send none of them, from its delivery log. Every escalation the partners
asked for must arrive exactly once per event id (a retry after a 503 carries the same id), every
signature must verify, and the delivery log must say how each ended.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from opel.contracts.escalation import EscalationEvent
from opel.contracts.partner_delivery import PartnerDelivery
from opel.partners.config import Partner, load_partners
from opel.partners.webhook import wants
from streams import topics
from streams.broker import EmbeddedBroker, free_port
from streams.compacted import read_topic_to_end
from streams.metrics import REGISTRY
from streams.partners.service import group_for
from streams.run_command import partners_extra, web_extra
from streams.worker import start, stop

from .service import PARTITIONS, fresh_broker, produce, read_all, reading, wait_for, worker_settings

pytestmark = pytest.mark.slow

SECRETS: Final = {
    "OPEL_TEST_ALPHA_SECRET": "whsec_" + base64.b64encode(b"alpha partner signing key 32 b.").decode(),
    "OPEL_TEST_BETA_SECRET": "whsec_" + base64.b64encode(b"beta partner signing key, 32 b.").decode(),
}
PARTNER_TOKEN: Final = "partner-read-token-0123456789"
BAD_EVENT: Final = {"specversion": "1.0", "id": "not-an-escalation", "subject": "area/dgs"}


@dataclass
class Endpoint:
    """One partner's endpoint: verifies each request, answers 503 to the next ``fail_next`` valid ones."""

    secret: str
    mode: str
    fail_next: int = 0
    accepted: list[str] = field(default_factory=list)  # webhook-ids answered 2xx, in order
    failed: list[str] = field(default_factory=list)  # webhook-ids answered 503
    bad: list[str] = field(default_factory=list)  # requests that did not verify, and why
    bodies: dict[str, Any] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as exc:
            self.bad.append(f"{headers.get('webhook-id')}: {exc}")
            return web.Response(status=401)
        webhook_id = headers["webhook-id"]
        if self.mode == "binary":
            if request.headers.get("ce-id") != webhook_id or request.content_type != "application/json":
                self.bad.append(f"{webhook_id}: binary mode headers {headers}")
                return web.Response(status=400)
        elif request.content_type != "application/cloudevents+json":
            self.bad.append(f"{webhook_id}: structured mode content-type {request.content_type}")
            return web.Response(status=400)
        if self.fail_next > 0:
            self.fail_next -= 1
            self.failed.append(webhook_id)
            return web.Response(status=503, text="try later")
        self.accepted.append(webhook_id)
        self.bodies[webhook_id] = json.loads(body)
        return web.Response(status=204)


@dataclass
class Receiver:
    base: str
    endpoints: dict[str, Endpoint]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    endpoints = {
        "alpha": Endpoint(SECRETS["OPEL_TEST_ALPHA_SECRET"], "structured", fail_next=1),
        "beta": Endpoint(SECRETS["OPEL_TEST_BETA_SECRET"], "binary"),
    }
    app = web.Application()
    for name, endpoint in endpoints.items():
        app.router.add_post(f"/{name}", endpoint.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Receiver(f"http://127.0.0.1:{port}", endpoints)
    finally:
        await runner.cleanup()


def partners_file(path: Path, base: str) -> Path:
    retry = {"attempts": 5, "first_delay_seconds": 0.2, "max_delay_seconds": 1}
    data = {
        "partners": {
            "alpha": {
                "url": f"{base}/alpha",
                "mode": "structured",
                "secret_env": "OPEL_TEST_ALPHA_SECRET",
                "scopes": ["area", "county"],
                "retry": retry,
                "timeout_seconds": 5,
            },
            "beta": {
                "url": f"{base}/beta",
                "mode": "binary",
                "secret_env": "OPEL_TEST_BETA_SECRET",
                "scopes": ["indicator"],
                "min_level": 3,
                "retry": retry,
                "timeout_seconds": 5,
            },
        }
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def api_file(path: Path) -> Path:
    data = {
        "reads_require_token": True,
        "principals": {"partner-alpha": {"roles": ["partner"], "token_env": "OPEL_TEST_PARTNER_TOKEN"}},
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


async def escalations(bootstrap: str) -> list[EscalationEvent]:
    """The valid escalation events on the topic (the test also writes one that is not)."""
    return [
        EscalationEvent.model_validate(value)
        for _, value in await read_all(bootstrap, topics.ESCALATIONS)
        if value.get("id") != BAD_EVENT["id"]
    ]


def expected_ids(partner: Partner, events: list[EscalationEvent]) -> set[str]:
    return {e.id for e in events if wants(partner, e)}


async def group_caught_up(bootstrap: str, group_id: str) -> bool:
    """Whether ``group_id`` has committed past the last record of every partition of the escalations.

    The last record's offset, not the end offset: on Apache Kafka the worker writes in
    transactions, and the commit marker after a transaction's last record takes an offset too.
    """
    last: dict[int, int] = {}
    async for record in read_topic_to_end(bootstrap, topics.ESCALATIONS, fetch_max_wait_ms=100):
        last[record.partition] = max(last.get(record.partition, -1), record.offset)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        for partition, offset in last.items():
            committed = await consumer.committed(TopicPartition(topics.ESCALATIONS, partition))
            if committed is None or committed <= offset:
                return False
        return True
    finally:
        await consumer.stop()


async def rewind(bootstrap: str, group_id: str) -> None:
    """Set ``group_id``'s offsets back to 0: its member crashed before committing anything."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topics.ESCALATIONS, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.commit(dict.fromkeys(tps, 0))
        assert all([await consumer.committed(tp) == 0 for tp in tps])
    finally:
        await consumer.stop()


def delivered_total(partner: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "opel_partner_deliveries_total", {"partner": partner, "outcome": "delivered"}
        )
        or 0.0
    )


async def test_each_escalation_reaches_each_partner_once_signed_across_restarts(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker: EmbeddedBroker = fresh_broker(tmp_path / "broker")
    try:
        for name, value in SECRETS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("OPEL_TEST_PARTNER_TOKEN", PARTNER_TOKEN)
        partners = load_partners(partners_file(tmp_path / "partners.yaml", receiver.base))
        by_name = {p.name: p for p in partners}
        settings = worker_settings(broker, tmp_path, web_port=0, api_config=api_file(tmp_path / "api.yaml"))
        extras = (web_extra, partners_extra(partners))
        bootstrap = broker.bootstrap
        alpha, beta = receiver.endpoints["alpha"], receiver.endpoints["beta"]
        alpha_before = delivered_total("alpha")
        now = datetime.now(UTC).replace(microsecond=0)

        def at(minutes: int) -> str:
            return (now - timedelta(minutes=minutes)).isoformat()

        async def all_delivered() -> bool:
            events = await escalations(bootstrap)
            want_alpha = expected_ids(by_name["alpha"], events)
            want_beta = expected_ids(by_name["beta"], events)
            return bool(want_alpha) and set(alpha.accepted) >= want_alpha and set(beta.accepted) >= want_beta

        async def round_two_escalated() -> bool:
            reached = {(e.subject, e.data.to_level) for e in await escalations(bootstrap)}
            return {("area/dgs", 3), ("area/east_kent", 3)} <= reached

        # --- round 1: a first level for two areas (so OPEL 2 for them and the county)
        running = await start(settings, extras)
        try:
            await produce(
                bootstrap,
                [
                    reading("referrals", "dgs", 12, at(40)),
                    reading("stp_staffing_pct", "east_kent", 65, at(40)),
                ],
            )
            await wait_for(all_delivered, timeout=90)
            assert alpha.failed, "the first request was answered 503 and must have been retried"
            assert alpha.failed[0] in alpha.accepted, "the retry carries the same webhook-id"

            # A partner's read token reads /status and /history, and changes nothing.
            base = running.web_url
            assert base is not None
            auth = {"Authorization": f"Bearer {PARTNER_TOKEN}"}
            async with aiohttp.ClientSession() as http:
                for path in ("/status", "/status/area/dgs", "/history/area/dgs"):
                    async with http.get(base + path, headers=auth) as response:
                        assert response.status == 200, (path, await response.text())
                async with http.get(base + "/status") as response:
                    assert response.status == 401
                writes = [
                    ("/overrides", {"scope": "area/dgs", "level": 4, "reason": "x", "expires_at": at(-60)}),
                    ("/alerts/a-1/ack", {}),
                    (
                        "/readings",
                        [{"indicator": "referrals", "area": "dgs", "value": 1, "observed_at": at(1)}],
                    ),
                ]
                for path, body in writes:
                    async with http.post(base + path, headers=auth, json=body) as response:
                        assert response.status == 403, (path, await response.text())
                async with http.delete(base + "/overrides/ovr-1", headers=auth) as response:
                    assert response.status == 403
        finally:
            await stop(running)
        first_round = set(alpha.accepted) | set(beta.accepted)

        # --- round 2, written while nothing runs: OPEL 3 for both areas and the county
        await produce(
            bootstrap,
            [
                reading("referrals", "dgs", 17, at(30)),
                reading("stp_staffing_pct", "east_kent", 45, at(30)),
                reading("referrals", "east_kent", 16, at(30)),
                # Not an escalation: refused, recorded as such for each partner, never sent.
                (topics.ESCALATIONS, b"area/dgs", json.dumps(BAD_EVENT).encode()),
            ],
        )
        alpha.fail_next = 2  # the first two after the restart fail: retried, then delivered
        running = await start(settings, extras)
        try:
            # The round's escalations first: until they are written, all_delivered() holds on
            # round 1's alone (Apache Kafka writes them later than the embedded broker).
            await wait_for(round_two_escalated, timeout=120)
            await wait_for(all_delivered, timeout=120)
            await wait_for(
                lambda: group_caught_up(bootstrap, group_for(settings.app_id, "alpha")), timeout=60
            )
            await wait_for(lambda: group_caught_up(bootstrap, group_for(settings.app_id, "beta")), timeout=60)
        finally:
            await stop(running)
        assert set(alpha.accepted) | set(beta.accepted) > first_round, "round 2 added escalations"
        assert beta.accepted, "indicators reached OPEL 3 in round 2"

        # --- the crash window: offsets lost after delivery was recorded; nothing may be sent again
        sent_before = (list(alpha.accepted), list(alpha.failed))
        await rewind(bootstrap, group_for(settings.app_id, "alpha"))
        running = await start(settings, extras)
        try:
            await wait_for(
                lambda: group_caught_up(bootstrap, group_for(settings.app_id, "alpha")), timeout=90
            )
        finally:
            await stop(running)
        assert (alpha.accepted, alpha.failed) == sent_before, "a recorded delivery was sent again"

        # --- every event asked for, exactly once per event id, every signature valid
        events = await escalations(bootstrap)
        assert len({e.id for e in events}) == len(events)
        for name, endpoint in receiver.endpoints.items():
            assert endpoint.bad == [], f"{name}: requests that did not verify: {endpoint.bad}"
            want = expected_ids(by_name[name], events)
            counts = Counter(endpoint.accepted)
            assert set(counts) == want, f"{name}: missing {want - set(counts)}, unasked {set(counts) - want}"
            assert [i for i, n in counts.items() if n > 1] == [], f"{name}: delivered twice"
            assert set(endpoint.failed) <= want
        assert len(alpha.failed) == 3
        assert all(body["specversion"] == "1.0" and "data" in body for body in alpha.bodies.values())
        assert all("to_level" in body and body["to_level"] >= 3 for body in beta.bodies.values())
        assert {e.data.kind for e in events if e.id in alpha.bodies} >= {"area", "county"}

        # --- the delivery log: each event's last word is "delivered"; the retries are there too
        log = await read_all(bootstrap, topics.PARTNER_DELIVERIES)
        latest: dict[str, PartnerDelivery] = {}
        outcomes: Counter[tuple[str, str]] = Counter()
        for key, value in log:
            entry = PartnerDelivery.model_validate(value)
            assert key == f"{group_for(settings.app_id, entry.partner)}/{entry.event_id}"
            latest[key] = entry
            outcomes[entry.partner, entry.outcome] += 1
        assert {(e.partner, e.event_id) for e in latest.values() if e.outcome == "delivered"} == {
            (name, i) for name, endpoint in receiver.endpoints.items() for i in endpoint.accepted
        }
        refused = {e.partner: e for e in latest.values() if e.outcome == "refused"}
        assert set(refused) == {"alpha", "beta"}
        for entry in refused.values():
            assert entry.event_id.startswith(f"{topics.ESCALATIONS}/")
            assert entry.error is not None
            assert "data" in entry.error
        assert all(e.outcome == "delivered" for e in latest.values() if e.outcome != "refused")
        assert outcomes["alpha", "retrying"] == 3
        assert delivered_total("alpha") - alpha_before == len(alpha.accepted)

        # --- the operators' view of the same log: `opel partners log alpha`
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPEL_")}
        shown = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "opel.cli", "partners", "log", "alpha", "--broker", broker.url],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        assert lines[0].split() == ["time", "event", "id", "scope", "attempt", "outcome", "http", "error"]
        for event_id in alpha.accepted:
            assert any(event_id in line and " delivered " in line for line in lines), event_id
        assert sum(" retrying " in line and "HTTP 503" in line for line in lines) == 3
        assert any(" refused " in line for line in lines)
        nobody = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "opel.cli", "partners", "log", "gamma", "--broker", broker.url],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert nobody.returncode == 1
        assert "no deliveries recorded for 'gamma'" in nobody.stderr
    finally:
        broker.stop()
