"""The alerting service: escalations, acks and referral events in; alerts out, exactly as recorded.

Loop of one service instance:

* a consumer (group ``group_id``) reads ``opel.escalations.v1``, ``opel.commands.v1`` (acks,
  KEaH "referrer told" confirmations, assessment-bed placements, action item marks) and
  ``opel.referral-events.v1`` (KEaH); each message's effect is written to the
  notification log before its offset is committed, so a crash replays it, and the
  deterministic alert ids make the replay a no-op;
* a reader follows ``opel.status.v1`` from the start for the plan's clock duties;
* a tick (every ``tick_seconds``, and whenever APScheduler or new input wakes it) runs the
  pure pipeline with ``now = clock()``: escalation policy, group flushes, clock duties, then
  sends due deliveries from the outbox and records each outcome.

One instance per ``group_id``: the state is namespaced by it and not shared between instances.

A live exercise runs a second instance (``exercise_only=True``, :mod:`streams.exercise`) on the
exercise topics with the scenario's clock: it acts only on exercise escalations, opens their
action items, reminds them to the exercise routes' roles, and moves no alerting metric, so the
live figures say nothing of the exercise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from opel.actions import ActionPlan, PlanSource, plan_source
from opel.alerting import clock as plan_clock
from opel.alerting import duties as plan_duties
from opel.alerting import early_warning, engine, outputs
from opel.alerting.events import AssessmentBedPlacement, KeahReferrerTold
from opel.alerting.message import Vocabulary
from opel.alerting.notices import DutyNotice
from opel.alerting.records import AlertRecord, AnyRecord, Delivery, RunRecord
from opel.alerting.routing import RoutingConfig, RoutingError, load_routing
from opel.contracts.base import Contract
from opel.contracts.escalation import EscalationEvent
from opel.contracts.status import STATUS, AnyStatus
from opel.contracts.warning import WarningEvent
from opel.feeds import Acknowledge, ReferralEvent
from opel.validation_errors import field_problems, first_problem, join_problems
from streams import kafka_security, metrics, topics
from streams.alerting import item_desk, outbox
from streams.alerting.channels import Channels, SendResult
from streams.alerting.log_store import LogStore, State
from streams.alerting.scheduler import PlanClock, wall_clock_jobs
from streams.compacted import topic_partitions
from streams.kafka_security import PLAINTEXT, KafkaSecurity

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _problems(exc: ValidationError, model: Any) -> str:
    """Every problem of a refused message on one line, worded as everywhere else."""
    return join_problems(field_problems(exc, model=model), whole="(message)")


def _first_problem(exc: ValidationError, model: Any) -> str:
    """The first problem of a refused message (and how many more), worded as everywhere else."""
    path, problem = first_problem(field_problems(exc, model=model))
    return f"{path or '(message)'}: {problem}"


def _default_action_plan() -> ActionPlan:
    """The shipped action plan, for a service given none (tests, a service without a worker)."""
    from opel.actions_load import default_action_plan  # noqa: PLC0415  (reads YAML once, at start)

    return default_action_plan()


@dataclass(frozen=True, slots=True)
class AlertingTopics:
    """Topic names (from :mod:`streams.topics`); tests may point ``status`` at a private topic."""

    escalations: str = topics.ESCALATIONS
    commands: str = topics.COMMANDS
    referral_events: str = topics.REFERRAL_EVENTS
    status: str = topics.STATUS
    alerts: str = topics.ALERTS
    audit: str = topics.AUDIT
    action_items: str = topics.ACTION_ITEMS
    warnings: str = topics.WARNINGS
    notifications: str = topics.NOTIFICATIONS


class AlertingService:
    def __init__(
        self,
        *,
        bootstrap: str,
        routing: RoutingConfig,
        exercise_only: bool = False,
        clock: Callable[[], datetime] = utc_now,
        group_id: str = "opel-alerting",
        tick_seconds: float = 1.0,
        duties: bool = True,
        not_before: datetime | None = None,
        rng: random.Random | None = None,
        vocabulary: Vocabulary | None = None,
        topic_names: AlertingTopics | None = None,
        session_timeout_ms: int = 6000,
        action_plan: ActionPlan | PlanSource | None = None,
        routing_loader: Callable[[str | Path], RoutingConfig] = load_routing,
        security: KafkaSecurity = PLAINTEXT,
        isolation_level: str = "read_uncommitted",
        log_namespace: str | None = None,
        drain_seconds: float = 10.0,
    ) -> None:
        """``action_plan``: where a site's or system's message takes each role's actions, and
        whose version every message names. ``opel run`` passes a function returning the plan of
        the catalogue in force, so a catalogue reload changes what is sent; a fixed plan is used
        as it is, and none means the shipped plan. ``routing_loader`` reads the routing file on
        :meth:`routing_reload` (``opel run --demo`` shortens its grouping waits on every load).
        ``log_namespace`` (default ``group_id``) prefixes its records on the notification log: each
        exercise run has its own, so a scenario played again alerts and opens items afresh.
        ``drain_seconds``: how long :meth:`stop` waits for sends in flight to finish and be
        recorded (kept under the worker's 15 s per component)."""
        self.bootstrap = bootstrap
        self.security = security
        # read_committed where the worker writes in transactions (streams/delivery.py): an
        # escalation or status of a transaction a killed worker left open is never acted on.
        self.isolation_level = isolation_level
        self.routing = routing
        self._load_routing = routing_loader
        plan = action_plan if action_plan is not None else _default_action_plan()
        self._plan_source = plan_source(plan)
        self.exercise_only = exercise_only
        self.group_id = group_id
        self.log_namespace = log_namespace or group_id
        self.state = State()
        self.statuses: dict[str, AnyStatus] = {}
        self.decisions: deque[str] = deque(maxlen=2000)
        # Kept apart from the alert book: a later level change replaces an acked record, and an
        # exercise's report still counts the acknowledgement (streams/exercise/runner.py).
        self.acks: deque[AlertRecord] = deque(maxlen=2000)
        self._clock = clock
        self._tick_seconds = tick_seconds
        self._duties = duties and not exercise_only
        self._not_before = not_before
        self._rng = rng or random.Random()
        self._vocab = vocabulary or Vocabulary()
        self._topics = topic_names or AlertingTopics()
        self._session_timeout_ms = session_timeout_ms
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._in_flight: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._ticking: asyncio.Task[None] | None = None
        self._stopping = False
        self._drain_seconds = drain_seconds
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._status_consumer: AIOKafkaConsumer | None = None
        self._store: LogStore | None = None
        self._channels: Channels | None = None
        self._plan_clock: PlanClock | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._producer = kafka_security.producer(
            self.bootstrap, security=self.security, acks="all", linger_ms=2
        )
        await self._producer.start()
        self._store = LogStore(
            self._producer, self.bootstrap, self.log_namespace, self.security, self._topics.notifications
        )
        self.state = await self._store.load()
        self._decide(
            f"loaded {len(self.state.alerts)} alerts, {len(self.state.outbox)} deliveries, "
            f"{len(self.state.runs)} runs from the notification log"
        )
        # Say what is live, so nobody has to guess whether alerts go anywhere.
        log.warning("alerting on: %s", self.routing.describe())
        self._decide(f"alerting on: {self.routing.describe()}")
        self._channels = Channels(self.routing)
        self._consumer = kafka_security.consumer(
            self.bootstrap,
            self._topics.escalations,
            self._topics.commands,
            self._topics.referral_events,
            self._topics.warnings,
            security=self.security,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=1000,
            fetch_max_wait_ms=100,
            isolation_level=self.isolation_level,
        )
        await self._consumer.start()
        self._status_consumer = kafka_security.consumer(
            self.bootstrap,
            security=self.security,
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
            isolation_level=self.isolation_level,
        )
        await self._status_consumer.start()
        # Every partition of the status topic: consumer.topics() fills a copy of the metadata
        # that partitions_for_topic() never sees on Apache Kafka, which read partition 0 alone
        # (a quarter of the scopes' deadlines went unwatched). A topic not there yet is read
        # from partition 0, as before, once it appears.
        tps = await topic_partitions(self._status_consumer, self._topics.status) or [
            TopicPartition(self._topics.status, 0)
        ]
        self._status_consumer.assign(tps)
        await self._status_consumer.seek_to_beginning(*tps)
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._consume(), name="alerting-consume"),
            asyncio.create_task(self._follow_status(), name="alerting-status"),
        ]
        self._ticking = asyncio.create_task(self._ticker(), name="alerting-tick")
        if self._duties:
            self._plan_clock = PlanClock(self.routing.clock, self._wake.set)
            self._plan_clock.start()

    async def stop(self) -> None:
        """Stop reading, let the tick in progress finish its sends, then close.

        Cancelling a send after the mail server or webhook took the message but before its
        outcome reached the notification log would leave it pending, and the next instance
        would send it again: every deploy could repeat an alert to a duty manager. So input
        stops first (what was not committed is read again), the ticker runs no further tick,
        and the sends in flight get up to ``drain_seconds`` to finish and be recorded. Only a
        send still hanging then is cancelled (and sent again after the restart, at least once).
        """
        if self._plan_clock is not None:
            self._plan_clock.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._ticking is not None:
            self._stopping = True
            self._wake.set()
            _, pending = await asyncio.wait({self._ticking}, timeout=self._drain_seconds)
            if pending:
                log.warning(
                    "alerting: sends still in flight after %.0f s; they will be sent again on restart",
                    self._drain_seconds,
                )
                self._ticking.cancel()
                await asyncio.gather(self._ticking, return_exceptions=True)
            self._ticking = None
        for client in (self._consumer, self._status_consumer):
            if client is not None:
                await client.stop()
        if self._channels is not None:
            await self._channels.close()
        if self._producer is not None:
            await self._producer.stop()

    async def routing_reload(self, path: str | Path) -> bool:
        """Swap in a new routing file; a bad one is refused and the running config is kept."""
        try:
            config = self._load_routing(path)
        except RoutingError as exc:
            self._decide(f"routing reload refused, running config kept: {exc}")
            log.error("routing reload refused, running config kept: %s", exc)
            await self._publish(self._topics.audit, outputs.routing_audit(path, self._clock(), str(exc)))
            return False
        async with self._lock:
            self.routing = config
            if self._channels is not None:
                self._channels.routing = config
        self._decide(f"routing reloaded from {path}")
        await self._publish(self._topics.audit, outputs.routing_audit(path, self._clock()))
        return True

    @property
    def action_plan(self) -> ActionPlan:
        """The action plan in force now."""
        return self._plan_source()

    def keah_figures(self) -> tuple[int, int, int]:
        """(met, missed, open) for the KEaH 2-hour rule."""
        return plan_duties.keah_figures(self.state.keah.values(), self._clock())

    # ------------------------------------------------------------------ input
    async def _consume(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=500)
            if not batch:
                continue
            done: dict[TopicPartition, int] = {}
            async with self._lock:
                for tp, messages in batch.items():
                    for message in messages:
                        try:
                            await self._handle(message.topic, message.value)
                        except Exception:
                            # Most likely the log could not be written: read this message again
                            # rather than commit past an effect that was never recorded.
                            log.exception("alerting: failed to handle %s@%s; will retry", tp, message.offset)
                            self._consumer.seek(tp, message.offset)
                            break
                        done[tp] = message.offset + 1
            if done:
                await self._consumer.commit(done)
            if len(done) < len(batch):
                await asyncio.sleep(1.0)
            self._wake.set()

    async def _handle(self, topic: str, value: bytes | None) -> None:
        if value is None:
            return
        if topic == self._topics.escalations:
            await self._on_escalation(value)
        elif topic == self._topics.commands:
            await self._on_command(value)
        elif topic == self._topics.referral_events:
            await self._on_referral(value)
        elif topic == self._topics.warnings:
            await self._on_warning(value)

    async def _on_warning(self, value: bytes) -> None:
        """An opened early warning, to the indicator's owner if a warning route lists it."""
        try:
            event = WarningEvent.model_validate_json(value)
        except ValidationError as exc:
            log.error("alerting: warning refused, nobody told: %s", _problems(exc, WarningEvent))
            self._decide(f"warning refused: {_first_problem(exc, WarningEvent)}")
            return
        if self.exercise_only and not event.data.exercise:
            return
        notices = early_warning.warning_notices(event, self.routing, self._vocab)
        if notices:
            queued = await self._queue_duty(notices, self._clock())
            self._decide(f"early warning {event.data.warning_id} for {event.subject}: {queued} deliveries")

    async def _on_escalation(self, value: bytes) -> None:
        try:
            event = EscalationEvent.model_validate_json(value)
        except ValidationError as exc:
            log.error("alerting: escalation refused, no alert sent: %s", _problems(exc, EscalationEvent))
            self.count_refused("escalation")
            self._decide(f"escalation refused: {_first_problem(exc, EscalationEvent)}")
            return
        if self.exercise_only and not event.data.exercise:
            return
        now = self._clock()
        changes = engine.apply_escalation(
            event, self.routing, self.state.alerts, self.state.groups, now, self.action_plan
        )
        await self._save_changes(changes)
        await item_desk.on_escalation(self, event)
        await self._on_dos(event, now)

    async def _on_dos(self, event: EscalationEvent, now: datetime) -> None:
        """The NHS 111 DoS protocol: activation prompts steps (a) and (b) at once (plan 6.1)."""
        if self.exercise_only:
            return
        data = event.data
        record = plan_duties.dos_transition(data, self.routing.clock, self.state.dos.get(data.scope))
        if record is None:
            return
        if record.ended_at is None and self._duties:
            notice = plan_duties.dos_activation(
                record, self.routing.clock, self.routing.plan_calendar, self._vocab
            )
            await self._queue_duty([notice], now)
        await self._write([("dos", record.scope, record)])
        self.state.dos[record.scope] = record
        state = "ended" if record.ended_at is not None else "activated"
        self._decide(f"NHS 111 DoS protocol for {record.scope} {state} at {data.at.isoformat()}")

    async def _on_command(self, value: bytes) -> None:
        try:
            raw: Any = json.loads(value)
        except ValueError:
            return
        if not isinstance(raw, dict):
            return
        if raw.get("type") == "keah_referrer_told":
            await self._on_keah_told(raw)
            return
        if raw.get("type") == "assessment_bed":
            await self._on_placement(raw)
            return
        if raw.get("type") == "action_item":
            await item_desk.on_command(self, raw)
            return
        if raw.get("type") != "ack":
            return
        try:
            ack = Acknowledge.model_validate(raw)
        except ValidationError as exc:
            log.error("alerting: ack refused: %s", _problems(exc, Acknowledge))
            self.count_refused("ack")
            self._decide(f"ack refused: {_first_problem(exc, Acknowledge)}")
            return
        changes, reason = engine.apply_ack(ack.alert_id, ack.author, ack.at, self.state.alerts)
        await self._save_changes(changes)
        self.acks.extend(change.record for change in changes)
        self._decide(f"ack {ack.alert_id}: {reason}")
        await self._publish(self._topics.audit, outputs.ack_audit(ack, changes, reason))

    async def _on_keah_told(self, raw: dict[str, Any]) -> None:
        try:
            command = KeahReferrerTold.model_validate(raw)
        except ValidationError as exc:
            self.count_refused("ack")
            self._decide(f"KEaH confirmation refused: {_first_problem(exc, KeahReferrerTold)}")
            return
        record, reason = plan_duties.keah_confirmed(self.state.keah, command)
        if record is not None:
            await self._write([("keah", record.event_id, record)])
            self.state.keah[record.event_id] = record
        self._decide(f"KEaH {command.event_id}: {reason}")
        await self._publish(self._topics.audit, outputs.keah_told_audit(command, reason, record is not None))

    async def _on_placement(self, raw: dict[str, Any]) -> None:
        try:
            command = AssessmentBedPlacement.model_validate(raw)
        except ValidationError as exc:
            self.count_refused("ack")
            self._decide(f"assessment bed command refused: {_first_problem(exc, AssessmentBedPlacement)}")
            return
        record = plan_duties.placement_change(command, self.state.beds.get(command.placement_id))
        if record is None:
            return
        await self._write([("bed", record.placement_id, record)])
        self.state.beds[record.placement_id] = record
        self._decide(f"assessment bed {record.placement_id} {command.change} at {command.at.isoformat()}")

    async def _on_referral(self, value: bytes) -> None:
        try:
            event = ReferralEvent.model_validate_json(value)
        except ValidationError:
            return  # the worker dead-letters bad referral events; nothing for alerting to add
        referral = plan_duties.keah_referral(event, self.routing.clock, self.state.keah, self._vocab)
        if referral is None:
            return
        record = referral.record
        await self._queue_duty([referral.notice], self._clock())
        await self._write([("keah", record.event_id, record)])
        self.state.keah[record.event_id] = record

    async def _follow_status(self) -> None:
        assert self._status_consumer is not None
        while True:
            batch = await self._status_consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                for message in messages:
                    if message.value is None:
                        continue
                    try:
                        status = STATUS.validate_json(message.value)
                    except ValidationError as exc:
                        # Loud: a status alerting cannot read is one whose deadlines go unwatched.
                        log.error(
                            "alerting: status at %s@%s refused: %s",
                            message.topic,
                            message.offset,
                            _problems(exc, AnyStatus),
                        )
                        self.count_refused("status")
                        continue
                    self.statuses[status.scope] = status

    # ------------------------------------------------------------------ the tick
    async def _ticker(self) -> None:
        while not self._stopping:
            try:
                await self.tick()
            except Exception:
                log.exception("alerting tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._tick_seconds)
            self._wake.clear()

    async def tick(self) -> None:
        """Run every due stage once at ``clock()``, then send what is due."""
        now = self._clock()
        async with self._lock:
            await self._save_changes(
                engine.apply_policy(self.routing, self.state.alerts, self.state.groups, now)
            )
            vocab = replace(self._vocab, plan_version=self.action_plan.version)
            for flush in engine.plan_flushes(self.routing, self.state.alerts, now, vocab):
                fresh = engine.fresh_deliveries(flush, self.state.outbox)
                await self._write(("outbox", d.delivery_id, d) for d in fresh)
                await self._save_alerts(flush.records)
                await self._write([("group", flush.group, flush.group_record)])
                for d in fresh:
                    self.state.outbox[d.delivery_id] = d
                self.state.groups[flush.group] = flush.group_record
                self._decide(f"flush {flush.group} to {flush.role}: {len(fresh)} deliveries; {flush.reason}")
            if self._duties:
                await self._run_duties(now)
            if self._duties or self.exercise_only:
                await item_desk.remind(self, now)
            due = outbox.due(self.state.outbox.values(), now, self._in_flight)
            self._in_flight.update(d.delivery_id for d in due)
        if due:
            await asyncio.gather(*(self._deliver(d) for d in due))

    async def _deliver(self, delivery: Delivery) -> None:
        assert self._channels is not None
        try:
            try:
                result = await self._channels.send(delivery)
            except Exception as exc:  # a channel bug is a failed send, retried like any other
                result = SendResult(False, True, f"{type(exc).__name__}: {exc}")
            async with self._lock:
                await self._record_outcome(delivery, result)
        except Exception:
            # The outcome could not be recorded: the delivery stays pending on the log and
            # in memory, so it is sent again (at least once) on a later tick or after a restart.
            log.exception("alerting: could not record the outcome of %s", delivery.delivery_id)
        finally:
            self._in_flight.discard(delivery.delivery_id)

    async def _record_outcome(self, delivery: Delivery, result: SendResult) -> None:
        now = self._clock()
        updated, reason = outbox.outcome(delivery, result, now, self.routing.retry, self._rng)
        await self._write([("outbox", updated.delivery_id, updated)])
        self.state.outbox[updated.delivery_id] = updated
        channel = self.routing.channels.get(delivery.channel)
        if not self.exercise_only:
            metrics.record_alert(getattr(channel, "type", "other"), "sent" if result.ok else "failed")
        self._decide(
            f"delivery {delivery.delivery_id} to {delivery.contact} via {delivery.channel}: {reason}"
        )
        await self._publish(self._topics.alerts, outputs.alert_delivery(updated, reason, now))
        told = plan_duties.keah_alerted(self.state.keah.values(), updated, now)
        await self._write(("keah", record.event_id, record) for record in told)
        for record in told:
            self.state.keah[record.event_id] = record

    async def _run_duties(self, now: datetime) -> None:
        config = self.routing.clock
        done = set(self.state.runs)
        for job, instant in plan_clock.due_runs(
            now, wall_clock_jobs(config), done, config.zone, self._not_before
        ):
            notices = plan_duties.job_notices(
                job,
                instant,
                self.statuses,
                self.keah_figures(),
                config,
                self._vocab,
                self.routing.plan_calendar,
            )
            if job == "daily":
                await self._publish(self._topics.alerts, outputs.daily_snapshot(self.statuses, instant))
            queued = await self._queue_duty(notices, now)
            run = RunRecord(job=job, instant=instant, ran_at=now, outcome=f"{queued} deliveries")
            key = plan_clock.run_key(job, instant)
            await self._write([("run", key, run)])
            self.state.runs[key] = run
            self._decide(f"clock job {job} for {instant.isoformat()}: {run.outcome}")
        elapsed = plan_duties.elapsed_notices(
            self.statuses,
            now,
            config,
            self._vocab,
            dos=self.state.dos.values(),
            placements=self.state.beds.values(),
            calendar=self.routing.plan_calendar,
        )
        await self._queue_duty(elapsed, now)

    async def _queue_duty(self, notices: Iterable[DutyNotice], now: datetime) -> int:
        fresh = plan_duties.duty_deliveries(notices, self.routing, self.state.outbox, now)
        await self._write(("outbox", f.delivery.delivery_id, f.delivery) for f in fresh)
        for f in fresh:
            self.state.outbox[f.delivery.delivery_id] = f.delivery
            self._decide(f.reason)
        return len(fresh)

    # ------------------------------------------------------------------ output
    async def _save_changes(self, changes: list[engine.Change]) -> None:
        await self._save_alerts([c.record for c in changes])
        for change in changes:
            self._decide(f"{change.record.key}: {change.reason}")

    async def _save_alerts(self, records: Iterable[AlertRecord]) -> None:
        """Write alert records; a closed one is deleted instead (a tombstone), here and on the log.

        A closed alert owes nobody anything, and kept it would be read on every start for ever.
        The engine treats no record like a closed one, bar two things it no longer has: the
        recipients of the closed alert (a new alert of the scope tells whoever is on duty then)
        and its event time, which kept a replayed older escalation from opening the alert again.
        Such a replay re-creates the alert with the same deterministic ids, and the outbox, which
        keeps every delivery, sends none of its notices twice.
        """
        latest = {r.key: r for r in records}  # one batch may change a record more than once
        kept = [r for r in latest.values() if r.status != "closed"]
        closed = [key for key, r in latest.items() if r.status == "closed"]
        await self._write(("alert", r.key, r) for r in kept)
        assert self._store is not None
        await self._store.delete("alert", closed)
        for record in kept:
            self.state.alerts[record.key] = record
        for key in closed:
            self.state.alerts.pop(key, None)

    async def _write(self, items: Iterable[tuple[str, str, AnyRecord]]) -> None:
        assert self._store is not None
        await self._store.write(list(items))

    async def _publish(self, topic: str, message: outputs.Keyed[Contract]) -> None:
        """Write one contract message, encoded by its model, and wait for the broker."""
        if self._producer is None:
            return
        await self._producer.send_and_wait(topic, key=message.key.encode(), value=message.value.to_json())

    def count_refused(self, what: str) -> None:
        """Count a refused input on the live metrics; an exercise's own are only logged."""
        if not self.exercise_only:
            metrics.record_alerting_refused(what)

    def _decide(self, text: str) -> None:
        log.info("alerting: %s", text)
        self.decisions.append(text)
