"""One opel worker process: (optionally) the embedded broker, the Faust stages, ingest, extras.

``python -m streams.worker`` and ``opel run`` both end up in :func:`serve`. SIGINT and
SIGTERM stop everything in reverse order of starting, so Ctrl-C leaves no broker behind.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opel.errors import CatalogueError
from streams import delivery, metrics, topic_admin, topics
from streams.app import Outputs, aggregate_keys, create_app
from streams.broker import EmbeddedBroker
from streams.catalogues import CatalogueStore
from streams.delivery import AT_LEAST_ONCE, Delivery
from streams.fatal import Check, arm_stop_deadline, exit_fatal, stop_or_fatal
from streams.ingest import Ingest
from streams.kafka_security import PLAINTEXT, KafkaAccessError, KafkaSecurity, check_access, for_settings
from streams.settings import Settings
from streams.tasks import cancel_and_wait

log = logging.getLogger("opel.worker")

Extra = Callable[["Running"], Awaitable[Callable[[], Awaitable[None]]]]
"""An optional component: started with the running worker, returns its stop function."""


@dataclass
class Running:
    settings: Settings
    store: CatalogueStore
    app: Any
    ingest: Ingest
    broker: EmbeddedBroker | None = None
    web_url: str | None = None  # set by the web extra once it listens
    stops: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    security: KafkaSecurity = PLAINTEXT  # how every Kafka client of the worker and its extras connects
    delivery: Delivery = AT_LEAST_ONCE  # the guarantee in force; its readers' isolation level


def start_embedded_broker(settings: Settings) -> tuple[EmbeddedBroker, Settings]:
    broker = EmbeddedBroker(log_path=settings.data_dir / "tansu.log")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    broker.start(timeout=30)
    broker.create_topics(topics.all_topics(settings.partitions))
    settings = settings.with_broker(broker.url)
    settings.broker_url_file.write_text(broker.url + "\n")
    log.info(
        "embedded broker (Tansu) on %s; its address is in %s", broker.bootstrap, settings.broker_url_file
    )
    return broker, settings


class TopicsNotReadyError(RuntimeError):
    """The cluster lacks opel's topics, has them otherwise, or cannot be asked (unreachable, or it
    refused the OPEL_KAFKA_* security settings): one line says which."""


def create_topics_hint(settings: Settings) -> str:
    bootstrap = settings.kafka_bootstrap()
    return (
        "create them with `opel run --create-topics` or `python deploy/kafka/create_topics.py "
        f"--bootstrap {bootstrap} --partitions {settings.partitions} --replication-factor N` (docs/kafka.md)"
    )


async def ensure_topics(
    settings: Settings, *, create: bool = False, replication_factor: int | None = None, timeout: float = 30
) -> tuple[str, ...]:
    """Check (or, with ``create``, create) opel's topics on the configured cluster; return those created.

    Creation uses :mod:`streams.topic_admin` (partitions ``OPEL_PARTITIONS``, compaction as in
    ``deploy/kafka/create_topics.py``) with ``replication_factor`` replicas, by default 3, or every
    broker of a smaller cluster. Raises :class:`TopicsNotReadyError` with a one-line message.
    """
    bootstrap = settings.kafka_bootstrap()
    security = for_settings(settings)
    specs = topics.all_topics(settings.partitions)
    try:
        # First, so that a refused password or certificate is said in one line naming its setting
        # rather than as the admin client's "Unable to bootstrap".
        await check_access(bootstrap, security)
        if create:
            rf = replication_factor or topic_admin.default_replication_factor(
                await topic_admin.broker_count(bootstrap, timeout=timeout, security=security)
            )
            outcome = await topic_admin.create_topics(
                bootstrap,
                specs,
                replication_factor=rf,
                timeout=timeout,
                client_id="opel-run-create-topics",
                security=security,
            )
            if outcome.problems:
                raise TopicsNotReadyError(
                    f"cannot create opel's topics on {bootstrap}: " + "; ".join(outcome.problems)
                )
            if outcome.created:
                log.info(
                    "created %d topics on %s (%d partitions, %d replicas): %s",
                    len(outcome.created),
                    bootstrap,
                    settings.partitions,
                    rf,
                    ", ".join(outcome.created),
                )
            return outcome.created
        check = await topic_admin.check_topics(bootstrap, specs, timeout=timeout, security=security)
    except TopicsNotReadyError:
        raise
    except KafkaAccessError as exc:
        raise TopicsNotReadyError(str(exc)) from None
    except Exception as exc:  # refused, timed out, unknown host: one line, not a traceback
        detail = str(exc) or type(exc).__name__
        raise TopicsNotReadyError(
            f"cannot reach Kafka at {bootstrap} to check opel's topics: {detail}"
        ) from exc
    if check.missing:
        raise TopicsNotReadyError(
            f"{len(check.missing)} of opel's {len(specs)} topics are missing on {bootstrap} "
            f"({', '.join(check.missing)}); {create_topics_hint(settings)}"
        )
    if check.mismatched:
        raise TopicsNotReadyError(
            f"opel's topics on {bootstrap} differ from what the worker needs: {'; '.join(check.mismatched)}"
        )
    return ()


async def choose_delivery(settings: Settings, security: KafkaSecurity) -> Delivery:
    """The delivery guarantee for ``OPEL_DELIVERY`` on this broker, logged and set as a metric.

    Raises :class:`TopicsNotReadyError` (one line) when it cannot be had or the broker not asked.
    """
    bootstrap = settings.kafka_bootstrap()
    try:
        chosen = await delivery.resolve(
            settings.delivery, bootstrap, security=security, probe_id=f"{settings.app_id}-delivery-probe"
        )
    except delivery.DeliveryError as exc:
        raise TopicsNotReadyError(str(exc)) from None
    except Exception as exc:
        detail = str(exc) or type(exc).__name__
        raise TopicsNotReadyError(f"cannot ask Kafka at {bootstrap} what it supports: {detail}") from exc
    log.info("delivery: %s (OPEL_DELIVERY=%s)", chosen.describe(), settings.delivery)
    metrics.set_delivery_mode(chosen.mode)
    return chosen


def utc_now() -> datetime:
    """The worker's one wall clock, passed to every component that needs the time."""
    return datetime.now(UTC)


async def start(
    settings: Settings,
    extras: tuple[Extra, ...] = (),
    clock: Callable[[], datetime] = utc_now,
    *,
    create_topics: bool = False,
    replication_factor: int | None = None,
) -> Running:
    """Start the worker. On a cluster of its own (``OPEL_BROKER_URL``) its topics must exist, or
    :class:`TopicsNotReadyError` is raised before anything starts; ``create_topics`` creates them."""
    broker = None
    # First, before any broker: a catalogue that cannot run (no action plan, a draft) stops the
    # start with its CatalogueError, and nothing is left to clean up.
    store = CatalogueStore(settings, clock=clock)
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    security = for_settings(settings)
    replicas = 1  # the embedded broker keeps one copy of everything
    if settings.broker_url is None:
        if security.protocol != "PLAINTEXT":
            raise TopicsNotReadyError(
                f"OPEL_KAFKA_SECURITY_PROTOCOL={security.protocol} needs OPEL_BROKER_URL: the embedded "
                "broker only speaks PLAINTEXT"
            )
        broker, settings = await asyncio.to_thread(start_embedded_broker, settings)
    else:
        await ensure_topics(settings, create=create_topics, replication_factor=replication_factor)
        log.info("Kafka at %s, connecting with %s", settings.kafka_bootstrap(), security.describe())
        # Faust creates its table changelogs itself, with 1 replica unless told: on a cluster of
        # three a killed broker then took part of every table with it (tests/integration/
        # test_kafka_failover.py). They get as many replicas as opel's own topics have.
        try:
            replicas = await topic_admin.replication_factor(
                settings.kafka_bootstrap(), topics.STATUS, security=security
            )
        except Exception as exc:
            raise TopicsNotReadyError(
                f"cannot reach Kafka at {settings.kafka_bootstrap()} to check opel's topics: "
                f"{str(exc) or type(exc).__name__}"
            ) from exc
    delivery = await choose_delivery(settings, security)
    outputs = Outputs(settings.kafka_bootstrap(), security=security, idempotent=delivery.idempotent)
    app = create_app(settings, store, outputs, clock, replication_factor=replicas, delivery=delivery)
    if settings.broker_url is not None:
        await create_changelogs(app, settings, security, replicas)
    ingest = Ingest(
        bootstrap=settings.kafka_bootstrap(),
        group_id=f"{settings.app_id}-ingest",
        store=store,
        max_bytes=settings.max_message_bytes,
        session_timeout=settings.session_timeout,
        heartbeat_interval=settings.heartbeat_interval,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        aggregate_keys=lambda: aggregate_keys(store),
        clock=clock,
        source_idle=settings.source_idle,
        security=security,
        delivery=delivery,
        transactional_prefix=f"{settings.app_id}-ingest",
    )
    running = Running(settings, store, app, ingest, broker, security=security, delivery=delivery)
    try:
        await outputs.start()
        running.stops.append(outputs.stop)
        await app.start()
        running.stops.append(app.stop)
        await ingest.start()
        running.stops.append(ingest.stop)
        await _add_watcher(running)
        for extra in extras:
            running.stops.append(await extra(running))
    except BaseException:
        await stop(running)
        raise
    return running


async def create_changelogs(app: Any, settings: Settings, security: KafkaSecurity, replicas: int) -> None:
    """Create the tables' changelog topics before Faust starts, and wait until they are led.

    Faust creates them itself as it starts, but Apache Kafka tells its brokers of a new topic a
    moment after it answers CreateTopics: a consumer whose metadata came in between kept the
    changelog as missing, and every write to that table failed (``PartitionsMismatch``: the
    changelog "has 0 partitions") until its metadata was refreshed minutes later (seen on a
    fresh one-node cluster in tests/integration/test_oracle.py). Topics already there are left
    as they are.
    """
    specs = [
        topics.TopicSpec(
            name=table.changelog_topic.get_topic_name(),
            partitions=table.changelog_topic.partitions or settings.partitions,
            compacted=True,
            role="internal",
            description=f"Changelog of the {table.name} table.",
        )
        for table in app.tables.values()
    ]
    try:
        outcome = await topic_admin.create_topics(
            settings.kafka_bootstrap(),
            specs,
            replication_factor=replicas,
            verify_existing=False,
            client_id=f"{settings.app_id}-changelogs",
            security=security,
        )
    except Exception as exc:
        raise TopicsNotReadyError(
            f"cannot create the table changelogs on {settings.kafka_bootstrap()}: "
            f"{str(exc) or type(exc).__name__}"
        ) from exc
    if outcome.failed:
        raise TopicsNotReadyError(
            f"cannot create the table changelogs on {settings.kafka_bootstrap()}: "
            + "; ".join(outcome.failed)
        )
    if outcome.created:
        log.info(
            "created %d table changelogs (%d replicas): %s",
            len(outcome.created),
            replicas,
            ", ".join(outcome.created),
        )


async def _add_watcher(running: Running) -> None:
    watcher = asyncio.create_task(_watch_catalogues(running), name="opel-catalogue-watch")

    async def stop_watcher() -> None:
        await cancel_and_wait(watcher)

    running.stops.append(stop_watcher)


# How long one component may take to stop. A component whose broker has gone away retries for
# ever (its last commit or flush never completes, and Faust's consumer thread cannot be
# cancelled), so the worker would ignore Ctrl-C. Giving up loses nothing: input that was not
# committed is read again on restart, and every update is idempotent.
STOP_TIMEOUT = 15.0


async def stop(running: Running, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop every component, newest first; False if one had to be abandoned."""
    clean = True
    for stop_one in reversed(running.stops):
        name = _component(stop_one)
        task = asyncio.ensure_future(stop_one())
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            clean = False
            log.error("%s did not stop within %.0f s (is the broker reachable?); abandoned", name, timeout)
        elif not task.cancelled() and task.exception() is not None:
            log.error("error while stopping %s", name, exc_info=task.exception())
    if running.broker is not None:
        await asyncio.to_thread(running.broker.stop)
    return clean


def _component(stop_one: Callable[[], Awaitable[None]]) -> str:
    owner = getattr(stop_one, "__self__", None)  # a bound stop() names its object's class
    return type(owner).__name__ if owner is not None else getattr(stop_one, "__qualname__", repr(stop_one))


async def _watch_catalogues(running: Running, every: float = 5.0) -> None:
    """Pick up new catalogue files without a restart; refusals are audited, never fatal."""
    while True:
        await asyncio.sleep(every)
        try:
            records = running.store.reload()
            for record in records:
                fut = await running.app.producer.send(topics.AUDIT, None, record.to_json(), None, None, None)
                await fut
        except Exception:
            log.exception("catalogue check failed")


# Python runs a generation-0 collection every 700 net allocations by default. The hot path
# allocates a few small dicts per reading, almost none of them in reference cycles, so the
# worker spent about a fifth of its time collecting (bench/stream.py: 13,400 -> 17,200
# readings/s with these). Reference counting still frees all of it at once; only cyclic
# garbage waits longer before it is found.
GC_THRESHOLDS = (50_000, 50, 100)


async def serve(
    settings: Settings,
    extras: tuple[Extra, ...] = (),
    ready: Callable[[Running], None] | None = None,
    *,
    create_topics: bool = False,
    replication_factor: int | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    gc.set_threshold(*GC_THRESHOLDS)
    running = await start(
        settings, extras, create_topics=create_topics, replication_factor=replication_factor
    )
    # What start-up built (modules, the app, its services) lives as long as the process: move it
    # out of the collector's sight so full collections only walk what the stream allocates.
    gc.freeze()
    try:
        if ready is not None:
            ready(running)
        log.info("opel worker running (pid %s); Ctrl-C stops it", os.getpid())
        fatal = await stop_or_fatal(stopping, fatal_checks(running))
        if fatal is not None:
            exit_fatal(fatal)
        log.info("stopping")
    finally:
        arm_stop_deadline()
        clean = await stop(running)
    if clean and not await _others_finish(LEFTOVER_TIMEOUT):
        # asyncio.run would wait for ever on a task that swallows its cancellation (seen after a
        # large backlog: the process ignored SIGTERM for an hour). Everything was stopped and
        # committed, so leave now.
        log.error("tasks still running %.0f s after a clean stop; exiting", LEFTOVER_TIMEOUT)
        logging.shutdown()
        os._exit(0)
    if not clean:
        # An abandoned component still holds tasks and a non-daemon thread that would keep the
        # process alive (and asyncio.run would wait on them): leave now.
        log.error("exiting with components abandoned")
        logging.shutdown()
        os._exit(1)


LEFTOVER_TIMEOUT = 10.0


def fatal_checks(running: Running) -> list[Check]:
    """What makes the worker exit with status 1 rather than carry on (streams.fatal)."""

    def faust_crashed() -> str | None:
        reason = running.app.fatal()
        if reason is None:
            return None
        return f"the Faust app crashed ({type(reason).__name__}: {reason})"

    return [faust_crashed]


async def _others_finish(timeout: float) -> bool:
    """Cancel every task but this one; False if some are still running ``timeout`` s later."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    for task in others:
        task.cancel()
    if not others:
        return True
    _, pending = await asyncio.wait(others, timeout=timeout)
    return not pending


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    # Faust and aiokafka are chatty at info; their warnings still show. At debug, show it all.
    quiet = logging.getLogger().level > logging.DEBUG
    for name in ("faust", "aiokafka", "mode"):
        logging.getLogger(name).setLevel(
            max(logging.WARNING, logging.getLogger().level) if quiet else logging.DEBUG
        )


def main() -> None:
    settings = Settings.load()
    configure_logging(settings.log_level)
    try:
        asyncio.run(serve(settings))
    except (TopicsNotReadyError, CatalogueError) as exc:
        log.error("%s", exc)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
