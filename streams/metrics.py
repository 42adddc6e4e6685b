"""Prometheus metrics of the OPEL service: one registry, and cheap functions that feed it.

Everything lives in :data:`REGISTRY`, a registry of our own rather than prometheus_client's
global one, so importing this module in tests or tools never clashes with other collectors.
The web server serves it with ``prometheus_client.generate_latest(REGISTRY)``.

Label values come from bounded sets only. Free text from a message (a topic name, a reason
code, an area id) is checked before it becomes a label: an unknown code becomes ``other`` and
an id that is not a plain lower-case identifier becomes ``other``, so a malformed feed cannot
create an unbounded number of series.

The module-level functions delegate to :data:`METRICS`, an :class:`OpelMetrics` bound to
:data:`REGISTRY`. Tests that need isolation build their own ``OpelMetrics`` on a fresh
registry with a fixed clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar, get_args

from aiokafka import TopicPartition
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from opel.contracts.deadletter import Reason
from opel.contracts.escalation import Direction
from opel.contracts.partner_delivery import DeliveryOutcome
from opel.scopes import KINDS
from streams import kafka_security
from streams.end_offsets import confirmed_end_offsets
from streams.kafka_security import PLAINTEXT, KafkaSecurity
from streams.topics import ALL_TOPIC_NAMES, INPUT_TOPICS

__all__ = [
    "ALERTING_INPUTS",
    "ALERT_CHANNELS",
    "ALERT_OUTCOMES",
    "CATALOGUE_KINDS",
    "DEADLETTER_REASONS",
    "DELIVERY_MODES",
    "DIRECTIONS",
    "LATENCY_BUCKETS",
    "METRICS",
    "OTHER",
    "READING_OUTCOMES",
    "REGISTRY",
    "SCOPE_KINDS",
    "STAGES",
    "STAGE_STEPS",
    "STATUS_VIEW_INPUTS",
    "OpelMetrics",
    "add_partner",
    "apply_status",
    "forget_scope",
    "observe_processing",
    "poll_consumer_lag",
    "record_alert",
    "record_alerting_refused",
    "record_deadletter",
    "record_partner_delivery",
    "record_reading",
    "record_stage_retry",
    "record_stage_unprocessable",
    "record_status_view_refused",
    "record_transition",
    "refresh_consumer_lag",
    "set_catalogue_info",
    "set_consumer_lag",
    "set_delivery_mode",
    "set_exercise_running",
]

OTHER: Final = "other"

READING_OUTCOMES: Final = ("assessed", "not_assessed", "duplicate", "stale", "dead_lettered")
# Label values come from the contracts that define them, so a new reason or kind is counted
# under its own name, not as "other".
DEADLETTER_REASONS: Final[tuple[str, ...]] = get_args(Reason)
SCOPE_KINDS: Final[tuple[str, ...]] = KINDS
DIRECTIONS: Final[tuple[str, ...]] = get_args(Direction)
ALERT_CHANNELS: Final = ("log", "webhook", "email", "notify_sms", "notify_email")
ALERT_OUTCOMES: Final = ("sent", "failed", "retried")
CATALOGUE_KINDS: Final = ("indicators", "acute", "level_map", "actions", "routing")
ALERTING_INPUTS: Final = ("status", "escalation", "ack")
"""What the alerting service reads and can refuse (``opel_alerting_refused_total{input}``)."""
PARTNER_OUTCOMES: Final[tuple[str, ...]] = get_args(DeliveryOutcome)
"""How an attempt to deliver an escalation to a partner ended (``opel_partner_deliveries_total``)."""
STATUS_VIEW_INPUTS: Final = ("status", "audit", "alert", "action_item")
"""What the status view behind the API and board reads and can refuse."""
STAGES: Final = ("area", "county", "system")
"""The worker's stateful stages (``opel_stage_*{stage}``)."""
DELIVERY_MODES: Final = ("exactly_once", "at_least_once")
"""The delivery guarantees a worker can run with (``opel_delivery_mode{mode}``)."""
STAGE_STEPS: Final = ("compute", "publish", "commit")
"""What a stage retries after a transient failure (``opel_stage_retries_total{step}``)."""

# Produce-to-status latency: the worker's goal is well under a second; anything past 30 s is
# a backlog, which consumer lag shows better than a latency bucket would.
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_IDENTIFIER: Final = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_VERSION: Final = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+-]{0,31}")
_MAX_PARTITION: Final = 9999
# Child caches are keyed by the caller's raw strings; the cap keeps a caller that passes
# ever-new garbage from growing them (such calls still count, just without the cache).
_CACHE_LIMIT: Final = 4096

_T = TypeVar("_T")


def _one_of(value: object, allowed: Iterable[str]) -> str:
    return value if isinstance(value, str) and value in allowed else OTHER


def _ident(value: object) -> str:
    """A scope part as a label: empty when absent, ``other`` when not a plain identifier."""
    if value is None or value == "":
        return ""
    return value if isinstance(value, str) and _IDENTIFIER.fullmatch(value) else OTHER


def _level(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4:
        return value
    return None


def _partition(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_PARTITION:
        return str(value)
    return OTHER


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _epoch_seconds(value: object) -> float | None:
    """Seconds since the epoch of an RFC 3339 string; None for anything without a timezone."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    return moment.timestamp()


def _cached(cache: dict[tuple[str, ...], _T], key: tuple[str, ...], make: Callable[[], _T]) -> _T:
    child = cache.get(key)
    if child is None:
        child = make()
        if len(cache) < _CACHE_LIMIT:
            cache[key] = child
    return child


class _IndicatorFreshness(Collector):
    """When each indicator last had data, and how old that data is at scrape time.

    The age is computed when Prometheus scrapes, not when the status arrived, so it keeps
    growing while a feed is silent, which is exactly what the staleness alert needs.
    """

    LAST_UPDATE: Final = "opel_indicator_last_update_timestamp_seconds"
    AGE: Final = "opel_indicator_age_seconds"
    _LABELS: Final = ("area", "indicator")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._observed: dict[tuple[str, str], float] = {}

    def set(self, key: tuple[str, str], observed: float) -> None:
        with self._lock:
            self._observed[key] = observed

    def forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._observed.pop(key, None)

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        last = GaugeMetricFamily(
            self.LAST_UPDATE,
            "Unix time of the newest data behind each indicator (its status's observed_at).",
            labels=self._LABELS,
        )
        age = GaugeMetricFamily(
            self.AGE,
            "Seconds between the newest data behind each indicator and now (0 if dated in the future).",
            labels=self._LABELS,
        )
        return last, age

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        now = self._clock()
        with self._lock:
            items = sorted(self._observed.items())
        last, age = self._families()
        for (area, indicator), observed in items:
            last.add_metric([area, indicator], observed)
            age.add_metric([area, indicator], max(0.0, now - observed))
        return last, age


class _ScopeSeries:
    """The label sets a status last set for one scope, so a later status or a tombstone can
    remove exactly those series."""

    __slots__ = ("acute", "freshness", "level")

    def __init__(self) -> None:
        self.level: tuple[str, ...] | None = None
        self.acute: tuple[str, ...] | None = None
        self.freshness: tuple[str, str] | None = None


class OpelMetrics:
    """All OPEL metrics registered on ``registry``; ``clock`` gives Unix time for ages."""

    def __init__(self, registry: CollectorRegistry, *, clock: Callable[[], float] = time.time) -> None:
        self.registry = registry
        self.readings = Counter(
            "opel_readings",
            "Input records handled, by source topic and outcome.",
            ["topic", "outcome"],
            registry=registry,
        )
        self.deadletters = Counter(
            "opel_deadletters",
            "Input records rejected to opel.deadletter.v1, by source topic and reason code.",
            ["topic", "reason"],
            registry=registry,
        )
        self.transitions = Counter(
            "opel_transitions",
            "Level changes emitted to opel.escalations.v1, by scope kind and direction.",
            ["kind", "direction"],
            registry=registry,
        )
        self.processing = Histogram(
            "opel_processing_latency_seconds",
            "Seconds from an input record's produce timestamp to the status it caused being written.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.alerts = Counter(
            "opel_alert_deliveries",
            "Alert delivery attempts, by channel and outcome (sent, failed, retried).",
            ["channel", "outcome"],
            registry=registry,
        )
        scope_labels = ["kind", "area", "indicator", "site", "system"]
        self.level = Gauge(
            "opel_level",
            "OPEL level in force per scope (1 green .. 4 black): override, else escalation state.",
            scope_labels,
            registry=registry,
        )
        self.computed_level = Gauge(
            "opel_computed_level",
            "OPEL level the latest data alone gives per scope, before step-down dwell or override.",
            scope_labels,
            registry=registry,
        )
        acute_labels = ["kind", "site", "system"]
        self.acute_score = Gauge(
            "opel_acute_score",
            "Acute OPEL parameter score per site or system (0-44).",
            acute_labels,
            registry=registry,
        )
        self.acute_normalised = Gauge(
            "opel_acute_normalised_score",
            "Acute OPEL score normalised to 0-100 per site or system.",
            acute_labels,
            registry=registry,
        )
        self.catalogue_info = Gauge(
            "opel_catalogue_info",
            "Trigger catalogue in use (always 1): kind, catalogue id and version as labels.",
            ["kind", "catalogue", "version"],
            registry=registry,
        )
        self.delivery_mode = Gauge(
            "opel_delivery_mode",
            "Delivery guarantee in force in this worker (always 1): exactly_once or at_least_once.",
            ["mode"],
            registry=registry,
        )
        self.exercise_running = Gauge(
            "opel_exercise_running",
            "1 while a live exercise runs in this worker (docs/exercises.md), else 0.",
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "opel_consumer_lag_messages",
            "Records on each input partition not yet committed by the worker's consumer group.",
            ["topic", "partition"],
            registry=registry,
        )
        self.lag_polls = Counter(
            "opel_consumer_lag_polls",
            "Consumer lag polls, by outcome (ok, failed); lag gauges keep old values after a failure.",
            ["outcome"],
            registry=registry,
        )
        self.alerting_refused = Counter(
            "opel_alerting_refused",
            "Messages the alerting service read but refused (not valid against their contract), by input.",
            ["input"],
            registry=registry,
        )
        self.partner_deliveries = Counter(
            "opel_partner_deliveries",
            "Attempts to deliver an escalation to a partner's webhook, by partner (from the partners "
            "file) and outcome (delivered, retrying, given_up, refused).",
            ["partner", "outcome"],
            registry=registry,
        )
        self.status_view_refused = Counter(
            "opel_status_view_refused",
            "Values the status view behind the API and board refused (not valid against their contract, "
            "or keyed wrongly), by input.",
            ["input"],
            registry=registry,
        )
        self.stage_retries = Counter(
            "opel_stage_retries",
            "Transient failures (broker time-outs, lost connections) a stage retried, by stage and step.",
            ["stage", "step"],
            registry=registry,
        )
        self.stage_unprocessable = Counter(
            "opel_stage_unprocessable",
            "Stage messages that can never be processed (bad payload or bug), dead-lettered as internal.",
            ["stage"],
            registry=registry,
        )
        self.freshness = _IndicatorFreshness(clock)
        registry.register(self.freshness)

        self._lock = threading.Lock()
        self._reading_children: dict[tuple[str, ...], Counter] = {}
        self._deadletter_children: dict[tuple[str, ...], Counter] = {}
        self._transition_children: dict[tuple[str, ...], Counter] = {}
        self._alert_children: dict[tuple[str, ...], Counter] = {}
        self._scopes: dict[str, _ScopeSeries] = {}
        self._catalogue_versions: dict[tuple[str, str], str] = {}
        self._initialise_series()

    def _initialise_series(self) -> None:
        # Counters exist at 0 from the start, so rate() and increase() see the first event.
        for topic in INPUT_TOPICS:
            for outcome in READING_OUTCOMES:
                self.readings.labels(topic, outcome)
            for reason in DEADLETTER_REASONS:
                self.deadletters.labels(topic, reason)
        for kind in SCOPE_KINDS:
            for direction in DIRECTIONS:
                self.transitions.labels(kind, direction)
        for channel in ALERT_CHANNELS:
            for outcome in ALERT_OUTCOMES:
                self.alerts.labels(channel, outcome)
        for outcome in ("ok", "failed"):
            self.lag_polls.labels(outcome)
        for name in ALERTING_INPUTS:
            self.alerting_refused.labels(name)
        for name in STATUS_VIEW_INPUTS:
            self.status_view_refused.labels(name)
        for stage in STAGES:
            self.stage_unprocessable.labels(stage)
            for step in STAGE_STEPS:
                self.stage_retries.labels(stage, step)

    # ------------------------------------------------------------------ counters
    def record_reading(self, topic: str, outcome: str, count: int = 1) -> None:
        _cached(
            self._reading_children,
            (topic, outcome),
            lambda: self.readings.labels(_one_of(topic, ALL_TOPIC_NAMES), _one_of(outcome, READING_OUTCOMES)),
        ).inc(count)

    def record_deadletter(self, topic: str, reason: str) -> None:
        _cached(
            self._deadletter_children,
            (topic, reason),
            lambda: self.deadletters.labels(
                _one_of(topic, ALL_TOPIC_NAMES), _one_of(reason, DEADLETTER_REASONS)
            ),
        ).inc()

    def record_transition(self, kind: str, direction: str) -> None:
        _cached(
            self._transition_children,
            (kind, direction),
            lambda: self.transitions.labels(_one_of(kind, SCOPE_KINDS), _one_of(direction, DIRECTIONS)),
        ).inc()

    def record_alert(self, channel: str, outcome: str) -> None:
        _cached(
            self._alert_children,
            (channel, outcome),
            lambda: self.alerts.labels(_one_of(channel, ALERT_CHANNELS), _one_of(outcome, ALERT_OUTCOMES)),
        ).inc()

    def record_alerting_refused(self, input: str) -> None:
        self.alerting_refused.labels(_one_of(input, ALERTING_INPUTS)).inc()

    def add_partner(self, partner: str) -> None:
        """Every outcome of ``partner`` at zero, so the first give-up is an increase alerts see."""
        for outcome in PARTNER_OUTCOMES:
            self.partner_deliveries.labels(partner, outcome)

    def record_partner_delivery(self, partner: str, outcome: str) -> None:
        # Partner names come from the checked partners file, so they are few and known.
        self.partner_deliveries.labels(partner, _one_of(outcome, PARTNER_OUTCOMES)).inc()

    def record_status_view_refused(self, input: str) -> None:
        self.status_view_refused.labels(_one_of(input, STATUS_VIEW_INPUTS)).inc()

    def record_stage_retry(self, stage: str, step: str) -> None:
        self.stage_retries.labels(_one_of(stage, STAGES), _one_of(step, STAGE_STEPS)).inc()

    def record_stage_unprocessable(self, stage: str) -> None:
        self.stage_unprocessable.labels(_one_of(stage, STAGES)).inc()

    def observe_processing(self, seconds: float) -> None:
        if not math.isfinite(seconds):
            return
        # Producer and worker clocks differ a little; a negative latency is skew, not speed.
        self.processing.observe(max(0.0, seconds))

    # ------------------------------------------------------------------ status
    def apply_status(self, value: Mapping[str, Any]) -> None:
        """Update level, score and freshness series from one ``opel.status.v1`` value.

        The value is read field by field rather than validated as a whole: the status contract
        may gain fields, and metrics must never stop the caller. A null level or score removes
        its series, so "not assessed" is an absent series rather than a made-up number.
        """
        scope = value.get("scope")
        if not isinstance(scope, str) or not scope:
            return
        kind = _one_of(value.get("kind"), SCOPE_KINDS)
        site, system = _ident(value.get("site")), _ident(value.get("system"))
        level_labels = (kind, _ident(value.get("area")), _ident(value.get("indicator")), site, system)
        level, computed = _level(value.get("level")), _level(value.get("computed_level"))
        score, normalised = _number(value.get("score")), _number(value.get("normalised_score"))
        observed = _epoch_seconds(value.get("observed_at"))

        with self._lock:
            series = self._scopes.setdefault(scope, _ScopeSeries())
            if series.level is not None and (series.level != level_labels or level is None):
                self.level.remove(*series.level)
            if series.level is not None and (series.level != level_labels or computed is None):
                self.computed_level.remove(*series.level)
            if level is not None:
                self.level.labels(*level_labels).set(level)
            if computed is not None:
                self.computed_level.labels(*level_labels).set(computed)
            series.level = level_labels if level is not None or computed is not None else None

            acute_labels = (kind, site, system) if kind in ("site", "system") else None
            if series.acute is not None and (series.acute != acute_labels or score is None):
                self.acute_score.remove(*series.acute)
            if series.acute is not None and (series.acute != acute_labels or normalised is None):
                self.acute_normalised.remove(*series.acute)
            if acute_labels is not None and score is not None:
                self.acute_score.labels(*acute_labels).set(score)
            if acute_labels is not None and normalised is not None:
                self.acute_normalised.labels(*acute_labels).set(normalised)
            has_score = score is not None or normalised is not None
            series.acute = acute_labels if has_score else None

            fresh_key = (level_labels[1], level_labels[2]) if kind == "indicator" else None
            if series.freshness is not None and series.freshness != fresh_key:
                self.freshness.forget(series.freshness)
            if fresh_key is not None and observed is not None:
                self.freshness.set(fresh_key, observed)
                series.freshness = fresh_key
            elif series.freshness != fresh_key:
                series.freshness = None

    def forget_scope(self, scope: str) -> None:
        """Remove every series a scope's statuses set (a tombstone on ``opel.status.v1``)."""
        with self._lock:
            series = self._scopes.pop(scope, None)
            if series is None:
                return
            if series.level is not None:
                self.level.remove(*series.level)
                self.computed_level.remove(*series.level)
            if series.acute is not None:
                self.acute_score.remove(*series.acute)
                self.acute_normalised.remove(*series.acute)
            if series.freshness is not None:
                self.freshness.forget(series.freshness)

    # ------------------------------------------------------------------ info and lag
    def set_catalogue_info(self, kind: str, catalogue_id: str, version: str) -> None:
        labels = (
            _one_of(kind, CATALOGUE_KINDS),
            _ident(catalogue_id) or OTHER,
            version if _VERSION.fullmatch(version) else OTHER,
        )
        with self._lock:
            # One series per catalogue: a reload to a new version replaces the old one.
            previous = self._catalogue_versions.get(labels[:2])
            if previous is not None and previous != labels[2]:
                self.catalogue_info.remove(labels[0], labels[1], previous)
            self._catalogue_versions[labels[:2]] = labels[2]
            self.catalogue_info.labels(*labels).set(1)

    def set_delivery_mode(self, mode: str) -> None:
        with self._lock:
            # One series: the mode is chosen once per start, and a test may start several workers.
            self.delivery_mode.clear()
            self.delivery_mode.labels(_one_of(mode, DELIVERY_MODES)).set(1)

    def set_exercise_running(self, running: bool) -> None:
        self.exercise_running.set(1 if running else 0)

    def set_consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        self.consumer_lag.labels(_one_of(topic, ALL_TOPIC_NAMES), _partition(partition)).set(max(0, lag))

    async def refresh_consumer_lag(
        self,
        bootstrap: str,
        group_id: str,
        topics: Sequence[str],
        *,
        timeout: float = 10.0,
        security: KafkaSecurity = PLAINTEXT,
    ) -> dict[tuple[str, int], int]:
        """Poll the group's lag and set the gauges; a failed poll is counted and re-raised."""
        try:
            lags = await poll_consumer_lag(bootstrap, group_id, topics, timeout=timeout, security=security)
        except Exception:
            self.lag_polls.labels("failed").inc()
            raise
        for (topic, partition), lag in lags.items():
            self.set_consumer_lag(topic, partition, lag)
        self.lag_polls.labels("ok").inc()
        return lags


async def poll_consumer_lag(
    bootstrap: str,
    group_id: str,
    topics: Sequence[str],
    *,
    timeout: float = 10.0,
    security: KafkaSecurity = PLAINTEXT,
) -> dict[tuple[str, int], int]:
    """Lag of consumer group ``group_id`` per partition of ``topics``: end offset minus committed.

    A partition the group has never committed counts from the log start, because the worker
    reads new groups from the earliest offset. Topics that do not exist are left out.
    """
    timeout_ms = max(int(timeout * 1000), 100)
    admin = kafka_security.admin(
        bootstrap, security=security, client_id="opel-lag-poll", request_timeout_ms=timeout_ms
    )
    consumer = kafka_security.consumer(
        bootstrap,
        security=security,
        client_id="opel-lag-poll",
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=timeout_ms,
    )
    try:
        async with asyncio.timeout(timeout):
            await admin.start()
            await consumer.start()
            # Describing an absent topic can auto-create it (Kafka's default, and Tansu's), so
            # only topics that already exist are described.
            existing = set(await admin.list_topics())
            wanted = [t for t in dict.fromkeys(topics) if t in existing]
            if not wanted:
                return {}
            described = await admin.describe_topics(wanted)
            partitions = [
                TopicPartition(str(t["topic"]), int(p["partition"]))
                for t in described
                if not t.get("error_code")
                for p in t.get("partitions") or []
            ]
            if not partitions:
                return {}
            committed = await admin.list_consumer_group_offsets(group_id, partitions=partitions)
            ends = await confirmed_end_offsets(consumer, partitions, timeout=timeout)
            starts = await consumer.beginning_offsets(partitions)
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await admin.close()
    lags: dict[tuple[str, int], int] = {}
    for tp in partitions:
        meta = committed.get(tp)
        # A commit older than the log start (retention deleted it) resumes from the start too.
        position = max(meta.offset, starts[tp]) if meta is not None and meta.offset >= 0 else starts[tp]
        lags[(tp.topic, tp.partition)] = max(0, ends[tp] - position)
    return lags


REGISTRY: Final = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
METRICS: Final = OpelMetrics(REGISTRY)


def record_reading(topic: str, outcome: str, count: int = 1) -> None:
    """Count input records from ``topic`` by outcome (assessed, not_assessed, duplicate, ...)."""
    METRICS.record_reading(topic, outcome, count)


def record_deadletter(topic: str, reason: str) -> None:
    """Count one record from ``topic`` rejected to the dead-letter topic with ``reason``."""
    METRICS.record_deadletter(topic, reason)


def record_transition(kind: str, direction: str) -> None:
    """Count one level change of a ``kind`` scope (initial, escalation, de-escalation)."""
    METRICS.record_transition(kind, direction)


def observe_processing(seconds: float) -> None:
    """Record one produce-to-status latency in seconds."""
    METRICS.observe_processing(seconds)


def record_alert(channel: str, outcome: str) -> None:
    """Count one alert delivery attempt on ``channel`` (sent, failed, retried)."""
    METRICS.record_alert(channel, outcome)


def record_alerting_refused(input: str) -> None:
    """Count one message the alerting service refused: a ``status``, ``escalation`` or ``ack``."""
    METRICS.record_alerting_refused(input)


def add_partner(partner: str) -> None:
    """Start ``partner``'s delivery counters at zero (a partner the delivery service serves)."""
    METRICS.add_partner(partner)


def record_partner_delivery(partner: str, outcome: str) -> None:
    """Count one attempt to deliver an escalation to ``partner`` and how it ended."""
    METRICS.record_partner_delivery(partner, outcome)


def record_status_view_refused(input: str) -> None:
    """Count one value the status view refused: a ``status``, an ``audit`` record, an ``alert`` message
    or an ``action_item``."""
    METRICS.record_status_view_refused(input)


def record_stage_retry(stage: str, step: str) -> None:
    """Count one transient failure of ``step`` (compute, publish, commit) in ``stage`` being retried.

    A broker outage shows here; the messages are not lost, only delayed.
    """
    METRICS.record_stage_retry(stage, step)


def record_stage_unprocessable(stage: str) -> None:
    """Count one ``stage`` message dead-lettered (reason ``internal``) because it can never be processed.

    Its effect on the levels is lost, so any increase is worth an alert (OpelStageUnprocessable).
    """
    METRICS.record_stage_unprocessable(stage)


def apply_status(value: dict[str, Any]) -> None:
    """Update level, score and freshness series from one ``opel.status.v1`` value."""
    METRICS.apply_status(value)


def forget_scope(scope: str) -> None:
    """Drop a scope's series after a tombstone (null value) on ``opel.status.v1``."""
    METRICS.forget_scope(scope)


def set_catalogue_info(kind: str, catalogue_id: str, version: str) -> None:
    """Publish the catalogue in use for ``kind`` (replaces an earlier version of the same id)."""
    METRICS.set_catalogue_info(kind, catalogue_id, version)


def set_delivery_mode(mode: str) -> None:
    """Publish the delivery guarantee the worker chose at start (:mod:`streams.delivery`)."""
    METRICS.set_delivery_mode(mode)


def set_exercise_running(running: bool) -> None:
    """Say whether a live exercise runs (``opel_exercise_running``)."""
    METRICS.set_exercise_running(running)


def set_consumer_lag(topic: str, partition: int, lag: int) -> None:
    """Set the lag gauge of one input partition."""
    METRICS.set_consumer_lag(topic, partition, lag)


async def refresh_consumer_lag(
    bootstrap: str,
    group_id: str,
    topics: Sequence[str],
    *,
    timeout: float = 10.0,
    security: KafkaSecurity = PLAINTEXT,
) -> dict[tuple[str, int], int]:
    """Poll the worker group's lag and set the gauges (for a periodic task)."""
    return await METRICS.refresh_consumer_lag(bootstrap, group_id, topics, timeout=timeout, security=security)
