"""Escalation events to partners' webhooks: one consumer group per partner, offsets after delivery.

Each partner has its own loop and consumer group (``<app id>-partner-<name>``) on
``opel.escalations.v1``, so a partner whose webhook is down holds back only its own events.
A message's offset is committed only after its outcome is on the delivery log
(``opel.partner-deliveries.v1``): delivered, given up after the last retry, or refused as not
an escalation. On start each loop reads that log back, so an event whose delivery was recorded
but whose offset was not yet committed (a crash between the two) is not sent again. The one
window left is a crash after the partner's 2xx and before the log write: that event is sent
again, with the same ``webhook-id``, which partners drop (docs/partners.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from pydantic import ValidationError

from opel.contracts.escalation import EscalationEvent
from opel.contracts.partner_delivery import FINAL_OUTCOMES, DeliveryOutcome, PartnerDelivery
from opel.partners.config import Partner
from opel.partners.webhook import request_for, wants
from opel.validation_errors import field_problems, join_problems
from streams import kafka_security, metrics, topics
from streams.compacted import read_topic_to_end
from streams.kafka_security import PLAINTEXT, KafkaSecurity
from streams.partners.sender import Attempt, post
from streams.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(UTC)


def group_for(app_id: str, partner: str) -> str:
    return f"{app_id}-partner-{partner}"


async def delivered_ids(bootstrap: str, group_id: str, security: KafkaSecurity = PLAINTEXT) -> set[str]:
    """Event ids whose delivery to this group's partner is over (delivered, given up or refused)."""
    prefix = f"{group_id}/"
    done: set[str] = set()
    async for record in read_topic_to_end(bootstrap, topics.PARTNER_DELIVERIES, security=security):
        key = record.key.decode() if record.key else ""
        if not key.startswith(prefix) or record.value is None:
            continue
        try:
            entry = PartnerDelivery.model_validate_json(record.value)
        except ValidationError:
            log.error("partners: unreadable delivery log record under %s, ignored", key)
            continue
        if entry.outcome in FINAL_OUTCOMES:
            done.add(key.removeprefix(prefix))
        else:
            done.discard(key.removeprefix(prefix))
    return done


class PartnerLoop:
    """Delivers one partner's events in order, each retried with backoff up to its limit."""

    def __init__(
        self,
        partner: Partner,
        *,
        bootstrap: str,
        group_id: str,
        producer: AIOKafkaProducer,
        http: httpx.AsyncClient,
        security: KafkaSecurity = PLAINTEXT,
        isolation_level: str = "read_uncommitted",
        escalations_topic: str = topics.ESCALATIONS,
        clock: Callable[[], datetime] = utc_now,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.partner = partner
        self.group_id = group_id
        self.done: set[str] = set()
        self._bootstrap = bootstrap
        self._producer = producer
        self._http = http
        self._security = security
        self._isolation_level = isolation_level
        self._topic = escalations_topic
        self._clock = clock
        self._sleep = sleep
        self._consumer: AIOKafkaConsumer | None = None

    def _longest_delivery_ms(self) -> int:
        """How long one event can take, retries included, with a minute's margin: the consumer must
        not be taken for dead and lose its partitions while it waits to retry."""
        retry = self.partner.retry
        waits = sum(retry.delay(n).total_seconds() for n in range(1, retry.attempts))
        return int((retry.attempts * self.partner.timeout_seconds + waits + 60) * 1000)

    async def start(self) -> None:
        self.done = await delivered_ids(self._bootstrap, self.group_id, self._security)
        self._consumer = kafka_security.consumer(
            self._bootstrap,
            self._topic,
            security=self._security,
            group_id=self.group_id,
            enable_auto_commit=False,
            # A new partner gets what the topic still holds; after that, its committed offsets.
            auto_offset_reset="earliest",
            isolation_level=self._isolation_level,
            max_poll_interval_ms=max(300_000, self._longest_delivery_ms()),
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
            fetch_max_wait_ms=200,
        )
        await self._consumer.start()
        log.info(
            "partners: delivering to %s (%s, %s mode) from group %s; %d events already done",
            self.partner.name,
            self.partner.url,
            self.partner.mode,
            self.group_id,
            len(self.done),
        )

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def run(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                for message in messages:
                    try:
                        await self.handle(message)
                    except Exception:
                        # Most likely the delivery log could not be written: read the message
                        # again rather than commit past an outcome that was never recorded.
                        log.exception(
                            "partners: %s: failed on %s@%s; will retry", self.partner.name, tp, message.offset
                        )
                        consumer.seek(tp, message.offset)
                        await asyncio.sleep(1.0)
                        break
                    await consumer.commit({tp: message.offset + 1})

    async def handle(self, message: ConsumerRecord[bytes, bytes]) -> None:
        if message.value is None:
            return
        try:
            event = EscalationEvent.model_validate_json(message.value)
        except ValidationError as exc:
            where = f"{message.topic}/{message.partition}/{message.offset}"
            problem = join_problems(field_problems(exc, model=EscalationEvent), whole="(message)")
            log.error(
                "partners: %s: escalation at %s refused, not sent: %s", self.partner.name, where, problem
            )
            await self._record(where, None, 0, "refused", error=problem)
            return
        if not wants(self.partner, event):
            return
        if event.id in self.done:
            log.info("partners: %s: %s already delivered, not sent again", self.partner.name, event.id)
            return
        await self.deliver(event)

    async def deliver(self, event: EscalationEvent) -> None:
        partner = self.partner
        retry = partner.retry
        for number in range(1, retry.attempts + 1):
            request = request_for(partner, event, self._clock())
            attempt = await post(self._http, partner.url, request, partner.timeout_seconds)
            if attempt.ok:
                await self._record(event.id, event.subject, number, "delivered", attempt)
                return
            last = number == retry.attempts or not attempt.recoverable
            await self._record(event.id, event.subject, number, "given_up" if last else "retrying", attempt)
            if last:
                log.error(
                    "partners: %s: gave up on %s after attempt %d: %s",
                    partner.name,
                    event.id,
                    number,
                    attempt.error,
                )
                return
            await self._sleep(retry.delay(number).total_seconds())

    async def _record(
        self,
        event_id: str,
        subject: str | None,
        attempt_number: int,
        outcome: DeliveryOutcome,
        attempt: Attempt | None = None,
        *,
        error: str | None = None,
    ) -> None:
        entry = PartnerDelivery(
            partner=self.partner.name,
            event_id=event_id,
            subject=subject,
            attempt=attempt_number,
            outcome=outcome,
            status_code=attempt.status_code if attempt else None,
            error=attempt.error if attempt else error,
            at=self._clock(),
        )
        await self._producer.send_and_wait(
            topics.PARTNER_DELIVERIES, key=f"{self.group_id}/{event_id}".encode(), value=entry.to_json()
        )
        metrics.record_partner_delivery(self.partner.name, outcome)
        if outcome in FINAL_OUTCOMES:
            self.done.add(event_id)


def _report_end(task: asyncio.Task[None]) -> None:
    """A loop only ends by being stopped; any other end leaves a partner without events: say so."""
    if not task.cancelled() and task.exception() is not None:
        log.error("partners: %s stopped; no more deliveries", task.get_name(), exc_info=task.exception())


class PartnerDeliveryService:
    """Every configured partner's loop, started and stopped together."""

    def __init__(
        self,
        partners: Iterable[Partner],
        *,
        bootstrap: str,
        app_id: str,
        security: KafkaSecurity = PLAINTEXT,
        isolation_level: str = "read_uncommitted",
        escalations_topic: str = topics.ESCALATIONS,
        clock: Callable[[], datetime] = utc_now,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.partners = tuple(partners)
        self._bootstrap = bootstrap
        self._app_id = app_id
        self._security = security
        self._isolation_level = isolation_level
        self._topic = escalations_topic
        self._clock = clock
        self._sleep = sleep
        self.loops: list[PartnerLoop] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._producer: AIOKafkaProducer | None = None
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._producer = kafka_security.producer(self._bootstrap, security=self._security, acks="all")
        await self._producer.start()
        self._http = httpx.AsyncClient()
        for partner in self.partners:
            metrics.add_partner(partner.name)
            loop = PartnerLoop(
                partner,
                bootstrap=self._bootstrap,
                group_id=group_for(self._app_id, partner.name),
                producer=self._producer,
                http=self._http,
                security=self._security,
                isolation_level=self._isolation_level,
                escalations_topic=self._topic,
                clock=self._clock,
                sleep=self._sleep,
            )
            await loop.start()
            self.loops.append(loop)
            task = asyncio.create_task(loop.run(), name=f"opel-partner-{partner.name}")
            task.add_done_callback(_report_end)
            self._tasks.append(task)

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks = []
        for loop in self.loops:
            await loop.stop()
        self.loops = []
        if self._http is not None:
            await self._http.aclose()
        if self._producer is not None:
            await self._producer.stop()
