"""Early warnings through the real alerting service (issue 16, point 2): an opened warning on
opel.warnings.v1 reaches its indicator's owner (staffing: the Team Manager, by real SMTP; a
caseload: the Senior Practitioners, by a real webhook) once, and a warning that came true or
was closed reaches nobody."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from support.stage_context import shipped_context

from opel.alerting.routing import build_routing
from opel.contracts.warning import WarningEvent
from opel.models import Reading
from opel.replay import replay
from streams.alerting.service import AlertingService, AlertingTopics
from streams.broker import EmbeddedBroker
from streams.topics import TopicSpec

from .test_alerting_service import (
    ENV_BASE,
    Clock,
    Factory,
    Mailbox,
    Webhook,
    kent_like,
    settle,
    unique,
    wait_for,
)
from .test_alerting_service import mailbox as mailbox  # noqa: PLC0414  # the fixtures, shared
from .test_alerting_service import producer as producer  # noqa: PLC0414
from .test_alerting_service import services as services  # noqa: PLC0414
from .test_alerting_service import webhook as webhook  # noqa: PLC0414

pytestmark = pytest.mark.slow

T0 = datetime(2026, 1, 13, 6, 0, tzinfo=UTC)


def warnings_for(area: str, indicator: str, values: list[float]) -> list[WarningEvent]:
    """The worker's warnings for a series in East Kent, moved to the test's own area."""
    readings = [
        Reading(indicator=indicator, area="east_kent", value=v, observed_at=T0 + timedelta(hours=i))
        for i, v in enumerate(values)
    ]
    out = []
    for event in replay(readings, shipped_context()).warnings:
        scope = f"indicator/{indicator}/{area}"
        data = event.data.model_copy(update={"area": area, "scope": scope})
        out.append(event.model_copy(update={"subject": scope, "data": data}))
    return out


async def publish(producer: AIOKafkaProducer, topic: str, events: list[WarningEvent]) -> None:
    for event in events:
        await producer.send_and_wait(topic, key=event.subject.encode(), value=event.to_json())


async def test_an_opened_warning_reaches_the_owner_once(
    services: Factory,
    producer: AIOKafkaProducer,
    mailbox: tuple[Mailbox, int],
    webhook: Webhook,
    broker: EmbeddedBroker,
) -> None:
    box, port = mailbox
    area = unique("ew")
    warnings_topic = unique("test.warnings.")
    await broker.acreate_topics([TopicSpec(warnings_topic, 4, False, "out", "private warnings for one test")])
    route: dict[str, Any] = {
        "name": "early-warnings",
        "match": {"kinds": ["warning"], "areas": [area]},
        "roles": ["stp_team_manager", "senior_practitioner"],
    }
    data = kent_like(area, port, webhook.url)
    data["routes"] = [route]
    data["clock"] = {
        "areas": [area],
        "indicator_owners": {
            "stp_staffing_pct": "stp_team_manager",
            "health_caseload": "senior_practitioner",
        },
    }
    env = {**ENV_BASE, "TEST_SMTP_PORT": str(port), "TEST_HOOK_URL": webhook.url}
    config = build_routing(data, "<test>", env=env)
    clock = Clock(T0 + timedelta(hours=20))
    service: AlertingService = await services(
        config, clock, unique("g-"), topic_names=AlertingTopics(warnings=warnings_topic)
    )
    staffing = warnings_for(area, "stp_staffing_pct", [85 - i for i in range(17)])
    caseload = warnings_for(area, "health_caseload", [20 + 2 * i for i in range(12)])
    assert [w.data.status for w in staffing][:2] == ["open", "came_true"]
    await publish(producer, warnings_topic, [*staffing, *caseload, staffing[0]])  # one sent twice

    # Each series opens two warnings: amber, then (once amber) red; the repeated one is not re-sent.
    await wait_for(lambda: len(box.to("tm@kent.example")) == 2, "the Team Manager told of staffing")
    await wait_for(lambda: len(webhook.posts) == 2, "the Senior Practitioners told of the caseload")
    await settle(service)
    # Long subjects are folded on the wire.
    subjects = [" ".join(str(m["Subject"]).split()) for m in box.to("tm@kent.example")]
    assert sorted(subjects) == [
        f"Early warning: Short-term Pathway Team staffing, {area}, heading for OPEL 2 amber",
        f"Early warning: Short-term Pathway Team staffing, {area}, heading for OPEL 3 red",
    ]
    body = box.to("tm@kent.example")[0].get_payload(decode=True)
    assert isinstance(body, bytes)
    assert "This is a warning only: the level has not changed." in body.decode()
    assert all(s.startswith("Early warning: ") for s in webhook.subjects())
    # Only opened warnings are told, each once; came true and closed ones reach nobody.
    opened = sum(1 for w in [*staffing, *caseload] if w.data.status == "open")
    assert len(box.to("tm@kent.example")) + len(webhook.posts) == opened == 4
    assert any("0 deliveries" in d for d in service.decisions)  # the one sent twice
    assert box.to("other@kent.example") == []
