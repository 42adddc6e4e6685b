"""Puts API commands on ``opel.commands.v1``: the ``send_command`` a :class:`WebServer` is given."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from streams import kafka_security
from streams.kafka_security import PLAINTEXT, KafkaSecurity
from streams.topics import COMMANDS

__all__ = ["CommandSender", "command_key"]


def command_key(command: dict[str, Any]) -> str | None:
    """The record key docs/topics.md gives a command: its scope, the alert id for an ack, the
    item id for an action item's mark, the referral event id for a KEaH confirmation, or the
    placement id for an assessment-bed placement."""
    for name in ("scope", "alert_id", "item_id", "event_id", "placement_id"):
        value = command.get(name)
        if isinstance(value, str) and value:
            return value
    return None


class CommandSender:
    """Owns a producer; ``await sender(command)`` returns once the broker has the record."""

    def __init__(
        self,
        bootstrap: str,
        *,
        topic: str = COMMANDS,
        client_id: str = "opel-api",
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self.topic = topic
        self._producer = kafka_security.producer(
            bootstrap, security=security, client_id=client_id, acks="all", enable_idempotence=False
        )
        self._started = False

    async def start(self) -> None:
        if not self._started:
            await self._producer.start()
            self._started = True

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self._producer.stop()

    async def __call__(self, command: dict[str, Any]) -> None:
        if not self._started:
            raise RuntimeError("CommandSender is not started")
        key = command_key(command)
        await self._producer.send_and_wait(
            self.topic,
            value=json.dumps(command, separators=(",", ":")).encode("utf-8"),
            key=key.encode("utf-8") if key is not None else None,
        )

    async def send_records(self, records: Sequence[tuple[str, bytes | None, bytes]]) -> None:
        """Put ``(topic, key, value)`` records on their topics with the same producer (e.g. the
        readings of ``POST /readings`` on the input topics); returns once the broker has them all."""
        if not self._started:
            raise RuntimeError("CommandSender is not started")
        pending = [await self._producer.send(topic, value=value, key=key) for topic, key, value in records]
        await asyncio.gather(*pending)
