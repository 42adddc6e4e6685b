"""An in-memory picture of every scope's level, rebuilt from the status and audit topics.

The API and the status board read from here instead of asking the worker: ``opel.status.v1``
is compacted (latest value per scope) and is read from the beginning on every start, so the
view needs no state of its own. ``opel.audit.v1`` feeds a short per-scope history (and the KEaH
referrals alerting has audited a "referrer told" for, which have no scope), and
``opel.alerts.v1`` the alert ids alerting has told people about (what an ack may name), and the
compacted ``opel.action-items.v1`` each action item as it stands, and ``opel.warnings.v1`` the
latest step of each indicator's early warning (the open ones are what GET /warnings and the
board's arrows show).

The status values also feed each area's, county's and system's *timeline*: the changes of its
level in force over the last :data:`TIMELINE_WINDOW` (at most :data:`TIMELINE_LIMIT` changes per
scope), which the board draws as a strip. The topic is read from its start, so the timeline
holds whatever values the broker still has: every value on a topic not yet compacted, and at
least the latest one (its level since ``since``) after compaction.

Every value is validated with its contract (:data:`opel.contracts.status.STATUS`,
:class:`opel.contracts.audit.AuditRecord`). A value the contract refuses is logged as an error
and counted in :attr:`StatusView.records_refused` (and in ``opel_status_view_refused_total``),
never held or shown.

:class:`StatusState` holds the data and is plain synchronous code with time passed in, so it is
tested without a broker. :class:`StatusView` is the asyncio shell that feeds it from Kafka and
tells subscribers (the SSE stream) about every change.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import logging
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from opel.alerting.engine import ACK_PREFIX
from opel.contracts.action_item import ActionItem
from opel.contracts.alert import ALERT_MESSAGE, AlertDelivery
from opel.contracts.audit import AuditRecord
from opel.contracts.status import STATUS as STATUS_CONTRACT
from opel.contracts.status import AnyStatus
from opel.contracts.warning import WarningEvent
from opel.feeds import Override
from opel.validation_errors import field_problems, join_problems
from streams import kafka_security
from streams.compacted import read_to_end, topic_partitions
from streams.kafka_security import PLAINTEXT, KafkaSecurity
from streams.tasks import cancel_and_wait
from streams.topics import ACTION_ITEMS, ALERTS, AUDIT, STATUS, WARNINGS

__all__ = [
    "HISTORY_LIMIT",
    "HISTORY_WINDOW",
    "KEAH_TOLD_RULE",
    "TIMELINE_KINDS",
    "TIMELINE_LIMIT",
    "TIMELINE_WINDOW",
    "ActiveOverride",
    "LevelChange",
    "StatusState",
    "StatusView",
    "Subscription",
    "SubscriptionClosedError",
    "audit_json",
    "status_json",
    "warning_json",
]

log = logging.getLogger(__name__)

HISTORY_LIMIT: Final = 1_000
HISTORY_WINDOW: Final = dt.timedelta(days=7)
TIMELINE_WINDOW: Final = dt.timedelta(hours=24)
TIMELINE_LIMIT: Final = 500
"""Level changes kept per scope: a change every three minutes for a whole day."""
KEAH_TOLD_RULE: Final = "keah_referrer_told"
"""The rule of alerting's audit record of an organiser's KEaH "referrer told" (plan 7.6)."""
TIMELINE_KINDS: Final = frozenset({"area", "county", "system"})
"""The kinds of scope whose level changes the view keeps (a handful of scopes, not every indicator)."""
SUBSCRIBER_QUEUE: Final = 1_000
_BATCH_RECORDS: Final = 500
_POLL_MS: Final = 500
_RETRY_SECONDS: Final = 1.0
_ERROR_SHOWN: Final = 500
"""How much of an invalid error message is logged: enough to see the fields at fault."""

StatusHook = Callable[[dict[str, Any]], None]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def status_json(status: AnyStatus) -> dict[str, Any]:
    """A status as the API and the event stream send it: the contract's JSON, ``None`` fields kept."""
    return status.model_dump(mode="json")


WITHHELD_INPUT_KEYS: Final = frozenset({"ref"})
"""Input fields the API never shows: a referral event's ``ref`` names a case in the source
system, which the open ``/history`` endpoint has no business passing on."""


def _withheld(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _withheld(v) for k, v in value.items() if k not in WITHHELD_INPUT_KEYS}
    if isinstance(value, list):
        return [_withheld(item) for item in value]
    return value


def warning_json(event: WarningEvent) -> dict[str, Any]:
    """A warning as GET /warnings and the event stream send it: the CloudEvent's JSON."""
    return event.model_dump(mode="json")


def audit_json(record: AuditRecord) -> dict[str, Any]:
    """An audit record as the API shows it: the contract's JSON without a referral's ``ref``.

    The input is walked to any depth, so a ``ref`` nested in it (an event inside a command,
    say) is withheld too.
    """
    shown = record.model_dump(mode="json")
    if shown.get("input") is not None:
        shown["input"] = _withheld(shown["input"])
    return shown


@dataclass(frozen=True, slots=True)
class ActiveOverride:
    """An override in force on one scope, as the status value carries it."""

    override: Override
    status: AnyStatus

    @property
    def id(self) -> str:
        return self.override.id

    @property
    def scope(self) -> str:
        return self.status.scope

    @property
    def level(self) -> int:
        return self.override.level

    @property
    def declaration(self) -> bool:
        return self.override.declaration

    def as_json(self) -> dict[str, Any]:
        override = self.override.model_dump(mode="json")
        return {
            "id": override["id"],
            "scope": self.scope,
            "level": override["level"],
            "author": override["author"],
            "reason": override["reason"],
            "at": override["at"],
            "expires_at": override["expires_at"],
            "declaration": override["declaration"],
            "computed_level": self.status.computed_level,
            "state_level": self.status.state_level,
        }


@dataclass(frozen=True, slots=True)
class LevelChange:
    """From ``at`` on, the scope's level in force was ``level`` (None: not assessed)."""

    at: dt.datetime
    level: int | None

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "level": self.level}


@dataclass(slots=True)
class StatusState:
    """Latest status per scope, bounded history per scope, and the overrides in force.

    Holds contract models only (:data:`opel.contracts.status.Status`, :class:`AuditRecord`): what
    does not validate never gets here. History keeps at most ``history_limit`` entries per scope
    and nothing older than ``history_window`` before the ``now`` given to :meth:`apply_audit` or
    :meth:`history`. The timeline of each scope of :data:`TIMELINE_KINDS` keeps at most
    ``timeline_limit`` level changes, and of those before ``timeline_window`` only the latest
    (the level in force when the window opens).
    """

    history_limit: int = HISTORY_LIMIT
    history_window: dt.timedelta = HISTORY_WINDOW
    timeline_limit: int = TIMELINE_LIMIT
    timeline_window: dt.timedelta = TIMELINE_WINDOW
    _statuses: dict[str, AnyStatus] = field(default_factory=dict)
    _history: dict[str, deque[AuditRecord]] = field(default_factory=dict)
    _levels: dict[str, deque[LevelChange]] = field(default_factory=dict)
    _alerts: OrderedDict[str, dt.datetime] = field(default_factory=OrderedDict)
    """Alert id -> time of its latest delivery, oldest first."""
    _items: dict[str, ActionItem] = field(default_factory=dict)
    _keah_told: dict[str, dt.datetime] = field(default_factory=dict)
    """KEaH referral event id -> when an organiser's "referrer told" was first audited."""
    _warnings: dict[str, WarningEvent] = field(default_factory=dict)
    """Indicator scope -> the latest step of its early warning (only open ones are shown)."""

    def apply_warning(self, event: WarningEvent) -> bool:
        """Hold a warning's latest step; True if the open warnings changed. A step older than the
        one held (a replayed partition) is ignored."""
        held = self._warnings.get(event.subject)
        if held is not None and (held.time > event.time or held == event):
            return False
        self._warnings[event.subject] = event
        return True

    def open_warnings(self) -> list[WarningEvent]:
        """The open warnings, by scope."""
        return [w for _, w in sorted(self._warnings.items()) if w.data.status == "open"]

    def apply_status(self, scope: str, value: AnyStatus | None, now: dt.datetime | None = None) -> bool:
        """Record a status value (None is a tombstone); True if what the state holds changed.

        ``now`` (default: the value's ``updated_at``) prunes the scope's timeline."""
        if value is None:
            self._levels.pop(scope, None)
            return self._statuses.pop(scope, None) is not None
        if self._statuses.get(scope) == value:
            return False
        self._statuses[scope] = value
        if value.kind in TIMELINE_KINDS:
            self._record_level(scope, value, value.updated_at if now is None else now)
        return True

    def _record_level(self, scope: str, value: AnyStatus, now: dt.datetime) -> None:
        """Add a change of the level in force to the scope's timeline.

        The change is dated ``since`` (when the level in force began) unless that is before the
        last change kept: an override withdrawn or expired gives back the escalation state's
        level with the state's older ``since``, and then the change is the value's ``updated_at``.
        """
        entries = self._levels.get(scope)
        if entries is None:
            entries = self._levels[scope] = deque(maxlen=self.timeline_limit)
        last = entries[-1] if entries else None
        if last is not None and last.level == value.level:
            return
        at = value.since if value.since is not None else value.updated_at
        if last is not None and at < last.at:
            at = max(value.updated_at, last.at)
        if last is not None and last.at == at:
            entries.pop()  # two values at one instant: the later one stands
            if entries and entries[-1].level == value.level:
                return
        entries.append(LevelChange(at=at, level=value.level))
        self._prune_levels(entries, now)

    def _prune_levels(self, entries: deque[LevelChange], now: dt.datetime) -> None:
        opens = now - self.timeline_window
        while len(entries) > 1 and entries[1].at <= opens:
            entries.popleft()

    def timeline(self, scope: str, now: dt.datetime) -> list[LevelChange]:
        """The scope's level changes, oldest first: the level in force when the window (ending at
        ``now``) opened, dated when it began, then every change since. Empty if none is known."""
        entries = self._levels.get(scope)
        if not entries:
            return []
        self._prune_levels(entries, now)
        return list(entries)

    def timelines(self, now: dt.datetime) -> dict[str, list[LevelChange]]:
        """Every timeline the state keeps, by scope."""
        return {scope: self.timeline(scope, now) for scope in sorted(self._levels) if self._levels[scope]}

    def apply_audit(self, record: AuditRecord, now: dt.datetime) -> str | None:
        """Add an audit record to its scope's history; returns the scope, or None if it has none."""
        self._note_keah_told(record, now)
        scope = record.scope
        if not scope:
            return None
        entries = self._history.get(scope)
        if entries is None:
            entries = self._history[scope] = deque(maxlen=self.history_limit)
        entries.append(record)
        self._prune(entries, now)
        return scope

    def _note_keah_told(self, record: AuditRecord, now: dt.datetime) -> None:
        # Alerting audits a KEaH confirmation with no scope (the command names only the event),
        # so it is kept here rather than in a history. Any audited confirmation counts, also one
        # alerting had no clock for or had already recorded: the organiser has told the referrer.
        if record.decision != "ack" or record.rule != KEAH_TOLD_RULE or record.input is None:
            return
        event_id = record.input.get("event_id")
        if isinstance(event_id, str):
            first = self._keah_told.get(event_id)
            self._keah_told[event_id] = record.at if first is None else min(first, record.at)
        oldest = now - self.history_window
        for known, at in list(self._keah_told.items()):
            if at < oldest:
                del self._keah_told[known]

    def keah_told(self, event_id: str) -> bool:
        """Whether alerting has audited an organiser's "referrer told" for KEaH referral ``event_id``."""
        return event_id in self._keah_told

    def _prune(self, entries: deque[AuditRecord], now: dt.datetime) -> None:
        oldest = now - self.history_window
        # Audit records arrive roughly in time order per partition, so the old ones are at the left.
        while entries and entries[0].at < oldest:
            entries.popleft()

    def apply_alert(self, delivery: AlertDelivery, now: dt.datetime) -> None:
        """Remember the alert ids a delivery told someone about (a duty notice has none to ack)."""
        if delivery.kind != "duty":
            for alert_id in delivery.alert_ids:
                self._alerts[alert_id] = max(delivery.at, self._alerts.get(alert_id, delivery.at))
                self._alerts.move_to_end(alert_id)
        oldest = now - self.history_window
        # A firing alert is repeated every few hours, so one silent for the window is long over.
        while self._alerts:
            first, at = next(iter(self._alerts.items()))
            if at >= oldest:
                break
            del self._alerts[first]

    def knows_alert(self, alert_id: str, now: dt.datetime) -> bool:
        """Whether an ack may name ``alert_id``: a whole id, or (as phones show them) its first
        :data:`~opel.alerting.engine.ACK_PREFIX` or more characters, as alerting reads an ack."""
        oldest = now - self.history_window
        at = self._alerts.get(alert_id)
        if at is not None:
            return at >= oldest
        if len(alert_id) < ACK_PREFIX:
            return False
        prefix = alert_id.lower()
        return any(known.startswith(prefix) and at >= oldest for known, at in self._alerts.items())

    def apply_item(self, item: ActionItem) -> None:
        """Hold an action item as it now stands."""
        self._items[item.id] = item

    def items(self) -> list[ActionItem]:
        """Every action item held, oldest first."""
        return sorted(self._items.values(), key=lambda item: (item.opened_at, item.scope, item.role, item.id))

    def item(self, item_id: str) -> ActionItem | None:
        return self._items.get(item_id)

    def audit_between(self, start: dt.datetime, end: dt.datetime) -> list[AuditRecord]:
        """Every audit record held, of any scope, with ``start <= at < end``, oldest first."""
        found = [r for entries in self._history.values() for r in entries if start <= r.at < end]
        found.sort(key=lambda record: (record.at, record.id))
        return found

    def scopes(self) -> frozenset[str]:
        """Every scope with a status or a history."""
        return frozenset(self._statuses) | frozenset(scope for scope, kept in self._history.items() if kept)

    def statuses(self) -> list[AnyStatus]:
        return [self._statuses[scope] for scope in sorted(self._statuses)]

    def status(self, scope: str) -> AnyStatus | None:
        return self._statuses.get(scope)

    def knows(self, scope: str) -> bool:
        return scope in self._statuses or bool(self._history.get(scope))

    def history(self, scope: str, now: dt.datetime, since: dt.datetime | None = None) -> list[AuditRecord]:
        """The scope's history, oldest first, within the window and at or after ``since``."""
        oldest = now - self.history_window
        if since is not None and since > oldest:
            oldest = since
        kept = [entry for entry in self._history.get(scope, ()) if entry.at >= oldest]
        kept.sort(key=lambda entry: entry.at)
        return kept

    def active_overrides(self, now: dt.datetime) -> list[ActiveOverride]:
        """Overrides named by status values and not yet expired at ``now``, by scope."""
        found: list[ActiveOverride] = []
        for scope in sorted(self._statuses):
            status = self._statuses[scope]
            override = status.override
            # The worker republishes on expiry; until that value arrives, do not show a dead override.
            if override is None or override.expires_at <= now:
                continue
            found.append(ActiveOverride(override=override, status=status))
        return found

    def find_override(self, override_id: str, now: dt.datetime) -> ActiveOverride | None:
        for override in self.active_overrides(now):
            if override.id == override_id:
                return override
        return None


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


def _errors(exc: ValidationError, model: Any) -> str:
    """The contract's complaint, every field on one line, cut to a readable length."""
    text = join_problems(field_problems(exc, model=model), whole="(value)")
    return text if len(text) <= _ERROR_SHOWN else text[:_ERROR_SHOWN] + "…"


def _metrics_function(name: str) -> Callable[[Any], None] | None:
    """``streams.metrics.<name>`` if that module is installed; the view works without it."""
    try:
        module = importlib.import_module("streams.metrics")
    except ImportError:
        return None
    function = getattr(module, name, None)
    return function if callable(function) else None


class StatusView:
    """Consumes the status, audit and alerts topics (all partitions, no consumer group) into memory."""

    def __init__(
        self,
        bootstrap: str,
        *,
        status_topic: str = STATUS,
        audit_topic: str = AUDIT,
        alerts_topic: str | None = ALERTS,
        items_topic: str | None = ACTION_ITEMS,
        warnings_topic: str | None = WARNINGS,
        history_limit: int = HISTORY_LIMIT,
        history_window: dt.timedelta = HISTORY_WINDOW,
        clock: Callable[[], dt.datetime] = utc_now,
        status_hook: StatusHook | None = None,
        use_metrics: bool = True,
        client_id: str = "opel-status-view",
        security: KafkaSecurity = PLAINTEXT,
        isolation_level: str = "read_uncommitted",
    ) -> None:
        """``status_hook`` sees every status value; without one, ``streams.metrics.apply_status``
        does (when that module exists and ``use_metrics`` is true). With ``use_metrics``, refused
        values are also counted in ``opel_status_view_refused_total{input}``. ``alerts_topic``
        None: no alerts are read, so :meth:`knows_alert` knows none; ``items_topic`` None: no
        action items are read. ``isolation_level`` read_committed where the worker writes in
        transactions (streams/delivery.py), so the board never shows what a killed worker left
        in a transaction that is then aborted."""
        self.bootstrap = bootstrap
        self.isolation_level = isolation_level
        self.status_topic = status_topic
        self.audit_topic = audit_topic
        self.alerts_topic = alerts_topic
        self.items_topic = items_topic
        self.warnings_topic = warnings_topic
        self.state = StatusState(history_limit=history_limit, history_window=history_window)
        self._clock = clock
        self._hook: StatusHook | None = status_hook or (
            _metrics_function("apply_status") if use_metrics else None
        )
        self._count_refusal = _metrics_function("record_status_view_refused") if use_metrics else None
        self._client_id = client_id
        self._security = security
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._caught_up = asyncio.Event()
        self._subscribers: set[Subscription] = set()
        self._sequence = 0
        self.records_seen = 0
        self._next_offset: dict[tuple[str, int], int] = {}
        """Per (topic, partition), the offset after the last record applied."""
        self.records_refused: Counter[str] = Counter()
        """Values refused by the contract (or keyed wrongly), per topic; each is logged as an error."""

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

    def statuses(self) -> list[AnyStatus]:
        return self.state.statuses()

    def status(self, scope: str) -> AnyStatus | None:
        return self.state.status(scope)

    def knows(self, scope: str) -> bool:
        return self.state.knows(scope)

    def history(self, scope: str, since: dt.datetime | None = None) -> list[AuditRecord]:
        return self.state.history(scope, self._clock(), since)

    def scopes(self) -> frozenset[str]:
        return self.state.scopes()

    def timelines(self) -> dict[str, list[LevelChange]]:
        """Each area's, county's and system's level changes over :data:`TIMELINE_WINDOW`."""
        return self.state.timelines(self._clock())

    def knows_alert(self, alert_id: str) -> bool:
        return self.state.knows_alert(alert_id, self._clock())

    def active_overrides(self) -> list[ActiveOverride]:
        return self.state.active_overrides(self._clock())

    def items(self) -> list[ActionItem]:
        return self.state.items()

    def item(self, item_id: str) -> ActionItem | None:
        return self.state.item(item_id)

    def audit_between(self, start: dt.datetime, end: dt.datetime) -> list[AuditRecord]:
        return self.state.audit_between(start, end)

    def find_override(self, override_id: str) -> ActiveOverride | None:
        return self.state.find_override(override_id, self._clock())

    def keah_told(self, event_id: str) -> bool:
        return self.state.keah_told(event_id)

    def open_warnings(self) -> list[WarningEvent]:
        return self.state.open_warnings()

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
    def apply_status_record(self, key: str | None, value: AnyStatus | None) -> None:
        """Apply one validated ``opel.status.v1`` value (None: a tombstone) under its key."""
        scope = key if key else (value.scope if value is not None else None)
        if not scope:
            self._refuse(self.status_topic, "tombstone without a key")
            return
        if value is not None and value.scope != scope:
            self._refuse(self.status_topic, f"key {scope!r} is not the status's scope {value.scope!r}")
            return
        shown = None if value is None else status_json(value)
        if shown is not None and self._hook is not None:
            try:
                self._hook(shown)
            except Exception:  # metrics must never stop the board from updating
                log.exception("metrics hook failed for status of %s", scope)
        if self.state.apply_status(scope, value, self._clock()):
            self._publish({"type": "status", "scope": scope, "status": shown})

    def apply_audit_record(self, record: AuditRecord) -> None:
        """Apply one validated ``opel.audit.v1`` record (kept in its scope's history)."""
        scope = self.state.apply_audit(record, self._clock())
        if scope is not None:
            self._publish({"type": "audit", "scope": scope, "audit": audit_json(record)})

    def apply_status_json(self, key: str | None, raw: bytes | None, where: str = "") -> None:
        """Validate a raw status value with the contract and apply it, or refuse it (logged, counted)."""
        if raw is None:
            self.apply_status_record(key, None)
            return
        try:
            value = STATUS_CONTRACT.validate_json(raw)
        except ValidationError as exc:
            self._refuse(self.status_topic, f"key {key!r}: {_errors(exc, AnyStatus)}", where)
            return
        self.apply_status_record(key, value)

    def apply_audit_json(self, raw: bytes | None, where: str = "") -> None:
        """Validate a raw audit record with the contract and apply it, or refuse it (logged, counted)."""
        if raw is None:
            self._refuse(self.audit_topic, "null value (the audit topic has no tombstones)", where)
            return
        try:
            record = AuditRecord.model_validate_json(raw)
        except ValidationError as exc:
            self._refuse(self.audit_topic, _errors(exc, AuditRecord), where)
            return
        self.apply_audit_record(record)

    def apply_alert_json(self, raw: bytes | None, where: str = "") -> None:
        """Validate a raw ``opel.alerts.v1`` value and remember its alert ids, or refuse it."""
        topic = self.alerts_topic or ALERTS
        if raw is None:
            self._refuse(topic, "null value (the alerts topic has no tombstones)", where)
            return
        try:
            message = ALERT_MESSAGE.validate_json(raw)
        except ValidationError as exc:
            self._refuse(topic, _errors(exc, AlertDelivery), where)
            return
        if isinstance(message, AlertDelivery):  # a daily snapshot names no alert
            self.state.apply_alert(message, self._clock())

    def apply_item_json(self, raw: bytes | None, where: str = "") -> None:
        """Validate a raw ``opel.action-items.v1`` value and hold the item, or refuse it."""
        topic = self.items_topic or ACTION_ITEMS
        if raw is None:
            self._refuse(topic, "null value (alerting never deletes an action item)", where)
            return
        try:
            item = ActionItem.model_validate_json(raw)
        except ValidationError as exc:
            self._refuse(topic, _errors(exc, ActionItem), where)
            return
        self.state.apply_item(item)

    def apply_warning_json(self, raw: bytes | None, where: str = "") -> None:
        """Validate a raw ``opel.warnings.v1`` value and hold it, or refuse it (logged, counted)."""
        topic = self.warnings_topic or WARNINGS
        if raw is None:
            self._refuse(topic, "null value (the warnings topic has no tombstones)", where)
            return
        try:
            event = WarningEvent.model_validate_json(raw)
        except ValidationError as exc:
            self._refuse(topic, _errors(exc, WarningEvent), where)
            return
        if self.state.apply_warning(event):
            self._publish({"type": "warning", "scope": event.subject, "warning": warning_json(event)})

    def _refuse(self, topic: str, why: str, where: str = "") -> None:
        self.records_refused[topic] += 1
        if self._count_refusal is not None:
            kinds = {
                self.status_topic: "status",
                self.audit_topic: "audit",
                self.items_topic: "action_item",
                self.warnings_topic: "warning",
            }
            kind = kinds.get(topic, "alert")
            self._count_refusal(kind)
        log.error("status view refused a value on %s%s: %s", topic, where, why)

    @property
    def records_rejected(self) -> int:
        """Values refused on both topics since the view was made (also in :attr:`records_refused`)."""
        return sum(self.records_refused.values())

    def _apply(self, record: ConsumerRecord[bytes, bytes]) -> None:
        partition = (record.topic, record.partition)
        if record.offset < self._next_offset.get(partition, 0):
            return  # read again after a failed catch-up: applied already
        self._next_offset[partition] = record.offset + 1
        self.records_seen += 1
        where = f"[{record.partition}]@{record.offset}"
        if record.topic == self.status_topic:
            key = record.key.decode("utf-8", "replace") if record.key is not None else None
            self.apply_status_json(key, record.value, where)
        elif record.topic == self.alerts_topic:
            self.apply_alert_json(record.value, where)
        elif record.topic == self.items_topic:
            self.apply_item_json(record.value, where)
        elif record.topic == self.warnings_topic:
            self.apply_warning_json(record.value, where)
        else:
            self.apply_audit_json(record.value, where)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connect and start reading both topics from the beginning. Returns once connected."""
        if self.running:
            return
        consumer = kafka_security.consumer(
            self.bootstrap,
            security=self._security,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=self._client_id,
            isolation_level=self.isolation_level,
        )
        await consumer.start()
        try:
            topics = [self.status_topic, self.audit_topic]
            topics += [t for t in (self.alerts_topic, self.items_topic) if t is not None]
            partitions = await self._partitions(consumer, topics)
            if self.warnings_topic is not None:
                # Optional: a broker set up before early warning existed has no such topic yet,
                # and the board must still start (without arrows) until it is created.
                warnings = await topic_partitions(consumer, self.warnings_topic)
                if not warnings:
                    log.warning("status view: no topic %s; no early warnings shown", self.warnings_topic)
                partitions.extend(warnings)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._caught_up.clear()
        self._task = asyncio.create_task(self._run(consumer, partitions), name="status-view")

    async def _partitions(self, consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
        found: list[TopicPartition] = []
        for topic in topics:
            partitions = await topic_partitions(consumer, topic)
            if not partitions:
                raise RuntimeError(f"topic {topic} does not exist on {self.bootstrap}")
            found.extend(partitions)
        return found

    async def _run(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        await self._catch_up(consumer, partitions)
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=_POLL_MS, max_records=_BATCH_RECORDS)
                for records in batches.values():
                    for record in records:
                        self._apply(record)
            except asyncio.CancelledError:
                raise
            except Exception:
                # aiokafka reconnects by itself; a failure here is logged and the loop carries on.
                log.exception("status view: error while consuming; retrying")
                await asyncio.sleep(_RETRY_SECONDS)

    async def _catch_up(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        """Read both topics to their ends as of now, then leave the consumer there for tailing.

        A failure part-way is logged and the read starts again from the beginning; records
        already applied are skipped (:meth:`_apply`), so none is applied twice.
        """
        while True:
            try:
                async for record in read_to_end(
                    consumer, partitions, poll_ms=_POLL_MS, max_records=_BATCH_RECORDS
                ):
                    self._apply(record)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("status view: error while catching up; retrying")
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            log.info("status view caught up (%d records)", self.records_seen)
            self._caught_up.set()
            return

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
