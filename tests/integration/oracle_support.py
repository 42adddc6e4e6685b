"""The oracle against the running service: streams of readings, workers, faults and the comparison.

A stream is a list of :class:`opel.models.Reading`; each goes to the topic the contract gives
its indicator (``streams.codec.topic_for``: referrals and the two caseloads on
``opel.referrals.v1``, the rest on ``opel.capacity.v1``), keyed by area. The oracle is
:func:`opel.replay.replay` over the same readings with the worker's own context.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from support.progress import announce

from opel.contracts.audit import AuditRecord
from opel.contracts.deadletter import DeadLetter
from opel.contracts.escalation import EscalationEvent
from opel.contracts.stage import ReadingItem, StageMessage
from opel.models import Reading
from opel.replay import TransitionKey, conflicting_ids, diff_transitions, format_diff, replay, transitions
from opel.stages.context import Context
from streams import topics
from streams.broker import EmbeddedBroker
from streams.catalogues import CatalogueStore
from streams.codec import topic_for
from streams.compacted import read_topic_to_end
from streams.settings import Settings

from .service import latest_status, read_all

Message = tuple[str, bytes, bytes]

AREAS = ("dgs", "east_kent", "swale", "west_kent")
# indicator -> (low, high): a walk over this range crosses the catalogue's bands often.
WALKS: dict[str, tuple[int, int]] = {
    "stp_staffing_pct": (10, 100),
    "keah_capacity": (0, 6),
    "d2a_p1_weekly_availability": (0, 42),
    "referrals": (0, 29),
    "health_caseload": (20, 80),
    "social_caseload": (20, 130),
}
DWELL = timedelta(minutes=30)
"""Step-down dwell of the worker and the oracle: short, so step-downs happen within a stream."""
IDLE_GRACE = timedelta(seconds=300)
"""Longer than any fault here (a 60 s pause, a restart), so no area is ever idle mid-stream."""
SETTLE_TIMEOUT = 150.0
SETTLE_GRACE = 450.0
"""How much longer than SETTLE_TIMEOUT a service that is still writing is waited for."""


def oracle_context() -> Context:
    """The context the worker builds from the same settings (catalogue, actions, dwell, grace)."""
    settings = Settings.load(step_down_dwell=DWELL, idle_grace=IDLE_GRACE, catalogue_dir=None)
    return CatalogueStore(settings).context


def stream(seed: int, *, end: datetime, slots: int, every: timedelta) -> list[Reading]:
    """Every indicator of every area once per slot, ending at ``end``, then a closing reading of
    each at ``end`` itself repeating its last value (so every feed's time reaches the end and no
    level moves there).

    Within a slot, readings are a few seconds apart, no two of an area at the same instant: the
    order of same-instant readings of one area is not what these tests are about.
    """
    rng = random.Random(seed)
    values = {(i, a): float(rng.randint(*bounds)) for i, bounds in WALKS.items() for a in AREAS}
    start = end - every * slots
    out: list[Reading] = []
    for slot in range(slots):
        base = start + every * slot
        for a_index, area in enumerate(AREAS):
            for i_index, (indicator, (low, high)) in enumerate(WALKS.items()):
                span = (high - low) / 2.5
                value = min(high, max(low, values[(indicator, area)] + rng.uniform(-span, span)))
                values[(indicator, area)] = value
                at = base + timedelta(seconds=a_index * len(WALKS) + i_index)
                out.append(Reading(indicator=indicator, area=area, value=round(value), observed_at=at))
    for area in AREAS:
        for indicator in WALKS:
            value = round(values[(indicator, area)])
            out.append(Reading(indicator=indicator, area=area, value=value, observed_at=end))
    return out


def body(reading: Reading) -> dict[str, Any]:
    return {
        "indicator": reading.indicator,
        "area": reading.area,
        "value": reading.value,
        "observed_at": reading.observed_at.isoformat(),
    }


def message(value: dict[str, Any]) -> Message:
    topic = topic_for(value)
    assert topic is not None, value
    return topic, str(value["area"]).encode(), json.dumps(value).encode()


def messages(readings: Iterable[Reading]) -> list[Message]:
    return [message(body(r)) for r in readings]


async def produce(
    bootstrap: str,
    batch: Sequence[Message],
    *,
    patience: float = 180.0,
    acks: int | str = 1,
    chunk_size: int = 1000,
    pace: float = 0.0,
) -> None:
    """Produce in order, retrying a chunk that fails (a paused broker): the producer keeps trying
    until ``patience`` runs out for that chunk. A retried chunk may arrive twice, as Kafka allows.
    ``acks="all"`` where a broker of a cluster may fail: with 1 a leader that goes can take
    readings with it. ``pace`` seconds between chunks of ``chunk_size`` make a feed that keeps
    arriving through a fault, as a real one does, rather than one burst."""
    for first in range(0, len(batch), chunk_size):
        if first and pace:
            await asyncio.sleep(pace)
        chunk = batch[first : first + chunk_size]
        deadline = time.monotonic() + patience
        while True:
            producer = AIOKafkaProducer(
                bootstrap_servers=bootstrap, linger_ms=5, request_timeout_ms=30_000, acks=acks
            )
            try:
                await producer.start()
                futures = [await producer.send(topic, key=key, value=value) for topic, key, value in chunk]
                await asyncio.gather(*futures)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1)
            finally:
                # A producer that never started may not stop cleanly.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.stop(), 10)


def start_worker(
    broker: EmbeddedBroker, data: Path, app_id: str, *, source_idle: timedelta | None = None
) -> subprocess.Popen[bytes]:
    """A worker subprocess with the oracle's settings; ``source_idle`` sets ``OPEL_SOURCE_IDLE``."""
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        OPEL_BROKER_URL=broker.url,
        OPEL_APP_ID=app_id,
        OPEL_DATA_DIR=str(data),
        OPEL_PARTITIONS="4",
        OPEL_TICK_INTERVAL="1",
        OPEL_IDLE_GRACE=str(int(IDLE_GRACE.total_seconds())),
        OPEL_STEP_DOWN_DWELL=f"PT{int(DWELL.total_seconds())}S",
        OPEL_LOG_LEVEL=os.environ.get("OPEL_ORACLE_LOG_LEVEL", "warning"),
    )
    if source_idle is not None:
        env["OPEL_SOURCE_IDLE"] = f"PT{int(source_idle.total_seconds())}S"
    log = (data / "worker.log").open("ab")
    announce(f"starting worker {app_id}")
    return subprocess.Popen([sys.executable, "-m", "streams.worker"], env=env, stdout=log, stderr=log)


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def kill_9(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


async def escalations(bootstrap: str) -> list[EscalationEvent]:
    """Every event on opel.escalations.v1, each validated with the contract."""
    return [
        EscalationEvent.model_validate(value) for _, value in await read_all(bootstrap, topics.ESCALATIONS)
    ]


async def deadletters(bootstrap: str) -> list[DeadLetter]:
    return [DeadLetter.model_validate(value) for _, value in await read_all(bootstrap, topics.DEADLETTER)]


def _time(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


async def progressed(bootstrap: str, mark: datetime) -> bool:
    """Some area's data time has reached ``mark`` (the service has processed that far)."""
    status = await latest_status(bootstrap)
    return any(
        (_time(v.get("observed_at")) or mark - timedelta(1)) >= mark
        for k, v in status.items()
        if k.startswith("area/")
    )


async def wait_until_progressed(bootstrap: str, mark: datetime, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not await progressed(bootstrap, mark):
        if time.monotonic() > deadline:
            raise AssertionError(f"the service did not reach {mark.isoformat()} within {timeout} s")
        await asyncio.sleep(0.2)


async def settle(
    bootstrap: str,
    want: Sequence[TransitionKey],
    end: datetime,
    *,
    quiet: float = 12.0,
    timeout: float = SETTLE_TIMEOUT,
) -> list[EscalationEvent]:
    """The service's escalation events once they equal the oracle's, or once the service has
    reached ``end`` in every area and gone quiet (nothing new for ``quiet`` s), or at the timeout
    once it has gone quiet, or at the hard limit."""
    deadline = time.monotonic() + timeout
    target = list(want)
    last: tuple[int, int] | None = None
    still_since = time.monotonic()
    while True:
        try:
            events = await escalations(bootstrap)
            if transitions(events) == target:
                return events
            status = await latest_status(bootstrap)
        except KafkaError:
            # After a long pause an Apache Kafka node is fenced by its controller for a moment:
            # its metadata lists no broker and a new reader cannot bootstrap. Ask again.
            if time.monotonic() > deadline + SETTLE_GRACE:
                raise
            await asyncio.sleep(1)
            continue
        marker = (len(events), hash(json.dumps(status, sort_keys=True)))
        now = time.monotonic()
        if marker != last:
            last, still_since = marker, now
        reached = all(
            (_time(status.get(f"area/{a}", {}).get("observed_at")) or end - timedelta(1)) >= end
            for a in AREAS
        )
        quiet_now = now - still_since >= quiet
        # Past the deadline, a service still making progress (a loaded machine) gets until the
        # hard limit: the comparison is about what it writes, not how fast.
        if (reached and quiet_now) or (now > deadline and quiet_now) or now > deadline + SETTLE_GRACE:
            return events
        await asyncio.sleep(2)


def compare(oracle: Sequence[TransitionKey], events: Sequence[EscalationEvent], name: str = "service") -> str:
    """'' when the service's transitions are the oracle's; else what differs, for the assertion."""
    problems = []
    clashes = conflicting_ids(events)
    if clashes:
        problems.append(f"ids carried by different transitions: {clashes[:10]}")
    lines = diff_transitions(oracle, transitions(events), names=("oracle", name))
    if lines:
        problems.append(format_diff(lines))
    return "\n".join(problems)


async def where_it_stands(bootstrap: str) -> str:
    """The data time and levels of the areas and the county, to read beside a difference."""
    status = await latest_status(bootstrap)
    keys = [f"area/{a}" for a in AREAS] + ["county/kent"]
    lines = []
    for key in keys:
        value = status.get(key, {})
        lines.append(
            f"{key}: observed_at {value.get('observed_at')}, level {value.get('level')}, "
            f"computed {value.get('computed_level')}"
        )
    return "\n".join(lines)


READING_DECISIONS = frozenset({"assessed", "not_assessed", "duplicate", "stale"})
"""The audit decisions that say a reading was decided (its own record, whatever the outcome)."""

ReadingKey = tuple[str, str, datetime, float]
"""A reading as the audit and the stage messages both carry it: indicator, area, time, value."""


def reading_key(reading: Reading | ReadingItem) -> ReadingKey:
    return (reading.indicator, reading.area, reading.observed_at, float(reading.value))


def body_key(body: dict[str, Any]) -> ReadingKey:
    """The key of a reading as JSON carries it (an input message, an audit record's input)."""
    at = datetime.fromisoformat(str(body["observed_at"]))
    return (str(body["indicator"]), str(body["area"]), at, float(body["value"]))


async def audited_readings(bootstrap: str) -> set[ReadingKey]:
    """Every reading that has an audit record of its own on opel.audit.v1."""
    audited: set[ReadingKey] = set()
    for _, value in await read_all(bootstrap, topics.AUDIT):
        record = AuditRecord.model_validate(value)
        given = record.input
        if record.decision in READING_DECISIONS and given is not None and "indicator" in given:
            audited.add(body_key(given))
    return audited


async def readings_on_inputs(bootstrap: str) -> set[ReadingKey]:
    """Every reading on the capacity and referrals topics (what the producer delivered)."""
    sent: set[ReadingKey] = set()
    for topic in (topics.CAPACITY, topics.REFERRALS):
        for _, value in await read_all(bootstrap, topic):
            if isinstance(value, dict) and {"indicator", "area", "observed_at", "value"} <= value.keys():
                sent.add(body_key(value))
    return sent


async def decided_otherwise(bootstrap: str) -> dict[str, list[str]]:
    """Per area, the readings the area stage did not assess (duplicate, stale, ...) and why: a
    reading judged stale that the oracle applies arrived after a later one."""
    found: dict[str, list[str]] = {}
    for _, value in await read_all(bootstrap, topics.AUDIT):
        record = AuditRecord.model_validate(value)
        given = record.input
        if record.decision in READING_DECISIONS - {"assessed"} and given is not None and "area" in given:
            found.setdefault(str(given["area"]), []).append(
                f"{record.decision} {given.get('indicator')} {given.get('observed_at')} ({record.reason})"
            )
    return found


async def where_readings_went(bootstrap: str, readings: Sequence[Reading]) -> str:
    """After a difference: which readings never reached the input topics (lost by the producer),
    which never reached the area stage's input topic (lost on the way in), which reached it but
    were never decided (no audit record: lost by the area stage), with the stage messages that
    held the undecided ones, and which were decided but not assessed, by area."""
    held: dict[ReadingKey, str] = {}
    # read_committed: under exactly-once, a stage message of an aborted transaction never arrived.
    area_events = read_topic_to_end(
        bootstrap, topics.AREA_EVENTS, fetch_max_wait_ms=100, isolation_level="read_committed"
    )
    async for record in area_events:
        for item in StageMessage.model_validate_json(record.value).items:
            if isinstance(item, ReadingItem):
                held.setdefault(reading_key(item), f"{record.partition}@{record.offset}")
    decided = await audited_readings(bootstrap)
    sent = await readings_on_inputs(bootstrap)
    otherwise = await decided_otherwise(bootstrap)
    lines = []
    for area in AREAS:
        mine = [reading_key(r) for r in readings if r.area == area]
        never_sent = [k for k in mine if k not in sent]
        if never_sent:
            unsent = min(k[2] for k in never_sent)
            lines.append(f"{area}: {len(never_sent)} readings never on the input topics, first {unsent}")
        if otherwise.get(area):
            lines.append(f"{area}: {len(otherwise[area])} not assessed, the first: {otherwise[area][:8]}")
        never_in = [k for k in mine if k not in held]
        undecided = [k for k in mine if k in held and k not in decided]
        where = sorted({held[k] for k in undecided})
        first = min((k[2] for k in never_in + undecided), default=None)
        lines.append(
            f"{area}: {len(mine)} readings, {len(never_in)} never on {topics.AREA_EVENTS}, "
            f"{len(undecided)} there but not decided (messages {where[:12]}), first missing at {first}"
        )
    return "\n".join(lines)


def oracle_transitions(readings: Iterable[Reading]) -> list[TransitionKey]:
    return replay(readings, oracle_context()).transitions()


def now_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)
