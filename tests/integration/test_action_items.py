"""Action items end to end: a real alerting service and the real API over one broker.

An area's escalation (with each role's actions, as the worker sends it) opens items; the
Senior Practitioner marks one through ``POST /action-items/{id}`` with its own bearer token;
another role, an unknown id and a bad body are refused; the alerting clock passes the plan
deadlines and the open items are reminded once; a stand-down closes the rest; every change is on
the audit topic; the daily record lists who did what and when.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any, Final
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from support.local_stack import LocalStack, alerting_topics, log_routing
from test_action_items import change

from opel.alerting.action_items import on_escalation
from opel.alerting.routing import PLAN_ROLES
from opel.contracts.action_item import ActionItem
from opel.contracts.audit import AuditRecord
from opel.contracts.escalation import EscalationEvent
from streams.alerting.service import AlertingService
from streams.broker import EmbeddedBroker
from streams.web.auth import build_api_config

from .test_web_api import bearer, until

SP_TOKEN: Final = "senior-practitioner-token-0123456789"
TM_TOKEN: Final = "team-manager-token-0123456789abcd"
CONFIG: Final = {
    "principals": {
        "sp-dgs": {"roles": ["senior_practitioner"], "token_env": "T_SP"},
        "tm-dgs": {"roles": ["stp_team_manager"], "token_env": "T_TM"},
    }
}
LONDON: Final = ZoneInfo("Europe/London")
SHREWD_DAILY: Final = "senior_practitioner.l2.shrewd_daily"


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def event(scope: str, before: int | None, after: int, at: dt.datetime) -> EscalationEvent:
    data = change(scope, before, after, at)
    return EscalationEvent(
        specversion="1.0",
        id=str(uuid.uuid4()),
        source="urn:opel:test",
        type="uk.gov.kent.opel.escalation",
        subject=scope,
        time=at,
        data=data,
    )


@pytest.fixture
async def rig(broker: EmbeddedBroker) -> AsyncIterator[tuple[LocalStack, AlertingService, Clock, str]]:
    topics, names = alerting_topics("opel-items")
    config = build_api_config(CONFIG, {"T_SP": SP_TOKEN, "T_TM": TM_TOKEN})
    stack = LocalStack(broker, auth=config.auth, topics=topics)
    await stack.start()
    # Opened an hour ago, in real time: the API stamps marks with the real clock.
    opened = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    clock = Clock(opened)
    service = AlertingService(
        bootstrap=broker.bootstrap,
        routing=log_routing((*PLAN_ROLES, "duty")),
        clock=clock,
        group_id=f"items-{uuid.uuid4().hex[:8]}",
        tick_seconds=0.2,
        not_before=opened,
        topic_names=names,
    )
    await service.start()
    try:
        yield stack, service, clock, names.escalations
    finally:
        await service.stop()
        await stack.stop()


async def publish(broker: EmbeddedBroker, topic: str, message: EscalationEvent) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=message.subject.encode(), value=message.to_json())
    finally:
        await producer.stop()


async def test_items_open_are_marked_reminded_and_stood_down_all_audited(
    broker: EmbeddedBroker, rig: tuple[LocalStack, AlertingService, Clock, str]
) -> None:
    stack, service, clock, escalations = rig
    opened = clock.now
    view = stack.view
    rise = event("area/dgs", None, 2, opened)
    # The ids the core gives this change: the items alerting must open, no more, no fewer.
    expected_ids = {c.item.id for c in on_escalation(rise.data, rise.id, {}, PLAN_ROLES)}
    await publish(broker, escalations, rise)
    await until(lambda: {i.id for i in view.items()} == expected_ids, "every item opened")
    items = view.items()
    assert {i.state for i in items} == {"open"}
    shrewd = next(i for i in items if i.action_id == SHREWD_DAILY)
    other = next(i for i in items if i.role == "senior_practitioner" and i.id != shrewd.id)

    async with aiohttp.ClientSession(base_url=stack.url) as http:
        listed = await (
            await http.get("/action-items", params={"role": "senior_practitioner", "state": "open"})
        ).json()
        assert {i["id"] for i in listed["items"]} == {i.id for i in items if i.role == "senior_practitioner"}
        assert (await http.get("/action-items", params={"state": "finished"})).status == 422

        url = f"/action-items/{shrewd.id}"
        refusals: list[tuple[str, str, dict[str, Any] | None, int, str | None]] = [
            (url, TM_TOKEN, {"state": "done"}, 403, None),  # another role's item
            (url, "", {"state": "done"}, 401, None),
            (f"/action-items/{uuid.uuid4()}", SP_TOKEN, {"state": "done"}, 404, None),
            (url, SP_TOKEN, {"state": "finished"}, 422, "state"),
            (url, SP_TOKEN, {"state": "done", "by": "me"}, 422, "by"),
            (url, SP_TOKEN, {"state": "not_applicable"}, 422, "note"),  # a decision not to act needs why
        ]
        for path, token, body, status, field in refusals:
            answer = await http.post(path, json=body, headers=bearer(token) if token else {})
            problem = await answer.json()
            assert (answer.status, problem.get("field")) == (status, field), problem

        answer = await http.post(
            url, json={"state": "done", "note": "updated at 09:15"}, headers=bearer(SP_TOKEN)
        )
        assert answer.status == 202
        command = await answer.json()
        assert (command["type"], command["role"], command["author"]) == (
            "action_item",
            "senior_practitioner",
            "sp-dgs",
        )

        def marked() -> ActionItem | None:
            found = view.item(shrewd.id)
            return found if found is not None and found.state == "done" else None

        done = await until(marked, "the mark applied")
        assert (done.closed_by, done.note) == ("sp-dgs", "updated at 09:15")
        again = await http.post(url, json={"state": "done"}, headers=bearer(SP_TOKEN))
        assert again.status == 409

        # Past every deadline: each open item is reminded, once, to its own role.
        clock.now = opened + dt.timedelta(days=2)
        await until(lambda: all(i.reminded_at for i in view.items() if i.state == "open"), "reminders")
        assert view.item(shrewd.id).reminded_at is None  # type: ignore[union-attr]
        reminded = {i.id for i in view.items() if i.reminded_at}
        assert other.id in reminded
        notices = [d for d in service.state.outbox.values() if d.subject.startswith("Action overdue")]
        assert {d.role for d in notices} == {i.role for i in view.items() if i.id in reminded}
        clock.now += dt.timedelta(days=1)
        await service.tick()
        assert len(
            [d for d in service.state.outbox.values() if d.subject.startswith("Action overdue")]
        ) == len(notices)

        # The level falls back to 1: what is still open is stood down.
        await publish(broker, escalations, event("area/dgs", 2, 1, clock.now))
        await until(lambda: all(i.state != "open" for i in view.items()), "the stand-down")
        assert {i.state for i in view.items() if i.id != shrewd.id} == {"closed_by_stand_down"}

        # Every change is audited: opened, the mark, each reminder, each stand-down.
        expected = len(items) + 1 + len(reminded) + (len(items) - 1)

        def audited() -> list[AuditRecord] | None:
            found = [r for r in view.history("area/dgs") if r.decision == "action_item"]
            return found if len(found) >= expected else None

        audit = await until(audited, "the audit trail")
        rules = [r.rule for r in audit]
        assert (
            rules.count("opened"),
            rules.count("done"),
            rules.count("reminded"),
            rules.count("closed_by_stand_down"),
        ) == (
            len(items),
            1,
            len(reminded),
            len(items) - 1,
        )
        mark = next(r for r in audit if r.rule == "done")
        assert (mark.author, mark.reason, mark.outcome) == (
            "sp-dgs",
            "updated at 09:15",
            {"item_id": shrewd.id, "state": "done", "role": "senior_practitioner", "action_id": SHREWD_DAILY},
        )

        assert done.closed_at is not None
        day = done.closed_at.astimezone(LONDON).date()
        record = await (await http.get(f"/daily-record/{day.isoformat()}")).json()
        entry = next(a for a in record["actions"] if a["item_id"] == shrewd.id)
        events = [(e["event"], e["by"], e.get("note")) for e in entry["events"]]
        assert ("done", "sp-dgs", "updated at 09:15") in events
        assert (await http.get("/daily-record/2025-13-01")).status == 422
