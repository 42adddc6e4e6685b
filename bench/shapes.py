"""Throughput by shape of the map: ``python bench/stream.py --areas 4,40,153,400 --indicators 40``.

For each number of areas, against a fresh embedded broker, with a generated catalogue of that
shape (tests/support/shape.py; never a shipped one):

  plain loop    the hot path's work in one aiokafka loop (bench/stream.py), same readings
  1 worker      one ``python -m streams.worker`` on a fresh broker, the readings produced once it
                runs (faster than it drains them, so it works through a backlog): readings/s between its
                first and last audit record for them, its CPU time per reading over that window
                (user + system, from /proc), and its peak resident memory (VmHWM)
  2 workers     the same with two workers of one app, both running before the readings, CPU summed
  baseline      with ``--baseline DIR``: one worker of another checkout (its ``streams`` and
                ``opel`` on PYTHONPATH), the same readings, in the same run

Readings go over every area and indicator in turn, one a millisecond, and move through the bands
(a level changes on about one reading in three), so every area sends the county changes.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.shape import area_ids, encoded, indicator_ids, write_catalogue

from streams import topics
from streams.broker import EmbeddedBroker

TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Sampler:
    """CPU seconds and peak memory of a process, sampled every 0.2 s on a thread."""

    pid: int
    samples: list[tuple[float, float]] = field(default_factory=list)  # (unix time, cpu seconds)
    peak_kib: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def stop(self) -> None:
        self._sample()
        self._stop.set()

    def _sample(self) -> None:
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return
        self.samples.append((time.time(), (int(stat[11]) + int(stat[12])) / TICK))
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                self.peak_kib = max(self.peak_kib, int(line.split()[1]))

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds used between two unix times (linear between samples)."""
        return self._at(end) - self._at(start)

    def _at(self, when: float) -> float:
        before = [s for s in self.samples if s[0] <= when]
        after = [s for s in self.samples if s[0] >= when]
        if not before:
            return self.samples[0][1] if self.samples else 0.0
        if not after:
            return before[-1][1]
        (t0, c0), (t1, c1) = before[-1], after[0]
        return c0 if t1 == t0 else c0 + (c1 - c0) * (when - t0) / (t1 - t0)


@dataclass(frozen=True)
class Drain:
    rate: float
    cpu_us: float  # worker CPU per reading, all workers summed
    peak_mib: float  # the largest worker's peak resident memory
    decided: int


async def drain(  # noqa: PLR0917  (one caller, in this file)
    stream: Any,
    work: Path,
    catalogue: Path,
    shape: tuple[int, int, int],
    workers: int,
    code: Path | None = None,
) -> Drain:
    """Workers of a fresh app on a fresh broker drain readings produced once they are all running
    (so two workers have shared the partitions out before the first reading arrives)."""
    areas, indicators, count = shape
    data = work / f"drain-{workers}{'-baseline' if code else ''}"
    broker = EmbeddedBroker(log_path=data.with_suffix(".tansu.log"))
    broker.start(timeout=30)
    env = {
        "OPEL_INDICATOR_CATALOGUE": str(catalogue),
        "OPEL_ALLOW_DRAFT_CATALOGUES": "true",
        "OPEL_LOG_LEVEL": "info",  # for "opel worker running"; Faust and aiokafka stay at warning
    }
    if code is not None:  # another checkout's worker (--baseline), same interpreter and packages
        env["PYTHONPATH"] = str(code)
    procs = []
    try:
        broker.create_topics(topics.all_topics(stream.PARTITIONS))
        for n in range(workers):
            (data / f"w{n}").mkdir(parents=True)
            procs.append(stream.start_worker(broker, data / f"w{n}", "bench-shape", **env))
        samplers = [Sampler(p.pid) for p in procs]
        for sampler in samplers:
            sampler.start()
        await running(procs, data)
        consumer = await stream.tail(broker.bootstrap, topics.STATUS)
        since_ms = int(time.time() * 1000)
        start = datetime.now(UTC) - timedelta(days=1)
        records = [(topics.CAPACITY, k, v) for k, v in encoded(count, start, areas, indicators)]
        try:
            await stream.produce_all(broker.bootstrap, records)
            await probed(stream, broker, consumer, areas, data)
        finally:
            await consumer.stop()
            for sampler in samplers:
                sampler.stop()
            for n, proc in enumerate(procs):
                stream.stop_worker(proc, data / f"w{n}" / "worker.log")
        stamps = await stream.decision_stamps(broker.bootstrap, since_ms, start)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        broker.stop()
    if len(stamps) < count:
        raise SystemExit(f"the workers decided {len(stamps):,} of {count:,} readings")
    first, last = stamps[0], stamps[-1]
    inside = sum(1 for s in stamps if s > first)
    cpu = sum(s.cpu_between(first / 1000, last / 1000) for s in samplers)
    return Drain(
        inside / ((last - first) / 1000),
        cpu / inside * 1e6,
        max(s.peak_kib for s in samplers) / 1024,
        len(stamps),
    )


async def running(procs: list[Any], data: Path) -> None:
    """Every worker says it is running, and then a few seconds for the group to settle."""
    deadline = time.monotonic() + 300
    logs = [data / f"w{n}" / "worker.log" for n in range(len(procs))]
    while not all(p.exists() and "opel worker running" in p.read_text(errors="replace") for p in logs):
        if time.monotonic() > deadline or any(proc.poll() is not None for proc in procs):
            tails = "".join(p.read_text(errors="replace")[-3000:] for p in logs if p.exists())
            raise SystemExit(f"the workers did not start within 300 s:\n{tails}")
        await asyncio.sleep(0.2)
    await asyncio.sleep(3 * len(procs))  # a second worker's join rebalances the first


async def probed(stream: Any, broker: EmbeddedBroker, consumer: Any, areas: int, data: Path) -> None:
    """Wait until one probe per area, sent after the backlog, has been decided: then it all has."""
    probe = datetime.now(UTC)
    name = indicator_ids(1)[0]
    body = '{{"indicator": "{n}", "area": "{a}", "value": 99, "observed_at": "{t}"}}'
    await stream.produce_all(
        broker.bootstrap,
        [
            (topics.CAPACITY, a.encode(), body.format(n=name, a=a, t=probe.isoformat()).encode())
            for a in area_ids(areas)
        ],
    )
    seen: dict[str, Any] = {}
    deadline = time.monotonic() + 900
    keys = [f"indicator/{name}/{a}" for a in area_ids(areas)]
    while not all(
        (at := seen.get(k, {}).get("observed_at")) and datetime.fromisoformat(at) == probe for k in keys
    ):
        if time.monotonic() > deadline:
            logs = "".join(p.read_text(errors="replace")[-2000:] for p in data.rglob("worker.log"))
            raise SystemExit(f"the workers did not decide the backlog within 900 s:\n{logs}")
        await stream.statuses(consumer, seen)


async def one_shape(  # noqa: PLR0917  (one caller, in this file)
    stream: Any, work: Path, areas: int, indicators: int, count: int, baseline: Path | None
) -> dict[str, Any]:
    folder = work / f"{areas}x{indicators}"
    folder.mkdir()
    catalogue = write_catalogue(folder, areas, indicators)
    broker = EmbeddedBroker(log_path=folder / "tansu.log")
    broker.start(timeout=30)
    try:
        broker.create_topics(topics.all_topics(stream.PARTITIONS))
        start = datetime.now(UTC) - timedelta(days=1)
        records = [(topics.CAPACITY, k, v) for k, v in encoded(count, start, areas, indicators)]
        await stream.produce_all(broker.bootstrap, records)
        plain = await stream.plain_loop(broker.bootstrap, count, str(catalogue))
    finally:
        broker.stop()
    one = await drain(stream, folder, catalogue, (areas, indicators, count), 1)
    two = await drain(stream, folder, catalogue, (areas, indicators, count), 2)
    row = {"areas": areas, "plain": plain, "one": one, "two": two}
    if baseline is not None:
        base = await drain(stream, folder, catalogue, (areas, indicators, count), 1, baseline)
        row["baseline"] = base
        print(
            f"{areas:>5} x {indicators:<3} baseline 1 worker {base.rate:>8,.0f}/s "
            f"{base.cpu_us:>6.1f} us CPU/reading {base.peak_mib:>6.0f} MiB "
            f"(now {one.rate / base.rate:.2f}x of it)",
            flush=True,
        )
    print(
        f"{areas:>5} x {indicators:<3} plain {plain:>9,.0f}/s | 1 worker {one.rate:>8,.0f}/s "
        f"{one.cpu_us:>6.1f} us CPU/reading {one.peak_mib:>6.0f} MiB | 2 workers {two.rate:>8,.0f}/s "
        f"{two.cpu_us:>6.1f} us CPU/reading ({two.rate / one.rate:.2f}x)",
        flush=True,
    )
    return row


async def run(  # noqa: PLR0917  (bench/stream.py's main)
    stream: Any, areas: list[int], indicators: int, count: int, work: Path, baseline: Path | None = None
) -> None:
    rows = [await one_shape(stream, work, a, indicators, count, baseline) for a in areas]
    first = rows[0]["one"].rate
    print("\none worker, each shape against the first in this run:")
    for row in rows:
        print(f"  {row['areas']:>5} areas: {row['one'].rate / first:.2f}")
