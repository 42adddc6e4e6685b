"""Throughput and latency of the streaming service against one broker, with a plain-loop baseline.

    python bench/stream.py                  # 100,000 readings, as recorded in docs/benchmarks.md
    python bench/stream.py --readings 30000 # quicker
    python bench/stream.py --areas 4,40,153,400 --indicators 40   # by shape (bench/shapes.py)
    python bench/stream.py --broker all     # the embedded broker, then Apache Kafka on 1 and 3 nodes

``--broker`` names the brokers to measure, in order, comma-separated: ``tansu`` (the embedded
broker), ``kafka1`` and ``kafka3`` (Apache Kafka from Maven Central jars, streams.apache_kafka,
one node or three with every topic on 3 replicas and min.insync.replicas 2), or ``all``. Each
gets a fresh broker started here and the three measurements below; a table of all of them ends
the run. The latency producer sends with acks=all on every broker, as the worker's own do.

In one run, against each broker started here:
  plain loop   an aiokafka consumer doing the same work as the service's hot path (decode and
               validate, assess, keep the last level per key, forward transitions), no state store
  service      one `python -m streams.worker` process draining the same number of readings
               from a backlog: sustained readings/s between its first and last audit record for
               them (its start-up and the producer are outside the window, as for the plain loop)
  latency      p50/p99 from produce to the escalation event, at 1,000 readings/s of which one
               in 100 changes a level (zero step-down dwell, so every flip is an event)

Floors (issue 3): service >= 10,000 readings/s on one worker; p99 latency < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from opel.assess import assess
from opel.catalogue_load import load_indicator_catalogue
from streams import topics
from streams.apache_kafka import ApacheKafka
from streams.broker import EmbeddedBroker
from streams.codec import decode_reading

PARTITIONS = 4
PLAIN_OUT = "bench.transitions"
AREAS = ("dgs", "east_kent", "swale", "west_kent")
INDICATORS = (("stp_staffing_pct", 20, 100), ("health_caseload", 0, 200), ("keah_capacity", 0, 40))


def readings(count: int, start: datetime) -> list[tuple[str, bytes, bytes]]:
    out = []
    for n in range(count):
        area = AREAS[n % 4]
        name, low, high = INDICATORS[(n // 4) % 3]
        value = low + (n * 7919) % (high - low + 1)
        body = {
            "indicator": name,
            "area": area,
            "value": value,
            "observed_at": (start + timedelta(milliseconds=n)).isoformat(),
        }
        out.append((topics.CAPACITY, area.encode(), json.dumps(body).encode()))
    return out


async def produce_all(bootstrap: str, messages: list[tuple[str, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10, max_batch_size=262144)
    await producer.start()
    try:
        futures = [await producer.send(t, key=k, value=v) for t, k, v in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def plain_loop(bootstrap: str, count: int, catalogue_name: str = "kcc-asch-2025-26") -> float:
    """The baseline: the hot path's work in one aiokafka loop, no tables, no Faust."""
    catalogue = load_indicator_catalogue(catalogue_name)
    consumer = AIOKafkaConsumer(
        topics.CAPACITY,
        bootstrap_servers=bootstrap,
        group_id=f"plain-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await consumer.start()
    await producer.start()
    levels: dict[tuple[str, str], Any] = {}
    seen = 0
    began: float | None = None
    try:
        while seen < count:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            if began is None and batch:
                began = time.perf_counter()
            futures = []
            for records in batch.values():
                for record in records:
                    seen += 1
                    reading = decode_reading(record.value, 512 * 1024)
                    if not hasattr(reading, "indicator"):
                        continue
                    level = assess(catalogue, reading).level  # type: ignore[arg-type]
                    key = (reading.indicator, reading.area)  # type: ignore[union-attr]
                    if levels.get(key) != level:
                        levels[key] = level
                        futures.append(await producer.send(PLAIN_OUT, value=record.value))
            await asyncio.gather(*futures)
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()
    assert began is not None
    return seen / (time.perf_counter() - began)


def start_worker(broker: EmbeddedBroker, data: Path, app_id: str, **env: str) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        "OPEL_BROKER_URL": broker.url,
        "OPEL_APP_ID": app_id,
        "OPEL_DATA_DIR": str(data),
        "OPEL_PARTITIONS": str(PARTITIONS),
        "OPEL_LOG_LEVEL": "warning",
        **env,  # the caller's settings win
    }
    log = (data / "worker.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "streams.worker"], env=environ, stdout=log, stderr=log)


def stop_worker(proc: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM, then the log's end and a kill if the worker is still there after a minute."""
    proc.send_signal(signal.SIGTERM)
    began = time.monotonic()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        print(f"worker ignored SIGTERM for 60 s; its log ends:\n{log.read_text(errors='replace')[-3000:]}")
        return
    print(f"  (worker stopped {time.monotonic() - began:.1f} s after SIGTERM)", flush=True)


async def statuses(consumer: AIOKafkaConsumer, into: dict[str, Any]) -> None:
    batch = await consumer.getmany(timeout_ms=200)
    for records in batch.values():
        for r in records:
            into[r.key.decode()] = json.loads(r.value)


async def tail(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    """A started consumer of every partition of ``topic``, from its end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    return consumer


async def warm_up(broker: EmbeddedBroker, consumer: AIOKafkaConsumer, log: Path) -> None:
    # One probe per area, on an indicator the benchmark never sends (so never older than what
    # is held): each area's stage works in order, so when all four are seen the backlog is done.
    probe = datetime.now(UTC).isoformat()
    probes = [
        (
            topics.CAPACITY,
            area.encode(),
            json.dumps(
                {"indicator": "dementia_bed_availability", "area": area, "value": 3, "observed_at": probe}
            ).encode(),
        )
        for area in AREAS
    ]
    await produce_all(broker.bootstrap, probes)
    seen: dict[str, Any] = {}
    deadline = time.monotonic() + 600
    began = time.monotonic()
    probe_at = datetime.fromisoformat(probe)

    def probed(area: str) -> bool:
        observed = seen.get(f"indicator/dementia_bed_availability/{area}", {}).get("observed_at")
        return observed is not None and datetime.fromisoformat(observed) == probe_at

    while not all(probed(a) for a in AREAS):
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"worker did not become ready within 600 s; its log ends:\n{tail}")
        await statuses(consumer, seen)
    print(f"  (worker ready after {time.monotonic() - began:.1f} s, backlog included)", flush=True)


async def decision_stamps(bootstrap: str, since_ms: int, observed_from: datetime) -> list[int]:
    """Kafka timestamps of the audit records the worker wrote for the benchmark's readings."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
    await consumer.start()
    tps = [TopicPartition(topics.AUDIT, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    stamps = []
    quiet = 0
    try:
        # Read until nothing more arrives (Tansu's ListOffsets under-reports the end).
        while quiet < 3:
            batch = await consumer.getmany(timeout_ms=500, max_records=20_000)
            quiet = 0 if batch else quiet + 1
            for records in batch.values():
                for r in records:
                    if r.timestamp < since_ms or r.value is None:
                        continue
                    record = json.loads(r.value)
                    observed = (record.get("input") or {}).get("observed_at")
                    if record["decision"] != "assessed" or observed is None:
                        continue
                    if datetime.fromisoformat(observed) >= observed_from:
                        stamps.append(r.timestamp)
    finally:
        await consumer.stop()
    return sorted(stamps)


async def service_rate(broker: EmbeddedBroker, count: int, work: Path) -> tuple[float, int]:
    """Sustained readings/s of one worker draining a backlog, as the plain loop is measured.

    The readings are on the topic before the worker starts, so its start-up (group join, table
    recovery) and the producer's own work are outside the measurement. The worker's audit
    records, one per reading and stamped by its producer, give the window: from the first
    record for these readings to the last, and the readings decided inside it.
    """
    data = work / "service"
    data.mkdir()
    # After the latency run's and the plain loop's readings, and still in the past: the worker
    # refuses readings stamped ahead of its clock.
    start = datetime.now(UTC) - timedelta(days=1)
    await produce_all(broker.bootstrap, readings(count, start))
    since_ms = int(time.time() * 1000)
    proc = start_worker(broker, data, "bench-service")
    consumer = await tail(broker.bootstrap, topics.STATUS)
    try:
        # The probes go in after the backlog, so "ready" means every reading has been decided.
        await warm_up(broker, consumer, data / "worker.log")
    finally:
        await consumer.stop()
        stop_worker(proc, data / "worker.log")
    stamps = await decision_stamps(broker.bootstrap, since_ms, start)
    if len(stamps) < count:
        raise SystemExit(f"the worker decided {len(stamps):,} of {count:,} readings")
    first, last = stamps[0], stamps[-1]
    # Readings stamped in the first millisecond were worked on before the window opened.
    inside = sum(1 for s in stamps if s > first)
    return inside / ((last - first) / 1000), len(stamps)


async def latency(broker: EmbeddedBroker, work: Path, rate: int, seconds: float) -> list[float]:
    data = work / "latency"
    data.mkdir()
    proc = start_worker(broker, data, "bench-latency", OPEL_STEP_DOWN_DWELL="0")
    status_consumer = await tail(broker.bootstrap, topics.STATUS)
    events = await tail(broker.bootstrap, topics.ESCALATIONS)
    sent: dict[str, float] = {}
    got: list[float] = []
    try:
        await warm_up(broker, status_consumer, data / "worker.log")
        # linger 5 ms, the Java producer's default since Kafka 4.0 (KIP-1030), and inside the
        # measured time. With no linger every reading is its own batch, and Tansu's memory store
        # pays per stored batch on every fetch: at 1,000 batches/s it saturates a core within a
        # minute and the latency measured is the broker's (docs/benchmarks.md).
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5, acks="all")
        await producer.start()
        start = datetime.now(UTC) - timedelta(days=3)
        total = int(rate * seconds)

        async def send() -> None:
            # 99 readings in 100 hold their level (staffing at 95 %); every 100th flips one area's
            # KEaH capacity between OPEL 1 and OPEL 4, so about 10 escalation events a second
            # are timed against a stream of 1,000 readings a second.
            began = time.perf_counter()
            for n in range(total):
                area = AREAS[n % 4]
                at = (start + timedelta(milliseconds=n)).isoformat()
                if n % 100 == 0:
                    value = 6 if (n // 100) % 2 == 0 else 0
                    body: dict[str, Any] = {
                        "indicator": "keah_capacity",
                        "area": area,
                        "value": value,
                        "observed_at": at,
                    }
                else:
                    body = {"indicator": "stp_staffing_pct", "area": area, "value": 95, "observed_at": at}
                delay = began + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if n % 100 == 0:
                    sent[f"indicator/keah_capacity/{area}|{datetime.fromisoformat(at).timestamp()}"] = (
                        time.perf_counter()
                    )
                await producer.send(topics.CAPACITY, key=area.encode(), value=json.dumps(body).encode())

        async def receive() -> None:
            deadline = time.monotonic() + seconds + 30
            while len(got) < total // 100 and time.monotonic() < deadline:
                batch = await events.getmany(timeout_ms=200)
                now = time.perf_counter()
                for records in batch.values():
                    for r in records:
                        event = json.loads(r.value)
                        key = f"{event['subject']}|{datetime.fromisoformat(event['time']).timestamp()}"
                        if key in sent:
                            got.append(now - sent.pop(key))

        await asyncio.gather(send(), receive())
        await producer.stop()
        return got
    finally:
        await status_consumer.stop()
        await events.stop()
        stop_worker(proc, data / "worker.log")


BROKERS = {
    "tansu": "embedded broker (Tansu)",
    "kafka1": "Apache Kafka, 1 node",
    "kafka3": "Apache Kafka, 3 nodes",
}


def new_broker(kind: str, work: Path) -> EmbeddedBroker:
    """A started broker of ``kind`` with opel's topics (3 replicas each on three nodes)."""
    broker: EmbeddedBroker
    if kind == "tansu":
        broker = EmbeddedBroker(log_path=work / "tansu.log")
        broker.start(timeout=30)
    else:
        broker = ApacheKafka(int(kind[-1]), workdir=work / "kafka")
        broker.start(timeout=240)
    # The plain loop's output: Apache Kafka here creates no topic on first use, as in production.
    plain_out = topics.TopicSpec(PLAIN_OUT, PARTITIONS, False, "internal", "the plain loop's transitions")
    broker.create_topics([*topics.all_topics(PARTITIONS), plain_out])
    return broker


async def measure(kind: str, work: Path, count: int, latency_seconds: float) -> dict[str, float]:
    """The three measurements against a fresh broker of ``kind``, printed as they come."""
    print(f"{BROKERS[kind]}:", flush=True)
    broker = new_broker(kind, work)
    try:
        # Latency first, while the broker holds little: it is the live steady state the floor
        # is about. The throughput runs then fill the broker with 2 x --readings records.
        lat = await latency(broker, work, 1000, latency_seconds)
        # Older than the service's readings, which it reads too, so it takes every later one as newer.
        baseline_input = readings(count, datetime.now(UTC) - timedelta(days=2))
        await produce_all(broker.bootstrap, baseline_input)
        plain = await plain_loop(broker.bootstrap, count)
        print(f"  plain aiokafka loop           {plain:>10,.0f} readings/s")
        service, decided = await service_rate(broker, count, work)
        print(
            f"  service, one worker           {service:>10,.0f} readings/s  "
            f"({service / plain:.2f} of plain; floor 10,000; {decided:,} readings timed)"
        )
        out = {"plain": plain, "service": service}
        if len(lat) < 2:
            print("  latency: too few escalation events matched")
        else:
            q = statistics.quantiles(lat, n=100)
            out |= {"p50": q[49] * 1000, "p99": q[98] * 1000, "max": max(lat) * 1000}
            print(
                f"  latency at 1,000 readings/s   p50 {out['p50']:,.0f} ms  p99 {out['p99']:,.0f} ms  "
                f"max {out['max']:,.0f} ms ({len(lat):,} events; floor p99 < 1 s)",
                flush=True,
            )
        return out
    finally:
        broker.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument(
        "--areas", help="comma-separated area counts: throughput by shape instead (bench/shapes.py)"
    )
    parser.add_argument("--indicators", type=int, default=40, help="indicators per area, with --areas")
    parser.add_argument("--baseline", type=Path, help="with --areas: also one worker of this checkout")
    parser.add_argument("--latency-seconds", type=float, default=60.0)
    parser.add_argument(
        "--broker",
        default="tansu",
        help="comma-separated: tansu, kafka1, kafka3, or all (default: tansu)",
    )
    args = parser.parse_args()
    if args.areas:
        import shapes  # noqa: PLC0415  (bench/ is on the path when this script runs)

        with tempfile.TemporaryDirectory() as tmp:
            areas = [int(a) for a in args.areas.split(",")]
            await shapes.run(
                sys.modules[__name__], areas, args.indicators, args.readings, Path(tmp), args.baseline
            )
        return
    kinds = list(BROKERS) if args.broker == "all" else [k.strip() for k in args.broker.split(",")]
    unknown = [k for k in kinds if k not in BROKERS]
    if unknown:
        parser.error(f"unknown broker(s) {', '.join(unknown)}; expected tansu, kafka1, kafka3 or all")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.1f} at the start"
    )
    results: dict[str, dict[str, float]] = {}
    for kind in kinds:
        # A fresh folder per broker: the workers' data and each broker's files.
        with tempfile.TemporaryDirectory() as tmp:
            results[kind] = await measure(kind, Path(tmp), args.readings, args.latency_seconds)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print("\n| broker | plain loop | service, one worker | service / plain | latency p50 | p99 | max |")
    print("|---|---|---|---|---|---|---|")
    for kind, r in results.items():
        lat = f"{r['p50']:,.0f} ms | {r['p99']:,.0f} ms | {r['max']:,.0f} ms" if "p99" in r else "- | - | -"
        print(
            f"| {BROKERS[kind]} | {r['plain']:,.0f} /s | {r['service']:,.0f} /s | "
            f"{r['service'] / r['plain']:.2f} | {lat} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
