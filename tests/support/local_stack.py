"""The API and board wired to a broker without a worker: for demos, screenshots and tests.

:class:`LocalStack` creates its own status, audit, alerts and commands topics (unique names
unless told otherwise, so several stacks can share one broker), starts a :class:`StatusView`, a
:class:`CommandSender` and a :class:`WebServer` on 127.0.0.1, and publishes status values and
audit records (contract models, :mod:`tests.support.demo`) as the worker does: the model's
JSON, keyed by its scope. The real service wires the same parts to the real topic names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from aiokafka import AIOKafkaProducer

from opel.actions import ActionPlan
from opel.actions_load import default_action_plan
from opel.alerting.routing import RoutingConfig, build_routing
from opel.catalogue_load import DEFAULT_ACUTE_CATALOGUE, DEFAULT_INDICATOR_CATALOGUE, load_catalogue
from opel.contracts.action_item import ActionItem
from opel.contracts.alert import AlertDelivery
from opel.contracts.audit import AuditRecord
from opel.contracts.status import AnyStatus
from opel.contracts.warning import WarningEvent
from streams.alerting.service import AlertingTopics
from streams.broker import LOOPBACK, EmbeddedBroker
from streams.status_view import StatusView
from streams.topics import DEFAULT_PARTITIONS, TopicSpec
from streams.web.auth import AuthConfig, BoardConfig
from streams.web.command_sender import CommandSender
from streams.web.server import WebServer

if TYPE_CHECKING:
    from streams.exercise.desk import ExerciseDesk

__all__ = ["LocalStack", "alerting_topics", "log_routing", "private_topics", "shipped_catalogues"]

CAUGHT_UP_SECONDS: Final = 60.0


def shipped_catalogues() -> list[dict[str, Any]]:
    """The shipped catalogues as the worker's CatalogueStore.versions() lists them (and /catalogues)."""
    found = []
    for kind, name in (("indicators", DEFAULT_INDICATOR_CATALOGUE), ("acute", DEFAULT_ACUTE_CATALOGUE)):
        meta = load_catalogue(name).meta
        found.append(
            {"kind": kind, "id": meta.id, "version": meta.version, "content_hash": meta.content_hash}
            | {"status": meta.status, "source": meta.source}
        )
    return found


def private_topics(prefix: str = "opel-web", partitions: int = DEFAULT_PARTITIONS) -> dict[str, TopicSpec]:
    """Fresh status (compacted), audit, alerts, commands and action items (compacted) topics named
    ``<prefix>-<random>.<role>``."""
    tag = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return {
        "status": TopicSpec(f"{tag}.status", partitions, True, "out", "status for a local stack"),
        "audit": TopicSpec(f"{tag}.audit", partitions, False, "out", "audit for a local stack"),
        "alerts": TopicSpec(f"{tag}.alerts", partitions, False, "out", "alerts for a local stack"),
        "commands": TopicSpec(f"{tag}.commands", partitions, False, "in", "commands from a local stack"),
        "action_items": TopicSpec(
            f"{tag}.action-items", partitions, True, "out", "action items for a local stack"
        ),
        "warnings": TopicSpec(
            f"{tag}.warnings", partitions, False, "out", "early warnings for a local stack"
        ),
    }


def alerting_topics(prefix: str) -> tuple[dict[str, TopicSpec], AlertingTopics]:
    """:func:`private_topics` with private escalations and referral-events topics beside them, and
    the names among them an :class:`AlertingService` reads and writes: alerting beside a stack's
    API without touching the shared topics."""
    topics = private_topics(prefix)
    tag = topics["status"].name.rsplit(".", 1)[0]
    escalations = TopicSpec(f"{tag}.escalations", DEFAULT_PARTITIONS, False, "out", "escalations")
    referrals = TopicSpec(f"{tag}.referral-events", DEFAULT_PARTITIONS, False, "in", "referral events")
    topics |= {"escalations": escalations, "referrals": referrals}
    names = AlertingTopics(
        escalations=topics["escalations"].name,
        commands=topics["commands"].name,
        referral_events=topics["referrals"].name,
        status=topics["status"].name,
        alerts=topics["alerts"].name,
        audit=topics["audit"].name,
        action_items=topics["action_items"].name,
        warnings=topics["warnings"].name,
    )
    return topics, names


def log_routing(roles: Iterable[str]) -> RoutingConfig:
    """Routing that tells each of ``roles`` on the log channel only: no address, no secret."""
    contacts = {role: {"contacts": [{"id": f"{role}-log", "name": role, "channel": "log"}]} for role in roles}
    return build_routing({"roles": contacts}, "<test routing>", env={})


class LocalStack:
    """Status view, command sender and web server over one broker. Use ``async with``."""

    def __init__(
        self,
        broker: EmbeddedBroker,
        *,
        auth: AuthConfig | None = None,
        board: BoardConfig | None = None,
        topics: Mapping[str, TopicSpec] | None = None,
        action_plan: ActionPlan | None = None,
        catalogues: list[dict[str, Any]] | None = None,
        port: int = 0,
        sse_heartbeat: float = 15.0,
        exercise: ExerciseDesk | None = None,
    ) -> None:
        self.broker = broker
        self.topics = dict(topics or private_topics())
        self.view = StatusView(
            broker.bootstrap,
            status_topic=self.topics["status"].name,
            audit_topic=self.topics["audit"].name,
            alerts_topic=self.topics["alerts"].name,
            items_topic=self.topics["action_items"].name if "action_items" in self.topics else None,
            warnings_topic=self.topics["warnings"].name if "warnings" in self.topics else None,
        )
        self.sender = CommandSender(broker.bootstrap, topic=self.topics["commands"].name)
        # The shipped catalogues by default, listed as the worker lists them: the scopes an
        # override may name are theirs.
        listed = catalogues if catalogues is not None else shipped_catalogues()
        self.server = WebServer(
            host=LOOPBACK,
            port=port,
            view=self.view,
            send_command=self.sender,
            auth=auth or AuthConfig(),
            catalogues=lambda: listed,
            action_plan=action_plan or default_action_plan(),
            board=board,
            sse_heartbeat=sse_heartbeat,
            exercise=exercise,
        )
        self._producer: AIOKafkaProducer | None = None

    @property
    def url(self) -> str:
        return self.server.url

    async def start(self) -> None:
        await self.broker.acreate_topics(self.topics.values())
        self._producer = AIOKafkaProducer(bootstrap_servers=self.broker.bootstrap, acks="all")
        await self._producer.start()
        await self.view.start()
        await self.sender.start()
        await self.server.start()
        await self.view.wait_caught_up(CAUGHT_UP_SECONDS)

    async def stop(self) -> None:
        await self.server.stop()
        await self.sender.stop()
        await self.view.stop()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def __aenter__(self) -> LocalStack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _send(self, topic: str, key: str, value: bytes | None) -> None:
        if self._producer is None:
            raise RuntimeError("LocalStack is not started")
        await self._producer.send_and_wait(topic, value=value, key=key.encode("utf-8"))

    async def publish_status(self, statuses: Iterable[AnyStatus]) -> None:
        """Write status values keyed by their scope, as the worker does."""
        for status in statuses:
            await self._send(self.topics["status"].name, status.scope, status.to_json())

    async def publish_raw_status(self, key: str, value: bytes) -> None:
        """Write bytes as a status value: for what a broken writer might put on the topic."""
        await self._send(self.topics["status"].name, key, value)

    async def remove_status(self, scope: str) -> None:
        """Write a tombstone for ``scope``."""
        await self._send(self.topics["status"].name, scope, None)

    async def publish_audit(self, records: Iterable[AuditRecord]) -> None:
        """Write audit records keyed by their scope, as the worker does."""
        for record in records:
            await self._send(self.topics["audit"].name, record.scope or "", record.to_json())

    async def publish_items(self, items: Iterable[ActionItem]) -> None:
        """Write action items keyed by their id, as alerting does."""
        for item in items:
            await self._send(self.topics["action_items"].name, item.id, item.to_json())

    async def publish_warnings(self, events: Iterable[WarningEvent]) -> None:
        """Write early warnings keyed by their subject, as the worker does."""
        for event in events:
            await self._send(self.topics["warnings"].name, event.subject, event.to_json())

    async def publish_alerts(self, deliveries: Iterable[AlertDelivery]) -> None:
        """Write alert deliveries keyed by their first alert id, as alerting does."""
        for delivery in deliveries:
            key = delivery.alert_ids[0] if delivery.alert_ids else delivery.notice_id
            await self._send(self.topics["alerts"].name, key, delivery.to_json())
