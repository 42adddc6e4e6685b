"""An in-memory picture of every scope's level, rebuilt from the status and audit topics.

The API and the status board read from here instead of asking the worker: ``opel.status.v1``
is compacted (latest value per scope) and is read from the beginning on every start, so the
view needs no state of its own. ``opel.audit.v1`` feeds a short per-scope history.

:class:`StatusState` holds the data and is plain synchronous code with time passed in, so it is
tested without a broker. :class:`StatusView` is the asyncio shell that feeds it from Kafka and
tells subscribers (the SSE stream) about every change.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from streams.tasks import cancel_and_wait
from streams.topics import AUDIT, STATUS

__all__ = [
    "HISTORY_LIMIT",
    "HISTORY_WINDOW",
    "ActiveOverride",
    "StatusState",
    "StatusView",
    "Subscription",
    "SubscriptionClosedError",
    "parse_time",
]

log = logging.getLogger(__name__)

HISTORY_LIMIT: Final = 1_000
HISTORY_WINDOW: Final = dt.timedelta(days=7)
SUBSCRIBER_QUEUE: Final = 1_000
_BATCH_RECORDS: Final = 500
_POLL_MS: Final = 500
_RETRY_SECONDS: Final = 1.0

StatusHook = Callable[[dict[str, Any]], None]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_time(value: object) -> dt.datetime | None:
    """An aware datetime from an RFC 3339 string in a record, or None if absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


@dataclass(frozen=True, slots=True)
class ActiveOverride:
    """An override in force on one scope, as the status record carries it."""

    scope: str
    id: str
    level: int | None
    author: str | None
    reason: str | None
    at: str | None
    expires_at: str | None
    declaration: bool
    status: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        status = self.status
        return {
            "id": self.id,
            "scope": self.scope,
            "level": self.level,
            "author": self.author,
            "reason": self.reason,
            "at": self.at,
            "expires_at": self.expires_at,
            "declaration": self.declaration,
            "computed_level": status.get("computed_level"),
            "state_level": status.get("state_level"),
        }


@dataclass(slots=True)
class StatusState:
    """Latest status per scope, bounded history per scope, and the overrides in force.

    History keeps at most ``history_limit`` entries per scope and nothing older than
    ``history_window`` before the ``now`` given to :meth:`apply_audit` or :meth:`history`.
    """

    history_limit: int = HISTORY_LIMIT
    history_window: dt.timedelta = HISTORY_WINDOW
    _statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    _history: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)

    def apply_status(self, scope: str, value: dict[str, Any] | None) -> bool:
        """Record a status value (None is a tombstone); True if what the view holds changed."""
        if value is None:
            return self._statuses.pop(scope, None) is not None
        if self._statuses.get(scope) == value:
            return False
        self._statuses[scope] = value
        return True

    def apply_audit(self, record: Mapping[str, Any], now: dt.datetime) -> str | None:
        """Add an audit record to its scope's history; returns the scope, or None if ignored."""
        scope = record.get("scope")
        if not isinstance(scope, str) or not scope:
            return None
        entries = self._history.get(scope)
        if entries is None:
            entries = self._history[scope] = deque(maxlen=self.history_limit)
        entries.append(dict(record))
        self._prune(entries, now)
        return scope

    def _prune(self, entries: deque[dict[str, Any]], now: dt.datetime) -> None:
        oldest = now - self.history_window
        # Audit records arrive roughly in time order per partition, so the old ones are at the left.
        while entries:
            at = parse_time(entries[0].get("at"))
            if at is None or at >= oldest:
                break
            entries.popleft()

    def statuses(self) -> list[dict[str, Any]]:
        return [self._statuses[scope] for scope in sorted(self._statuses)]

    def status(self, scope: str) -> dict[str, Any] | None:
        return self._statuses.get(scope)

    def knows(self, scope: str) -> bool:
        return scope in self._statuses or bool(self._history.get(scope))

    def history(self, scope: str, now: dt.datetime, since: dt.datetime | None = None) -> list[dict[str, Any]]:
        """The scope's history, oldest first, within the window and at or after ``since``."""
        oldest = now - self.history_window
        if since is not None and since > oldest:
            oldest = since
        kept: list[dict[str, Any]] = []
        for entry in self._history.get(scope, ()):
            at = parse_time(entry.get("at"))
            if at is not None and at >= oldest:
                kept.append(entry)
        kept.sort(key=lambda entry: str(entry.get("at")))
        return kept

    def active_overrides(self, now: dt.datetime) -> list[ActiveOverride]:
        """Overrides named by status values and not yet expired at ``now``, by scope."""
        found: list[ActiveOverride] = []
        for scope in sorted(self._statuses):
            status = self._statuses[scope]
            override = status.get("override")
            if not isinstance(override, dict) or not isinstance(override.get("id"), str):
                continue
            expires = parse_time(override.get("expires_at"))
            # The worker republishes on expiry; until that record arrives, do not show a dead override.
            if expires is not None and expires <= now:
                continue
            level = override.get("level")
            found.append(
                ActiveOverride(
                    scope=scope,
                    id=override["id"],
                    level=level if isinstance(level, int) else None,
                    author=_text(override.get("author")),
                    reason=_text(override.get("reason")),
                    at=_text(override.get("at")),
                    expires_at=_text(override.get("expires_at")),
                    declaration=override.get("declaration") is True,
                    status=status,
                )
            )
        return found

    def find_override(self, override_id: str, now: dt.datetime) -> ActiveOverride | None:
        for override in self.active_overrides(now):
            if override.id == override_id:
                return override
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


class SubscriptionClosedError(Exception):
    """The view stopped, or the subscriber fell so far behind that changes were dropped."""


class Subscription:
    """One subscriber's queue of changes. Close it (or use it as a context manager) when done."""

    def __init__(self, view: StatusView, maxsize: int) -> None:
        self._view = view
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=maxsize)
        self.closed = False

    def _offer(self, change: dict[str, Any]) -> bool:
        """Queue a change; on overflow the subscriber is cut off and must re-read the whole view."""
        if self.closed:
            return False
        try:
            self._queue.put_nowait(change)
        except asyncio.QueueFull:
            self._end()
            return False
        return True

    def _end(self) -> None:
        self.closed = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next change, or None if ``timeout`` passes first; SubscriptionClosedError when cut off."""
        try:
            change = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if change is None:
            self._queue.put_nowait(None)  # later calls see the end too
            raise SubscriptionClosedError("status view subscription closed")
        return change

    def close(self) -> None:
        self._view._unsubscribe(self)
        if not self.closed:
            self._end()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _metrics_hook() -> StatusHook | None:
    """``streams.metrics.apply_status`` if that module is installed; the view works without it."""
    try:
        module = importlib.import_module("streams.metrics")
    except ImportError:
        return None
    hook = getattr(module, "apply_status", None)
    return hook if callable(hook) else None


class StatusView:
    """Consumes the status and audit topics (all partitions, no consumer group) into memory."""

    def __init__(
        self,
        bootstrap: str,
        *,
        status_topic: str = STATUS,
        audit_topic: str = AUDIT,
        history_limit: int = HISTORY_LIMIT,
        history_window: dt.timedelta = HISTORY_WINDOW,
        clock: Callable[[], dt.datetime] = utc_now,
        status_hook: StatusHook | None = None,
        use_metrics: bool = True,
        client_id: str = "opel-status-view",
    ) -> None:
        """``status_hook`` sees every status value; without one, ``streams.metrics.apply_status``
        does (when that module exists and ``use_metrics`` is true)."""
        self.bootstrap = bootstrap
        self.status_topic = status_topic
        self.audit_topic = audit_topic
        self.state = StatusState(history_limit=history_limit, history_window=history_window)
        self._clock = clock
        self._hook: StatusHook | None = status_hook or (_metrics_hook() if use_metrics else None)
        self._client_id = client_id
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._caught_up = asyncio.Event()
        self._subscribers: set[Subscription] = set()
        self._sequence = 0
        self.records_seen = 0
        self.records_rejected = 0

    # ------------------------------------------------------------------ reading
    def now(self) -> dt.datetime:
        return self._clock()

    @property
    def caught_up(self) -> bool:
        """True once everything that was in both topics at start has been read."""
        return self._caught_up.is_set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def statuses(self) -> list[dict[str, Any]]:
        return self.state.statuses()

    def status(self, scope: str) -> dict[str, Any] | None:
        return self.state.status(scope)

    def knows(self, scope: str) -> bool:
        return self.state.knows(scope)

    def history(self, scope: str, since: dt.datetime | None = None) -> list[dict[str, Any]]:
        return self.state.history(scope, self._clock(), since)

    def active_overrides(self) -> list[ActiveOverride]:
        return self.state.active_overrides(self._clock())

    def find_override(self, override_id: str) -> ActiveOverride | None:
        return self.state.find_override(override_id, self._clock())

    # ------------------------------------------------------------------ subscribers
    def subscribe(self, maxsize: int = SUBSCRIBER_QUEUE) -> Subscription:
        subscription = Subscription(self, maxsize)
        self._subscribers.add(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    async def changes(self) -> AsyncIterator[dict[str, Any]]:
        """Every change from now on, until the view stops or this subscriber falls too far behind."""
        with self.subscribe() as subscription:
            while True:
                try:
                    change = await subscription.get()
                except SubscriptionClosedError:
                    return
                if change is not None:
                    yield change

    def _publish(self, change: dict[str, Any]) -> None:
        self._sequence += 1
        change["sequence"] = self._sequence
        for subscription in list(self._subscribers):
            if not subscription._offer(change):
                self._subscribers.discard(subscription)

    # ------------------------------------------------------------------ applying records
    def apply_status_record(self, key: str | None, value: dict[str, Any] | None) -> None:
        """Apply one ``opel.status.v1`` record (also used by tests that have no broker)."""
        scope = key if key else (value or {}).get("scope")
        if not isinstance(scope, str) or not scope:
            self.records_rejected += 1
            return
        if value is not None and self._hook is not None:
            try:
                self._hook(value)
            except Exception:  # metrics must never stop the board from updating
                log.exception("metrics hook failed for status of %s", scope)
        if self.state.apply_status(scope, value):
            self._publish({"type": "status", "scope": scope, "status": value})

    def apply_audit_record(self, value: dict[str, Any]) -> None:
        scope = self.state.apply_audit(value, self._clock())
        if scope is not None:
            self._publish({"type": "audit", "scope": scope, "audit": value})

    def _apply(self, record: ConsumerRecord[bytes, bytes]) -> None:
        self.records_seen += 1
        key = record.key.decode("utf-8", "replace") if record.key is not None else None
        value: Any = None
        if record.value is not None:
            try:
                value = json.loads(record.value)
            except (ValueError, UnicodeDecodeError):
                value = None
            if not isinstance(value, dict):
                self.records_rejected += 1
                log.warning(
                    "skipping %s[%d]@%d: not a JSON object", record.topic, record.partition, record.offset
                )
                return
        if record.topic == self.status_topic:
            self.apply_status_record(key, value)
        elif value is not None:
            self.apply_audit_record(value)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connect and start reading both topics from the beginning. Returns once connected."""
        if self.running:
            return
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=self._client_id,
        )
        await consumer.start()
        try:
            partitions = await self._partitions(consumer, (self.status_topic, self.audit_topic))
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._caught_up.clear()
        self._task = asyncio.create_task(self._run(consumer, ends), name="status-view")

    async def _partitions(self, consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
        found: list[TopicPartition] = []
        for topic in topics:
            await consumer.topics()  # refreshes cluster metadata
            numbers = consumer.partitions_for_topic(topic)
            if not numbers:
                raise RuntimeError(f"topic {topic} does not exist on {self.bootstrap}")
            found.extend(TopicPartition(topic, number) for number in sorted(numbers))
        return found

    async def _run(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        pending = {tp: end for tp, end in ends.items() if end > 0}
        if not pending:
            self._caught_up.set()
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=_POLL_MS, max_records=_BATCH_RECORDS)
                for records in batches.values():
                    for record in records:
                        self._apply(record)
                if pending:
                    for tp in list(pending):
                        if await consumer.position(tp) >= pending[tp]:
                            del pending[tp]
                    if not pending:
                        log.info("status view caught up (%d records)", self.records_seen)
                        self._caught_up.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                # aiokafka reconnects by itself; a failure here is logged and the loop carries on.
                log.exception("status view: error while consuming; retrying")
                await asyncio.sleep(_RETRY_SECONDS)

    async def wait_caught_up(self, timeout: float) -> None:
        """Wait until the view holds everything the topics held at start; TimeoutError if not."""
        await asyncio.wait_for(self._caught_up.wait(), timeout)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
        for subscription in list(self._subscribers):
            subscription._end()
        self._subscribers.clear()
