"""`opel run`: the worker with its web server (API, board, /metrics), alerting and, on request, the demo.

Everything optional is an *extra* of :mod:`streams.worker`: started after the stages, stopped
before them. The web server always runs (it serves /metrics and /healthz); alerting runs when
a routing file is configured; ``--demo`` plays the scripted winter day into the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from streams.settings import Settings
from streams.tasks import cancel_and_wait

if TYPE_CHECKING:  # the worker imports Faust; `opel assess` must not pay for that
    from opel.alerting.routing import RoutingConfig
    from opel.partners.config import Partner
    from streams.kafka_security import KafkaSecurity
    from streams.worker import Extra, Running

log = logging.getLogger("opel.run")

DEFAULT_API_CONFIG = Path(__file__).resolve().parent.parent / "config" / "api.example.yaml"


async def web_extra(running: Running) -> Callable[[], Awaitable[None]]:
    from streams import metrics  # noqa: PLC0415
    from streams.status_view import StatusView  # noqa: PLC0415
    from streams.web.auth import load_api_config  # noqa: PLC0415
    from streams.web.command_sender import CommandSender  # noqa: PLC0415
    from streams.web.server import WebServer  # noqa: PLC0415

    settings = running.settings
    bootstrap = settings.kafka_bootstrap()
    path = settings.api_config or DEFAULT_API_CONFIG
    config = load_api_config(path)
    for catalogue in running.store.versions():
        metrics.set_catalogue_info(catalogue["kind"], catalogue["id"], catalogue["version"])
    view = StatusView(bootstrap, security=running.security, isolation_level=running.delivery.isolation_level)
    sender = CommandSender(bootstrap, security=running.security)
    store = running.store
    desk = None
    if settings.routing_file is not None:
        from streams.exercise.desk import ExerciseDesk  # noqa: PLC0415

        desk = ExerciseDesk(
            bootstrap=bootstrap,
            routing_file=settings.routing_file,
            app_id=settings.app_id,
            security=running.security,
        )
    server = WebServer(
        host=settings.web_host,
        port=settings.web_port,
        view=view,
        send_command=sender,
        auth=config.auth,
        catalogues=running.store.versions,
        # Read at each request: the actions shown are always those of the catalogue in force.
        action_plan=lambda: store.action_plan,
        board=config.board,
        county_scope=f"county/{running.store.context.county}",
        keah_within=_keah_within(settings.routing_file),
        send_readings=sender.send_records,
        exercise=desk,
    )
    await view.start()
    await sender.start()
    await server.start()
    running.web_url = f"http://{settings.web_host}:{server.port}"
    lag = asyncio.create_task(_poll_lag(settings, running.security), name="opel-lag")
    log.info("status board and API on http://%s:%s/ (metrics at /metrics)", settings.web_host, server.port)

    async def stop() -> None:
        await cancel_and_wait(lag)
        await server.stop()
        if desk is not None:
            await desk.close()
        await sender.stop()
        await view.stop()

    return stop


def _keah_within(routing_file: Path | None) -> timedelta:
    """The routing file's KEaH deadline (plan 7.6), so that the due times the board shows are the
    ones alerting keeps; the plan's 2 hours without a usable file (alerting reports why)."""
    from opel.alerting.routing import RoutingError, load_routing  # noqa: PLC0415
    from streams.web.duties import KEAH_WITHIN  # noqa: PLC0415

    if routing_file is None:
        return KEAH_WITHIN
    try:
        return load_routing(routing_file).clock.keah_within
    except RoutingError:
        log.warning("KEaH due times on the board use the plan's 2 hours: %s cannot be read", routing_file)
        return KEAH_WITHIN


async def _poll_lag(settings: Settings, security: KafkaSecurity, every: float = 15.0) -> None:
    from streams import metrics, topics  # noqa: PLC0415

    while True:
        await asyncio.sleep(every)
        try:
            await metrics.refresh_consumer_lag(
                settings.kafka_bootstrap(),
                f"{settings.app_id}-ingest",
                topics.INPUT_TOPICS,
                security=security,
            )
        except Exception:
            log.warning("consumer lag poll failed", exc_info=True)


DEMO_GROUP_WAIT: Final = timedelta(seconds=5)
DEMO_GROUP_INTERVAL: Final = timedelta(seconds=30)
"""The demo's grouping waits: its first level changes come some ten seconds in, and the people
watching should see the alerts within its first minute, not after the file's two minutes."""

RoutingAdjust = Callable[["RoutingConfig"], "RoutingConfig"]


def alerting_with(adjust: RoutingAdjust | None = None) -> Extra:
    """Alerting on ``OPEL_ROUTING_FILE``, each load of it (start and hot reload) passed through
    ``adjust``; messages take their actions from the action plan of the catalogue in force."""

    async def start(running: Running) -> Callable[[], Awaitable[None]]:
        from opel.alerting.routing import load_routing  # noqa: PLC0415
        from streams.alerting.service import AlertingService  # noqa: PLC0415

        settings = running.settings
        assert settings.routing_file is not None

        def load(path: str | Path) -> RoutingConfig:
            config = load_routing(path)
            return config if adjust is None else adjust(config)

        store = running.store
        service = AlertingService(
            bootstrap=settings.kafka_bootstrap(),
            security=running.security,
            isolation_level=running.delivery.isolation_level,
            routing=load(settings.routing_file),
            group_id=f"{settings.app_id}-alerting",
            action_plan=lambda: store.action_plan,
            routing_loader=load,
        )
        await service.start()
        log.info("alerting with routes from %s", settings.routing_file)
        watcher = asyncio.create_task(
            _watch_routing(service, settings.routing_file), name="opel-routing-watch"
        )

        async def stop() -> None:
            await cancel_and_wait(watcher)
            await service.stop()

        return stop

    return start


alerting_extra: Final = alerting_with()


async def _watch_routing(service: Any, path: Path, every: float = 5.0) -> None:
    """Hot reload, like catalogues: a changed routing file is loaded, a bad one refused (and audited)."""
    seen = path.stat().st_mtime if path.exists() else None
    while True:
        await asyncio.sleep(every)
        try:
            mtime = path.stat().st_mtime if path.exists() else None
            if mtime != seen and mtime is not None:
                seen = mtime
                await service.routing_reload(path)
        except Exception:
            log.exception("routing file check failed")


def partners_extra(partners: tuple[Partner, ...]) -> Extra:
    """Deliver escalation events to ``partners`` (checked before the worker started)."""

    async def start(running: Running) -> Callable[[], Awaitable[None]]:
        from streams.partners.service import PartnerDeliveryService  # noqa: PLC0415

        settings = running.settings
        service = PartnerDeliveryService(
            partners,
            bootstrap=settings.kafka_bootstrap(),
            app_id=settings.app_id,
            security=running.security,
            isolation_level=running.delivery.isolation_level,
        )
        await service.start()
        log.info(
            "partners: escalation events to %s (from %s)",
            ", ".join(p.name for p in partners) or "nobody",
            settings.partners_file,
        )
        return service.stop

    return start


def _span(delta: timedelta) -> str:
    minutes, seconds = divmod(int(delta.total_seconds()), 60)
    if not minutes:
        return f"{seconds} s"
    return f"{minutes} min" + (f" {seconds} s" if seconds else "")


def demo_alerting_extra() -> Extra:
    """Alerting as :data:`alerting_extra`, with the demo's short grouping waits, said in the log."""

    def shorter(config: RoutingConfig) -> RoutingConfig:
        from opel.alerting.routing import with_grouping_at_most  # noqa: PLC0415

        log.info(
            "demo: alerts grouped for at most %s (group_wait; %s in %s) and %s between updates "
            "(group_interval; %s), so the first arrive within the demo's first minute; "
            "opel run without --demo keeps the file's waits",
            _span(DEMO_GROUP_WAIT),
            _span(config.defaults.group_wait),
            config.source,
            _span(DEMO_GROUP_INTERVAL),
            _span(config.defaults.group_interval),
        )
        return with_grouping_at_most(config, DEMO_GROUP_WAIT, DEMO_GROUP_INTERVAL)

    return alerting_with(shorter)


def demo_extra(speed: float, begin: datetime | None = None) -> Extra:
    """Play the scripted day at ``speed``; it begins (06:00 of the story) at ``begin``, by default
    so that it ends now (nothing stamped in the future)."""

    async def start(running: Running) -> Callable[[], Awaitable[None]]:
        from streams import kafka_security  # noqa: PLC0415
        from streams.demo import ending_now, play, winter_day  # noqa: PLC0415

        producer = kafka_security.producer(
            running.settings.kafka_bootstrap(), security=running.security, linger_ms=5
        )
        await producer.start()

        async def send(topic: str, key: bytes | None, value: bytes) -> None:
            await producer.send_and_wait(topic, key=key, value=value)

        async def run_demo() -> None:
            script = winter_day(begin or ending_now(datetime.now(UTC)))
            log.info("demo: playing a winter day for Kent (%d messages) at speed %s", len(script), speed)
            await play(script, send, speed=speed)
            log.info("demo: the scripted day is over; the worker keeps running")

        task = asyncio.create_task(run_demo(), name="opel-demo")

        async def stop() -> None:
            await cancel_and_wait(task)
            await producer.stop()

        return stop

    return start


def run(args: argparse.Namespace, settings: Settings) -> int:
    from opel.errors import CatalogueError  # noqa: PLC0415
    from opel.partners.config import PartnersError, load_partners  # noqa: PLC0415
    from streams.worker import TopicsNotReadyError, configure_logging, serve  # noqa: PLC0415

    if args.broker:
        settings = settings.with_broker(args.broker)
    configure_logging(settings.log_level)
    extras: list[Extra] = [web_extra]
    if settings.routing_file is not None:
        extras.append(demo_alerting_extra() if args.demo else alerting_extra)
    if settings.partners_file is not None:
        # Checked before anything starts: a partner left without its events must stop the run,
        # not be found out from a log line later.
        try:
            extras.append(partners_extra(load_partners(settings.partners_file)))
        except PartnersError as exc:
            print(f"opel run: {exc}", file=sys.stderr, flush=True)
            return 1
    if args.demo:
        extras.append(demo_extra(args.speed, args.start))

    def ready(running: Running) -> None:
        where = running.broker.bootstrap if running.broker is not None else settings.kafka_bootstrap()
        print(
            f"opel is running: broker {where}; board http://{settings.web_host}:{settings.web_port}/ ;"
            " Ctrl-C stops it",
            flush=True,
        )

    if args.replication_factor is not None and not args.create_topics:
        print("opel run: --replication-factor is only used with --create-topics", file=sys.stderr)
        return 2
    if args.create_topics and settings.broker_url is None:
        log.info("--create-topics: the embedded broker always gets its topics")
    try:
        asyncio.run(
            serve(
                settings,
                tuple(extras),
                ready=ready,
                create_topics=args.create_topics,
                replication_factor=args.replication_factor,
            )
        )
    except (TopicsNotReadyError, CatalogueError) as exc:
        print(f"opel run: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker",
        help="Kafka bootstrap (kafka://host:port); default: OPEL_BROKER_URL, else start the embedded broker",
    )
    parser.add_argument(
        "--create-topics",
        action="store_true",
        help="create opel's topics on the --broker cluster where missing (partitions OPEL_PARTITIONS, "
        "compaction as deploy/kafka/create_topics.py); without it a cluster lacking them stops the run",
    )
    parser.add_argument(
        "--replication-factor",
        type=_positive_int,
        default=None,
        help="replicas of each topic that --create-topics creates "
        "(default: 3, or every broker of a smaller cluster)",
    )
    parser.add_argument("--demo", action="store_true", help="also play the scripted winter day for Kent")
    parser.add_argument("--speed", type=float, default=1.0, help="demo speed factor (default 1)")
    parser.add_argument(
        "--start",
        type=_aware_time,
        default=None,
        metavar="TIME",
        help="with --demo: 06:00 of the simulated day, ISO 8601 (default: the day ends now); "
        "without an offset, Kent time",
    )


def _aware_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time, got {text!r}") from None
    # A time without an offset is read as Kent wall-clock time, as people would mean it.
    return value if value.tzinfo is not None else value.replace(tzinfo=ZoneInfo("Europe/London"))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def describe(_: Any) -> str:
    return "run the worker (embedded broker unless OPEL_BROKER_URL is set)"
