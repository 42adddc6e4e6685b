"""`opel replay` equals the running service (issue 15, point 3).

The same inputs go through ``opel replay`` (the command, writing transitions.jsonl) and through a
worker (put on the input topics as producers would), and the escalation events must be the same
transitions, line for line after sorting: id, subject, time, from and to levels.

Two histories: the scripted winter day (``streams.demo.winter_day``: readings, referral events,
acute returns and an override of the county) and a generated month (``opel replay generate``:
seasonal pressure, weekday effects, noise and missing readings), both ending now so the worker's
bounds at the edge take every input. The month is put on the topics in event-time order: a
reading that arrives after its area has moved on is *late*, the one documented way the service
may differ from the event-time oracle (docs/semantics.md, "Time").
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.progress import announce

from opel.backtest.generate import generate, shape_for
from opel.backtest.history import parse_json_object
from opel.backtest.run import build_context
from opel.cli import main
from opel.contracts.escalation import EscalationEvent
from opel.contracts.warning import WarningEvent
from opel.replay import event_time, replay, transition_key
from streams import topics
from streams.broker import EmbeddedBroker
from streams.codec import key_for, topic_for
from streams.demo import ending_now, winter_day

from .oracle_support import Message, compare, escalations, produce, stop_worker
from .service import fresh_broker, read_all

pytestmark = pytest.mark.slow

DWELL = "PT30M"
IDLE_GRACE = 30
"""Seconds a system waits for a site that says nothing; the whole history is on the topics well
before that, so no member is taken for idle mid-stream, and the last changes are out soon after."""


SETTLE_TIMEOUT = 400.0
STILL = 45.0
"""Seconds without a new escalation event after which the service is taken to have finished."""


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[list[EmbeddedBroker]]:
    started: list[EmbeddedBroker] = []
    yield started
    for broker in started:
        if broker.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(broker.pid, signal.SIGCONT)
        broker.stop()


def start_worker(broker: EmbeddedBroker, data: Path, app_id: str) -> subprocess.Popen[bytes]:
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        OPEL_BROKER_URL=broker.url,
        OPEL_APP_ID=app_id,
        OPEL_DATA_DIR=str(data),
        OPEL_PARTITIONS="4",
        OPEL_TICK_INTERVAL="1",
        OPEL_IDLE_GRACE=str(IDLE_GRACE),
        OPEL_STEP_DOWN_DWELL=DWELL,
        OPEL_LOG_LEVEL=os.environ.get("OPEL_ORACLE_LOG_LEVEL", "warning"),
    )
    log = (data / "worker.log").open("ab")
    announce(f"starting worker {app_id}")
    return subprocess.Popen([sys.executable, "-m", "streams.worker"], env=env, stdout=log, stderr=log)


def replayed(values: Sequence[dict[str, Any]], tmp_path: Path) -> list[EscalationEvent]:
    """The escalation events `opel replay` writes for the values (as a JSON lines history)."""
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(v) + "\n" for v in values))
    out = tmp_path / "replay"
    args = [str(history), "--catalogue", "kcc-asch-2025-26", "--dwell", DWELL, "--out", str(out)]
    assert main(["replay", *args]) == 0
    lines = (out / "transitions.jsonl").read_bytes().splitlines()
    return [EscalationEvent.model_validate_json(line) for line in lines]


def messages(values: Sequence[dict[str, Any]]) -> list[Message]:
    out = []
    for value in values:
        topic = topic_for(value)
        assert topic is not None, value
        key = key_for(topic, value)
        assert key is not None, value
        out.append((topic, key, json.dumps(value).encode()))
    return out


def as_they_arrive(values: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The inputs in the parts a live feed would have delivered them: a command (an override
    takes effect when it arrives, docs/semantics.md) starts a new part with the inputs at or after
    its time, sent once the service has taken everything before it, as when the escalation group
    acts on the day's board."""
    commands = sorted((v for v in values if "type" in v), key=lambda v: event_time(parse_json_object(v)))
    cuts = [event_time(parse_json_object(c)) for c in commands]
    parts: list[list[dict[str, Any]]] = [[]] + [[c] for c in commands]
    for value in values:
        if "type" not in value:
            parts[bisect.bisect_right(cuts, event_time(parse_json_object(value)))].append(value)
    return parts


async def quiet(bootstrap: str, *, still: float = 15.0, timeout: float = 150.0) -> None:
    """Until the service has written no escalation event for ``still`` seconds (sources fall idle
    after OPEL_SOURCE_IDLE, 10 s, and the county then releases what it held)."""
    deadline = time.monotonic() + timeout
    count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = len(await escalations(bootstrap))
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since >= still:
            return
        await asyncio.sleep(1)
    raise AssertionError(f"the service kept writing escalations for {timeout} s")


async def through_the_service(
    values: Sequence[dict[str, Any]],
    want: list[EscalationEvent],
    tmp_path: Path,
    name: str,
    *,
    chunk: int = 1_000_000,
    pause: float = 0.0,
    warnings: list[WarningEvent] | None = None,
) -> list[EscalationEvent]:
    """The service's escalation events for the values, sent in event-time parts (commands) and
    chunks of ``chunk`` inputs ``pause`` seconds apart (a day at a time, as a live feed sends them:
    a month of acute returns in one backlog makes ingest's stage message for the system larger
    than Kafka's request limit, which is the service's own limit, not the semantics'). The
    early warnings it wrote are added to ``warnings`` when given."""
    broker = fresh_broker(tmp_path / "broker")
    try:
        proc = start_worker(broker, tmp_path / "worker", f"opel-replay-{name}")
        try:
            parts = as_they_arrive(values)
            for number, part in enumerate(parts):
                for first in range(0, len(part), chunk):
                    await produce(broker.bootstrap, messages(part[first : first + chunk]))
                    await asyncio.sleep(pause)
                if number + 1 < len(parts):
                    await quiet(broker.bootstrap)
            target = lines(want)
            deadline = time.monotonic() + SETTLE_TIMEOUT
            count, since = -1, time.monotonic()
            while True:
                got = await escalations(broker.bootstrap)
                if lines(got) == target or time.monotonic() > deadline:
                    break
                if len(got) != count:
                    count, since = len(got), time.monotonic()
                elif time.monotonic() - since > STILL:
                    break
                await asyncio.sleep(2)
            if warnings is not None:
                found = await read_all(broker.bootstrap, topics.WARNINGS)
                warnings.extend(WarningEvent.model_validate(value) for _, value in found)
            return got
        finally:
            stop_worker(proc)
    finally:
        broker.stop()


def warning_lines(events: Sequence[WarningEvent]) -> list[tuple[str, str, datetime, str | None]]:
    """(id, subject, time, linked escalation) per warning step, each once, sorted."""
    return sorted({(e.id, e.subject, e.time.astimezone(UTC), e.data.escalation_id) for e in events})


def lines(events: Sequence[EscalationEvent]) -> list[tuple[str, str, int | None, int, datetime]]:
    """(id, subject, from, to, time) per event, each transition once, sorted."""
    return sorted(
        {(e.id, e.subject, e.data.from_level, e.data.to_level, e.time.astimezone(UTC)) for e in events}
    )


async def test_the_scripted_winter_day(tmp_path: Path) -> None:
    script = winter_day(ending_now(datetime.now(UTC)))
    values = [value for _, _, value in script]
    want = replayed(values, tmp_path)
    warned: list[WarningEvent] = []
    got = await through_the_service(values, want, tmp_path, "day", warnings=warned)
    assert len(want) > 40
    assert {e.data.cause for e in want} >= {"observation", "override", "override-ended"}
    problems = compare([transition_key(e) for e in want], got, "service")
    assert not problems, problems
    assert lines(got) == lines(want)
    # The early warnings too are the core's over the same inputs (issue 16).
    ctx = build_context("kcc-asch-2025-26", dwell=timedelta(minutes=30))
    oracle = replay([parse_json_object(v) for v in values], ctx).warnings
    assert {w.data.status for w in oracle} >= {"open", "closed"}
    assert warning_lines(warned) == warning_lines(oracle)


async def test_a_generated_month(tmp_path: Path) -> None:
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    shape = shape_for("kent", 30, end=end, every=timedelta(hours=1), keah="count")
    values = sorted(generate(shape, 11), key=lambda v: event_time(parse_json_object(v)))
    want = replayed(values, tmp_path)
    got = await through_the_service(values, want, tmp_path, "month", chunk=len(values) // 30, pause=1.0)
    assert len(want) > 300
    assert {e.data.direction for e in want} == {"initial", "escalation", "de-escalation"}
    problems = compare([transition_key(e) for e in want], got, "service")
    assert not problems, problems
    assert lines(got) == lines(want)
