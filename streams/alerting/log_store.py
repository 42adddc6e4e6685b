"""The notification log, open alerts, outbox and run records on the compacted topic.

One topic (``opel.notifications.v1``; the exercise alerting's is ``opel.exercise.notifications.v1``)
holds every durable record, latest value per key. Keys are ``<namespace>/<kind>/<id>``; the
namespace is the service's consumer group id (or its ``log_namespace``), so two alerting
deployments (or two test runs) on one cluster never read each other's state.
Writes wait for the broker's acknowledgement: a record the service acts on is on the log.

A record that is done with (a closed alert) is deleted by a tombstone, a null value under its
key: reading the log drops the key, and Kafka's compaction removes the record and, after the
topic's ``delete.retention.ms``, the tombstone, so the state read on start stays the size of
what is open rather than of all history.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from opel.alerting.records import (
    LOG_ENTRY,
    LOG_KINDS,
    AlertRecord,
    AnyRecord,
    Delivery,
    DosRecord,
    GroupRecord,
    KeahRecord,
    PlacementRecord,
    RunRecord,
    log_entry,
)
from opel.contracts.action_item import ActionItem
from streams.compacted import read_topic_to_end
from streams.kafka_security import PLAINTEXT, KafkaSecurity
from streams.topics import NOTIFICATIONS

log = logging.getLogger(__name__)


class State:
    """Everything read back on start, by kind then id."""

    def __init__(self) -> None:
        self.alerts: dict[str, AlertRecord] = {}
        self.groups: dict[str, GroupRecord] = {}
        self.outbox: dict[str, Delivery] = {}
        self.runs: dict[str, RunRecord] = {}
        self.keah: dict[str, KeahRecord] = {}
        self.dos: dict[str, DosRecord] = {}
        self.beds: dict[str, PlacementRecord] = {}
        self.items: dict[str, ActionItem] = {}

    def put(self, ident: str, record: AnyRecord) -> None:
        if isinstance(record, AlertRecord):
            self.alerts[ident] = record
        elif isinstance(record, GroupRecord):
            self.groups[ident] = record
        elif isinstance(record, Delivery):
            self.outbox[ident] = record
        elif isinstance(record, RunRecord):
            self.runs[ident] = record
        elif isinstance(record, DosRecord):
            self.dos[ident] = record
        elif isinstance(record, PlacementRecord):
            self.beds[ident] = record
        elif isinstance(record, ActionItem):
            self.items[ident] = record
        else:
            self.keah[ident] = record

    def drop(self, kind: str, ident: str) -> None:
        """Forget the record of ``kind`` under ``ident`` (its tombstone was read)."""
        self._by_kind()[kind].pop(ident, None)

    def _by_kind(self) -> dict[str, dict[str, Any]]:
        return {
            "alert": self.alerts,
            "group": self.groups,
            "outbox": self.outbox,
            "run": self.runs,
            "keah": self.keah,
            "dos": self.dos,
            "bed": self.beds,
            "item": self.items,
        }


class LogStore:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        bootstrap: str,
        namespace: str,
        security: KafkaSecurity = PLAINTEXT,
        topic: str = NOTIFICATIONS,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._bootstrap = bootstrap
        self._security = security
        self._prefix = f"{namespace}/"

    def key(self, kind: str, ident: str) -> str:
        return f"{self._prefix}{kind}/{ident}"

    async def write(self, items: Iterable[tuple[str, str, AnyRecord]]) -> None:
        """Write ``(kind, id, record)`` items and wait until the broker has them all."""
        futures = []
        for kind, ident, record in items:
            entry = log_entry(record)
            if entry.kind != kind:
                raise ValueError(f"a {entry.kind} record cannot be written under {kind}/{ident}")
            futures.append(
                await self._producer.send(
                    self._topic, key=self.key(kind, ident).encode(), value=entry.model_dump_json().encode()
                )
            )
        for future in futures:
            await future

    async def delete(self, kind: str, idents: Iterable[str]) -> None:
        """Write a tombstone for each of ``kind``'s ``idents`` and wait until the broker has them all."""
        if kind not in LOG_KINDS:
            raise ValueError(f"no {kind} records on the notification log")
        futures = [
            await self._producer.send(self._topic, key=self.key(kind, ident).encode(), value=None)
            for ident in idents
        ]
        for future in futures:
            await future

    async def load(self) -> State:
        """Read the topic from the start to its current end; the latest value per key wins."""
        state = State()
        async for message in read_topic_to_end(self._bootstrap, self._topic, security=self._security):
            self._apply(state, message.key, message.value)
        return state

    def _apply(self, state: State, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        text = key.decode("utf-8", "replace")
        if not text.startswith(self._prefix):
            return
        kind, _, ident = text[len(self._prefix) :].partition("/")
        if kind not in LOG_KINDS:
            return
        if value is None:
            # A tombstone: until compaction removes the record before it, both are read.
            state.drop(kind, ident)
            return
        try:
            entry = LOG_ENTRY.validate_json(value)
        except ValidationError as exc:
            log.error("notification log: unreadable record %s: %s", text, exc)
            return
        if entry.kind != kind:
            log.error("notification log: a %s record under %s", entry.kind, text)
            return
        state.put(ident, entry.record)
