"""Integration-test fixtures: a real broker, in two tiers: the embedded Tansu broker and Apache Kafka.

Every test collected under ``tests/integration`` is marked ``integration`` (deselect it with
``pytest -m "not integration"``) and runs once per broker tier, its id suffixed ``[tansu]`` or
``[kafka]``: the session fixture ``broker_kind`` is parametrised (so pytest runs one tier, then the
other), and ``broker``, ``broker_factory`` and ``service.fresh_broker`` start that tier's broker.
The Apache Kafka tier is a one-node KRaft cluster from Maven Central jars
(:mod:`streams.apache_kafka`).

The Kafka tier runs when ``OPEL_KAFKA_TIER=1`` (on request; ``.ci/run`` does not ask for it
yet, docs/kafka.md). Where Java or Maven is missing it is skipped with the reason, never failed,
unless ``OPEL_REQUIRE_KAFKA=1``, when every Kafka-tier test fails with the reason. The run's
summary ends with one line saying whether the tier ran, and why not.
A test that only makes sense on one broker is listed in :data:`ONE_TIER_ONLY` with why; a module
can set ``BROKER_TIERS = ()`` and define its own ``broker_kind`` fixture to opt out of the tiers.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.apache_kafka import KafkaUnavailable, resolve_jars, unavailable_reason
from streams.broker import EmbeddedBroker
from streams.topics import all_topics

from . import service
from .service import BROKER_KINDS, BrokerKind

PARTITIONS = 4
"""Partition count of every OPEL topic on the session broker (Faust ``topic_partitions``)."""

_HERE = Path(__file__).resolve().parent
log = logging.getLogger(__name__)

BrokerFactory = Callable[..., EmbeddedBroker]

REQUIRE_KAFKA = "OPEL_REQUIRE_KAFKA"

_TANSU_CLASS = (
    "tests the embedded Tansu broker class itself; "
    "tests/integration/test_apache_kafka.py tests the Apache Kafka launcher"
)
ONE_TIER_ONLY: dict[str, tuple[BrokerKind, str]] = {
    "test_broker.py::test_topic_specs": ("tansu", "needs no broker"),
    "test_broker.py::test_stop_ends_process_and_frees_port": ("tansu", _TANSU_CLASS),
    "test_broker.py::test_restart_and_context_manager": ("tansu", _TANSU_CLASS),
    "test_broker.py::test_start_failure_reports_broker_log": ("tansu", _TANSU_CLASS),
    "test_broker.py::test_start_retries_when_the_picked_port_is_taken": ("tansu", _TANSU_CLASS),
    "test_broker.py::test_start_timeout_reports_stderr_and_kills_process_group": ("tansu", _TANSU_CLASS),
    "test_broker.py::test_no_orphan_broker_when_owner_dies": ("tansu", _TANSU_CLASS),
}
"""``module::test`` -> (the one tier it runs on, why). The other tier's id is skipped with the reason."""

KNOWN_ON_KAFKA: dict[str, tuple[str, str]] = {}
"""Tests known to fail (``xfail``, not strict: a pass shows as XPASS) or hang (``skip``) on the Apache
Kafka tier, with the cause as far as it is known. They run unchanged on Tansu. Remove an entry when
its cause is fixed; issue 12 follows them."""


_collected = False
"""Whether this run collected integration tests (the Kafka tier line is said only then)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    global _collected  # noqa: PLW0603  (one flag per pytest run, read by the summary hook)
    for item in items:
        if item.path.resolve().is_relative_to(_HERE):
            item.add_marker(pytest.mark.integration)
            _collected = True


def kafka_tier_line() -> str:
    """One line: whether this run's integration tests ran on Apache Kafka too, and why not."""
    if not kafka_tier_on():
        return f"Apache Kafka tier: off; set {KAFKA_TIER}=1 to run it too (docs/kafka.md)"
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get(REQUIRE_KAFKA, "").strip() not in ("", "0"):
            return f"Apache Kafka tier: FAILED, required ({REQUIRE_KAFKA}=1) but cannot run here: {reason}"
        return f"Apache Kafka tier: skipped, {reason} (docs/kafka.md)"
    return "Apache Kafka tier: on (every broker test ran on Tansu and on Apache Kafka)"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _collected:
        terminalreporter.write_line(kafka_tier_line())


TEST_HANG_SECONDS = 900.0
"""A test (set-up, call and tear-down) still running after this has hung: end the run, loudly."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Watchdog: a hung integration test (e.g. an event loop that cannot close because a worker
    thread never ends) would otherwise hold CI until its limit. Print every thread's stack and
    exit with status 1 instead."""
    if not item.path.resolve().is_relative_to(_HERE):
        yield
        return

    capture = item.config.pluginmanager.getplugin("capturemanager")

    def hung() -> None:
        if capture is not None:
            capture.suspend_global_capture(in_=False)  # write to the terminal, not to the capture
        err = sys.__stderr__ or sys.stderr
        err.write(f"\n{item.nodeid} still running after {TEST_HANG_SECONDS:.0f} s; stacks:\n")
        err.flush()
        faulthandler.dump_traceback(file=err, all_threads=True)
        err.flush()
        os._exit(1)

    timer = threading.Timer(TEST_HANG_SECONDS, hung)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "broker_kind" not in metafunc.fixturenames:
        return
    if not Path(str(metafunc.definition.path)).resolve().is_relative_to(_HERE):
        return
    if getattr(metafunc.module, "BROKER_TIERS", BROKER_KINDS) != BROKER_KINDS:
        return  # the module runs on its own terms (and defines its own broker_kind)
    name = f"{metafunc.definition.path.name}::{metafunc.definition.originalname}"
    only = ONE_TIER_ONLY.get(name)
    known = KNOWN_ON_KAFKA.get(name)
    params: list[Any] = []
    for kind in BROKER_KINDS:
        if kind == "kafka" and not kafka_tier_on():
            params.append(pytest.param(kind, marks=pytest.mark.skip(reason=KAFKA_TIER_OFF)))
        elif only is not None and only[0] != kind:
            params.append(pytest.param(kind, marks=pytest.mark.skip(reason=only[1])))
        elif kind == "kafka" and known is not None:
            how, why = known
            mark = (
                pytest.mark.skip(reason=why) if how == "skip" else pytest.mark.xfail(reason=why, strict=False)
            )
            params.append(pytest.param(kind, marks=mark))
        else:
            params.append(kind)
    # Session scope: pytest runs every test of one tier, then every test of the other, so each
    # tier's session broker starts once. Always both values, in the same order, so the tiers
    # group the same way for every test.
    metafunc.parametrize("broker_kind", params, indirect=True, scope="session", ids=list(BROKER_KINDS))


KAFKA_TIER = "OPEL_KAFKA_TIER"
KAFKA_TIER_OFF = (
    f"the Apache Kafka tier is off: set {KAFKA_TIER}=1 to run every integration test on Apache Kafka "
    "too (docs/kafka.md)"
)


def kafka_tier_on() -> bool:
    """The Kafka tier doubles an integration run, so it runs on request;
    ``OPEL_REQUIRE_KAFKA`` asks for it too."""
    return os.environ.get(KAFKA_TIER, "").strip() not in ("", "0") or (
        os.environ.get(REQUIRE_KAFKA, "").strip() not in ("", "0")
    )


def require_kafka() -> None:
    """Skip (or, with OPEL_REQUIRE_KAFKA=1, fail) unless Apache Kafka can start here; fetch the jars."""
    reason = unavailable_reason()
    if reason is None:
        try:
            resolve_jars()
        except KafkaUnavailable as exc:
            reason = str(exc)
    if reason is None:
        return
    if os.environ.get(REQUIRE_KAFKA, "").strip() not in ("", "0"):
        pytest.fail(f"{REQUIRE_KAFKA} is set but Apache Kafka cannot run here: {reason}", pytrace=False)
    pytest.skip(
        f"Apache Kafka tier skipped: {reason}. Install Java 17+ and Maven (see docs/kafka.md); "
        f"set {REQUIRE_KAFKA}=1 to make this a failure"
    )


@pytest.fixture(scope="session", autouse=True)
def broker_kind(request: pytest.FixtureRequest) -> Iterator[BrokerKind]:
    """The broker tier of this test (``tansu`` or ``kafka``): what ``fresh_broker`` and ``broker`` start."""
    kind: BrokerKind = getattr(request, "param", "tansu")
    if kind == "kafka":
        require_kafka()
    previous = service.broker_kind()
    service.set_broker_kind(kind)
    try:
        yield kind
    finally:
        service.set_broker_kind(previous)


@pytest.fixture(scope="session")
def broker(broker_kind: BrokerKind, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A started broker of the tier, shared by the session, with all OPEL topics (``PARTITIONS`` each).

    Tests that share it use their own topic and group names, or read only what they wrote.
    """
    b = service.new_broker(tmp_path_factory.mktemp(f"broker-{broker_kind}"), broker_kind)
    try:
        b.create_topics(all_topics(PARTITIONS))
        log.info("session %s broker on %s ready in %.3f s", broker_kind, b.bootstrap, b.startup_seconds)
        yield b
    finally:
        b.stop()


@pytest.fixture
def broker_factory(broker_kind: BrokerKind, tmp_path: Path) -> Iterator[BrokerFactory]:
    """Start extra brokers of the tier inside a test; all of them are stopped when the test ends.

    ``port`` (a fixed port) is understood by the Tansu tier only.
    """
    started: list[EmbeddedBroker] = []

    def make(port: int | None = None) -> EmbeddedBroker:
        if broker_kind == "kafka":
            if port is not None:
                raise ValueError("broker_factory(port=...) is for the Tansu tier only")
            b: EmbeddedBroker = service.new_broker(tmp_path / f"kafka-{len(started)}", "kafka")
        else:
            started.append(b := service.start_embedded(tmp_path / f"tansu-{len(started)}.log", port))
            return b
        started.append(b)
        return b

    yield make
    for b in started:
        b.stop()
