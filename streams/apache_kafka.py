"""Apache Kafka from Maven Central, started by the project: a KRaft cluster of 1 or 3 nodes on loopback.

No Docker is needed, only Java 17 or newer and (once, to fetch the jars) Maven:

* :func:`resolve_jars` copies the broker jars named by ``deploy/kafka/apache/pom.xml`` (the pinned
  Kafka version; ``OPEL_KAFKA_VERSION`` picks another) into a git-ignored cache,
  ``.cache/kafka/<version>/libs`` (``OPEL_KAFKA_CACHE`` moves it), with
  ``mvn dependency:copy-dependencies``. Done once; later starts reuse the cache.
* :class:`ApacheKafka` formats each node's storage with ``kafka.tools.StorageTool`` and starts
  ``kafka.Kafka`` with ``java -cp '<libs>/*'``: every node is a combined broker and controller
  (``process.roles=broker,controller``) with a static controller quorum, its PLAINTEXT and
  CONTROLLER listeners on free ``127.0.0.1`` ports, its data, configuration and log in a work
  folder (a temporary one unless given). :meth:`ApacheKafka.start` returns once every node
  answers metadata requests as an unfenced broker.

The class has the interface of :class:`streams.broker.EmbeddedBroker` that tests and ``opel run``
use (``bootstrap``, ``url``, ``pid``, ``start``, ``stop``, ``create_topics``), so a test can run on
either. For failure tests each node is reachable on its own: :attr:`ApacheKafka.nodes` (pid, ports,
log), :meth:`~ApacheKafka.pause` / :meth:`~ApacheKafka.resume` (SIGSTOP / SIGCONT),
:meth:`~ApacheKafka.kill` (SIGKILL), :meth:`~ApacheKafka.stop_node` (SIGTERM, a clean shutdown),
:meth:`~ApacheKafka.start_node` (same id, ports and data as before) and
:meth:`~ApacheKafka.partition_leaders`.

Broker settings chosen for a small machine (2 cores) and for tests: 512 MiB of heap per node
(``OPEL_KAFKA_HEAP``), few threads, ``group.initial.rebalance.delay.ms=0``, internal topics
(``__consumer_offsets``, transactions, share groups) replicated to ``min(3, nodes)`` with
``min.insync.replicas`` 2 on three nodes, and ``auto.create.topics.enable=false`` as in
``deploy/kafka/compose.yaml``: opel creates its topics (``streams.topic_admin``).

A cluster can also have a secured listener like a managed service's (:class:`SecureListener`):
SASL_SSL on a third loopback port per node, TLS with a PEM key and certificate the caller made,
SCRAM users added by ``StorageTool format --add-scram`` and PLAIN users in the listener's JAAS
configuration, optionally requiring a client certificate. Brokers still talk to each other and
to the launcher's probes over PLAINTEXT; :attr:`ApacheKafka.secure_bootstrap` is the address a
client must authenticate on.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Self

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.broker import (
    _LIVE,
    LOG_TAIL_LINES,
    LOOPBACK,
    BrokerError,
    BrokerStartError,
    EmbeddedBroker,
    _describe_cluster,
    _make_pdeathsig_preexec,
    _run_coro,
    _tcp_accepts,
    free_port,
)
from streams.topics import TopicSpec

__all__ = [
    "DEFAULT_HEAP",
    "POM",
    "ApacheKafka",
    "KafkaNode",
    "KafkaUnavailable",
    "SecureListener",
    "cache_root",
    "jars_dir",
    "java_binary",
    "kafka_version",
    "pinned_version",
    "resolve_jars",
    "unavailable_reason",
]

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
POM: Final = REPO_ROOT / "deploy" / "kafka" / "apache" / "pom.xml"
DEFAULT_CACHE: Final = REPO_ROOT / ".cache" / "kafka"
DEFAULT_HEAP: Final = "512m"
MIN_JAVA: Final = 17
STORAGE_TOOL: Final = "kafka.tools.StorageTool"
BROKER_MAIN: Final = "kafka.Kafka"
MAVEN_TIMEOUT: Final = 900.0
_COMPLETE: Final = ".complete"
_PROBE_INTERVAL: Final = 0.2

# log4j2 configuration of every node: everything to stdout, which the launcher sends to the node's
# log file (so a JVM crash report lands there too). Request and state-change logs stay quiet.
_LOG4J2: Final = """\
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.zookeeper.name = org.apache.zookeeper
logger.zookeeper.level = WARN
"""


class KafkaUnavailable(BrokerError):  # noqa: N818  (a condition of the machine, not a failure)
    """Apache Kafka cannot run here: Java or Maven is missing, too old, or the jars cannot be fetched."""


# ---------------------------------------------------------------------- jars, Java, Maven
def pinned_version() -> str:
    """The Kafka version pinned in ``deploy/kafka/apache/pom.xml`` (``<kafka.version>``)."""
    try:
        text = POM.read_text(encoding="utf-8")
    except OSError as exc:
        raise KafkaUnavailable(f"{POM} not found: the launcher needs a source checkout of opel") from exc
    match = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", text)
    if match is None:
        raise KafkaUnavailable(f"{POM} has no <kafka.version> property")
    return match.group(1)


def kafka_version() -> str:
    """``OPEL_KAFKA_VERSION`` if set, else the pinned version."""
    return os.environ.get("OPEL_KAFKA_VERSION", "").strip() or pinned_version()


def cache_root() -> Path:
    """Where fetched jars are kept: ``OPEL_KAFKA_CACHE`` or ``.cache/kafka`` in the checkout."""
    configured = os.environ.get("OPEL_KAFKA_CACHE", "").strip()
    return Path(configured).expanduser() if configured else DEFAULT_CACHE


def jars_dir(version: str | None = None) -> Path:
    """The classpath folder of one Kafka version (it may not be resolved yet)."""
    return cache_root() / (version or kafka_version()) / "libs"


def java_binary() -> str:
    """``$JAVA_HOME/bin/java`` if it exists, else ``java`` on PATH; checked to be Java 17 or newer."""
    home = os.environ.get("JAVA_HOME", "").strip()
    candidate = Path(home) / "bin" / "java" if home else None
    java = str(candidate) if candidate is not None and candidate.is_file() else shutil.which("java")
    if java is None:
        raise KafkaUnavailable(
            "Java is not installed (no java on PATH, no JAVA_HOME): Apache Kafka needs Java "
            f"{MIN_JAVA} or newer (Debian: apt-get install default-jre-headless)"
        )
    major = _java_major(java)
    if major < MIN_JAVA:
        raise KafkaUnavailable(f"{java} is Java {major}; Apache Kafka 4 needs Java {MIN_JAVA} or newer")
    return java


@functools.cache
def _java_major(java: str) -> int:
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KafkaUnavailable(f"cannot run {java} -version: {exc}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if match is None:
        raise KafkaUnavailable(f"cannot read the Java version from {java} -version: {out.strip()[:200]}")
    first, second = int(match.group(1)), int(match.group(2) or 0)
    return second if first == 1 else first  # "1.8.0" is Java 8


def _is_resolved(libs: Path) -> bool:
    return (libs / _COMPLETE).is_file()


def resolve_jars(version: str | None = None, *, timeout: float = MAVEN_TIMEOUT) -> Path:
    """The classpath folder of ``version`` (default :func:`kafka_version`), fetched with Maven if missing.

    Runs ``mvn -q -f deploy/kafka/apache/pom.xml dependency:copy-dependencies`` into a folder next
    to the cache entry, then renames it into place; a file lock keeps two processes from fetching
    at once. Raises :class:`KafkaUnavailable` naming what is missing or what Maven said.
    """
    version = version or kafka_version()
    libs = jars_dir(version)
    if _is_resolved(libs):
        return libs
    if not POM.is_file():
        raise KafkaUnavailable(f"{POM} not found: the launcher needs a source checkout of opel")
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaUnavailable(
            f"Maven is not installed (no mvn on PATH) and the Kafka {version} jars are not cached in "
            f"{libs.parent}: install Maven (Debian: apt-get install maven) or set OPEL_KAFKA_CACHE"
        )
    libs.parent.mkdir(parents=True, exist_ok=True)
    with (libs.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be fetching the same version
        if _is_resolved(libs):
            return libs
        partial = libs.parent / "libs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        command = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-Dkafka.version={version}",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ]
        env = dict(os.environ)
        with contextlib.suppress(KafkaUnavailable):
            env.setdefault("JAVA_HOME", str(Path(os.path.realpath(java_binary())).parent.parent))
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        except subprocess.TimeoutExpired as exc:
            raise KafkaUnavailable(
                f"Maven did not fetch the Kafka {version} jars in {timeout:.0f} s"
            ) from exc
        jars = list(partial.glob("*.jar")) if partial.is_dir() else []
        if done.returncode != 0 or not any(j.name.startswith("kafka_2.13-") for j in jars):
            said = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise KafkaUnavailable(
                f"Maven could not fetch the Kafka {version} jars (exit {done.returncode}): "
                f"{' '.join(command)}\n{said}"
            )
        (partial / _COMPLETE).write_text(version + "\n")
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
    return libs


def unavailable_reason(version: str | None = None) -> str | None:
    """Why Apache Kafka cannot be started here (one line), or None when it can.

    Checks Java and that the jars are cached or Maven is there to fetch them; does not fetch.
    """
    try:
        java_binary()
        version = version or kafka_version()
        if not _is_resolved(jars_dir(version)) and shutil.which("mvn") is None:
            return (
                f"Maven is not installed (no mvn on PATH) and the Kafka {version} jars are not cached "
                f"in {jars_dir(version).parent}"
            )
    except KafkaUnavailable as exc:
        return str(exc).splitlines()[0]
    return None


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as kafka-storage random-uuid)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


# ---------------------------------------------------------------------- nodes
@dataclass
class KafkaNode:
    """One combined broker/controller: its id, loopback ports, files and (while started) process."""

    node_id: int
    port: int
    controller_port: int
    directory: Path
    secure_port: int | None = None
    """The SASL_SSL listener's port, when the cluster has a :class:`SecureListener`."""
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    paused: bool = False

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def secure_bootstrap(self) -> str:
        if self.secure_port is None:
            raise BrokerError(f"node {self.node_id} has no SASL_SSL listener")
        return f"{LOOPBACK}:{self.secure_port}"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def config_path(self) -> Path:
        return self.directory / "server.properties"

    @property
    def log_path(self) -> Path:
        return self.directory / "kafka.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def is_running(self) -> bool:
        """Started and not exited (a paused node is running)."""
        return self.proc is not None and self.proc.poll() is None


def _log_tail(path: Path, lines: int, since: int = 0) -> str:
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(since, size - 64 * 1024))
            data = fh.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def _wait_state(pid: int, *, stopped: bool, timeout: float = 5.0) -> None:
    """Until ``pid`` is (or is no longer) stopped by a signal, as /proc shows it (Linux; else no wait)."""
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if (state == "T") == stopped:
            return
        time.sleep(0.01)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _leaders(bootstrap: str, topic: str, timeout: float) -> dict[int, int]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="opel-apache-kafka-probe",
        request_timeout_ms=max(int(timeout * 1000), 100),
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        described = await asyncio.wait_for(admin.describe_topics([topic]), timeout)
    finally:
        await admin.close()
    return {int(p["partition"]): int(p["leader"]) for t in described for p in t.get("partitions") or []}


_SCRAM_MECHANISMS: Final = ("SCRAM-SHA-256", "SCRAM-SHA-512")
# Characters that would break StorageTool's 'SCRAM-SHA-256=[name=N,password=P]' or a JAAS option.
_UNQUOTABLE: Final = re.compile(r'[\s,\[\]=";\\]')


@dataclass(frozen=True)
class SecureListener:
    """A SASL_SSL listener on every node, as a managed Kafka service has.

    ``keystore``: a PEM file with the broker's unencrypted PKCS#8 private key and its certificate
    (chain), whose subject alternative names must include ``127.0.0.1``. ``scram_users`` (name ->
    password) get SCRAM-SHA-256 and SCRAM-SHA-512 credentials when storage is formatted;
    ``plain_users`` are accepted with SASL/PLAIN. With ``client_ca`` (a PEM CA file) a client
    must also present a certificate signed by it (``ssl.client.auth=required``).
    """

    keystore: Path
    scram_users: Mapping[str, str] = field(default_factory=dict)
    plain_users: Mapping[str, str] = field(default_factory=dict)
    client_ca: Path | None = None

    def __post_init__(self) -> None:
        for name, password in {**self.scram_users, **self.plain_users}.items():
            if not name or not password or _UNQUOTABLE.search(name + password):
                raise ValueError(
                    f"user {name!r}: names and passwords must be non-empty, without spaces, commas, "
                    "brackets, '=', quotes, ';' or backslashes"
                )
        if not self.scram_users and not self.plain_users:
            raise ValueError("a secure listener needs at least one SCRAM or PLAIN user")

    @property
    def mechanisms(self) -> tuple[str, ...]:
        return (_SCRAM_MECHANISMS if self.scram_users else ()) + (("PLAIN",) if self.plain_users else ())

    def properties(self) -> dict[str, str]:
        """Broker properties of the listener (named ``SASL_SSL``), prefixed with its name."""
        prefix = "listener.name.sasl_ssl."
        props = {
            f"{prefix}sasl.enabled.mechanisms": ",".join(self.mechanisms),
            f"{prefix}ssl.keystore.type": "PEM",
            f"{prefix}ssl.keystore.location": str(self.keystore),
        }
        for mechanism in _SCRAM_MECHANISMS if self.scram_users else ():
            props[f"{prefix}{mechanism.lower()}.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            )
        if self.plain_users:
            users = " ".join(f'user_{name}="{password}"' for name, password in self.plain_users.items())
            props[f"{prefix}plain.sasl.jaas.config"] = (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};"
            )
        if self.client_ca is not None:
            props[f"{prefix}ssl.truststore.type"] = "PEM"
            props[f"{prefix}ssl.truststore.location"] = str(self.client_ca)
            props[f"{prefix}ssl.client.auth"] = "required"
        return props

    def format_arguments(self) -> list[str]:
        """``--add-scram`` arguments of ``StorageTool format`` (Kafka's own way in KRaft)."""
        return [
            f"--add-scram={mechanism}=[name={name},password={password}]"
            for name, password in self.scram_users.items()
            for mechanism in _SCRAM_MECHANISMS
        ]


class ApacheKafka(EmbeddedBroker):
    """A KRaft cluster of ``nodes`` (1 or 3) combined broker/controller JVMs on ``127.0.0.1``.

    ``workdir=None`` uses a temporary folder that :meth:`stop` deletes (unless ``keep_dir``); an
    explicit ``workdir`` is kept, with one folder per node (``node-0`` ...) holding its
    ``server.properties``, ``data/`` and ``kafka.log``. ``broker_config`` adds or overrides
    broker properties on every node (e.g. ``log.cleaner.backoff.ms``). ``version`` defaults to
    :func:`kafka_version`; the jars are fetched on the first :meth:`start` if not cached.

    As for :class:`EmbeddedBroker`, ``port``, ``pid`` and ``log_path`` are those of node 0;
    ``bootstrap`` lists every node. With ``secure`` every node also has a SASL_SSL listener
    (:class:`SecureListener`), listed by :attr:`secure_bootstrap`.
    """

    def __init__(
        self,
        nodes: int = 1,
        *,
        workdir: str | os.PathLike[str] | None = None,
        keep_dir: bool = False,
        version: str | None = None,
        heap: str | None = None,
        broker_config: Mapping[str, str | int] | None = None,
        jvm_options: Sequence[str] = (),
        cluster_id: str | None = None,
        secure: SecureListener | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError(f"a cluster needs at least one node, got {nodes}")
        super().__init__(cluster_id=cluster_id or new_cluster_id())
        self.node_count = nodes
        self._workdir = Path(workdir) if workdir is not None else None
        self._own_dir = workdir is None
        self._keep_dir = keep_dir
        self._version = version
        self._heap = heap or os.environ.get("OPEL_KAFKA_HEAP", "").strip() or DEFAULT_HEAP
        self._broker_config = {k: str(v) for k, v in (broker_config or {}).items()}
        self._jvm_options = list(jvm_options)
        self.secure = secure
        self.nodes: list[KafkaNode] = []
        self._libs: Path | None = None
        self._java: str | None = None
        self._started = False
        self.format_seconds: float | None = None
        """Seconds spent formatting storage (last start)."""

    # ------------------------------------------------------------------ properties
    @property
    def version(self) -> str:
        return self._version or kafka_version()

    @property
    def replication_factor(self) -> int:
        """Replicas for opel's topics and Kafka's internal ones on this cluster: ``min(3, nodes)``."""
        return min(3, self.node_count)

    @property
    def min_insync_replicas(self) -> int:
        return 2 if self.node_count >= 3 else 1

    @property
    def port(self) -> int:
        if not self.nodes:
            raise BrokerError("cluster has no ports yet: call start() first")
        return self.nodes[0].port

    @property
    def bootstrap(self) -> str:
        """Every node's ``127.0.0.1:PORT``, comma-separated (aiokafka ``bootstrap_servers``)."""
        if not self.nodes:
            raise BrokerError("cluster has no ports yet: call start() first")
        return ",".join(n.bootstrap for n in self.nodes)

    @property
    def url(self) -> str:
        """``kafka://127.0.0.1:P0;127.0.0.1:P1;...`` (``OPEL_BROKER_URL``, ``opel run --broker``)."""
        return "kafka://" + ";".join(n.bootstrap for n in self.nodes) if self.nodes else super().url

    @property
    def secure_bootstrap(self) -> str:
        """Every node's SASL_SSL ``127.0.0.1:PORT``, comma-separated (needs ``secure``)."""
        if not self.nodes:
            raise BrokerError("cluster has no ports yet: call start() first")
        return ",".join(n.secure_bootstrap for n in self.nodes)

    @property
    def secure_url(self) -> str:
        """The SASL_SSL listeners as ``kafka://127.0.0.1:P0;...``."""
        return "kafka://" + self.secure_bootstrap.replace(",", ";")

    @property
    def pid(self) -> int | None:
        return self.nodes[0].pid if self.nodes else None

    @property
    def pids(self) -> dict[int, int | None]:
        return {n.node_id: n.pid for n in self.nodes}

    @property
    def returncode(self) -> int | None:
        proc = self.nodes[0].proc if self.nodes else None
        return proc.poll() if proc is not None else None

    @property
    def is_running(self) -> bool:
        """Every node started and not exited."""
        return self._started and all(n.is_running for n in self.nodes)

    @property
    def log_path(self) -> Path | None:
        return self.nodes[0].log_path if self.nodes else None

    @property
    def workdir(self) -> Path | None:
        return self._workdir

    @property
    def command(self) -> list[str]:
        """Node 0's command line."""
        if not self.nodes:
            raise BrokerError("cluster has no nodes yet: call start() first")
        return self._node_command(self.nodes[0])

    def node(self, node_id: int) -> KafkaNode:
        for n in self.nodes:
            if n.node_id == node_id:
                return n
        raise KeyError(f"no node {node_id} in this cluster (nodes: {[n.node_id for n in self.nodes]})")

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        where = self.bootstrap if self.nodes else None
        return f"<ApacheKafka {self.version} {state} nodes={self.node_count} bootstrap={where}>"

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 120) -> None:
        """Fetch the jars if needed, format every node, start them, wait until all are brokers.

        No-op if running. Raises :class:`KafkaUnavailable` if Java/Maven/the jars are missing,
        :class:`BrokerStartError` (with the tail of each node's log) if a node exits or the cluster
        is not ready within ``timeout`` seconds (fetching the jars does not count).
        """
        with self._lock:
            if self.is_running:
                return
            if self._started:  # some node died: start again from scratch
                self._terminate_all(timeout=5)
            self._java = java_binary()
            self._libs = resolve_jars(self.version)
            deadline = time.monotonic() + timeout
            if self._workdir is None:
                self._workdir = Path(tempfile.mkdtemp(prefix="opel-kafka-"))
            self._workdir.mkdir(parents=True, exist_ok=True)
            self._assign_ports()
            started = time.monotonic()
            try:
                self._format_all(deadline)
                self.format_seconds = time.monotonic() - started
                for n in self.nodes:
                    self._spawn_node(n)
                self._started = True
                _LIVE.add(self)
                self._wait_nodes_ready(deadline, {n.node_id for n in self.nodes})
            except BaseException:
                self._terminate_all(timeout=5)
                self._started = False
                _LIVE.discard(self)
                raise
            self.startup_seconds = time.monotonic() - started

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM every node, SIGKILL those still there after ``timeout`` s, reap. Idempotent."""
        with self._lock:
            self._terminate_all(timeout)
            self._started = False
            _LIVE.discard(self)
            if self._own_dir and not self._keep_dir and self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None
                self.nodes = []

    def __enter__(self) -> Self:
        self.start()
        return self

    # ------------------------------------------------------------------ one node at a time
    def pause(self, node_id: int) -> None:
        """SIGSTOP a node (its whole process group): it keeps its sockets but answers nothing."""
        n = self._running_node(node_id)
        assert n.proc is not None
        _signal_group(n.proc.pid, signal.SIGSTOP)
        n.paused = True
        _wait_state(n.proc.pid, stopped=True)

    def resume(self, node_id: int) -> None:
        """SIGCONT a paused node."""
        n = self._running_node(node_id)
        assert n.proc is not None
        _signal_group(n.proc.pid, signal.SIGCONT)
        n.paused = False
        _wait_state(n.proc.pid, stopped=False)

    def kill(self, node_id: int) -> None:
        """SIGKILL a node (kill -9: no controlled shutdown) and reap it. Its data stays for start_node."""
        n = self.node(node_id)
        if n.proc is not None:
            _signal_group(n.proc.pid, signal.SIGKILL)
            n.proc.wait()
        n.paused = False

    def stop_node(self, node_id: int, timeout: float = 30) -> None:
        """SIGTERM a node (a controlled shutdown: leadership moves first), SIGKILL after ``timeout``."""
        n = self.node(node_id)
        self._terminate_node(n, timeout)

    def start_node(self, node_id: int, timeout: float = 60) -> None:
        """Start a stopped or killed node again, with its id, ports and data; wait until it is a broker."""
        with self._lock:
            n = self.node(node_id)
            if n.is_running:
                return
            if n.proc is not None:
                n.proc.wait()
            self._spawn_node(n)
            self._wait_nodes_ready(time.monotonic() + timeout, {node_id})

    def partition_leaders(self, topic: str, timeout: float = 10) -> dict[int, int]:
        """``{partition: leader node id}`` of ``topic`` as a running node reports it now (-1: no leader).

        Waits up to ``timeout`` s for the node to know the topic (a new topic reaches each
        broker's metadata a moment after it is created).
        """
        live = ",".join(n.bootstrap for n in self.nodes if n.is_running and not n.paused)
        deadline = time.monotonic() + timeout
        while True:
            wait = min(max(deadline - time.monotonic(), 0.5), 5.0)
            try:
                leaders = _run_coro(functools.partial(_leaders, live or self.bootstrap, topic, wait))
            except (KafkaError, OSError, TimeoutError):
                # The client may pick a node that is down but not yet fenced: ask again.
                if time.monotonic() >= deadline:
                    raise
                leaders = {}
            if leaders or time.monotonic() >= deadline:
                return leaders
            time.sleep(_PROBE_INTERVAL)

    # ------------------------------------------------------------------ topics
    def create_topics(
        self,
        specs: Iterable[TopicSpec],
        *,
        timeout: float = 30,
        replication_factor: int | None = None,
        verify_existing: bool = True,
    ) -> tuple[str, ...]:
        """Create topics (default replication :attr:`replication_factor`); see EmbeddedBroker."""
        spec_list = list(specs)
        rf = replication_factor or self.replication_factor
        return _run_coro(
            lambda: self.acreate_topics(
                spec_list, timeout=timeout, replication_factor=rf, verify_existing=verify_existing
            )
        )

    async def acreate_topics(
        self,
        specs: Iterable[TopicSpec],
        *,
        timeout: float = 30,
        replication_factor: int | None = None,
        verify_existing: bool = True,
    ) -> tuple[str, ...]:
        return await super().acreate_topics(
            specs,
            timeout=timeout,
            replication_factor=replication_factor or self.replication_factor,
            verify_existing=verify_existing,
        )

    # ------------------------------------------------------------------ logs
    def log_tail(self, lines: int = LOG_TAIL_LINES, *, since: int = 0) -> str:
        """Last ``lines`` lines of node 0's log (see :meth:`node_log_tail` for the others)."""
        return self.node_log_tail(self.nodes[0].node_id, lines, since=since) if self.nodes else ""

    def node_log_tail(self, node_id: int, lines: int = LOG_TAIL_LINES, *, since: int = 0) -> str:
        return _log_tail(self.node(node_id).log_path, lines, since)

    # ------------------------------------------------------------------ internals
    def _assign_ports(self) -> None:
        assert self._workdir is not None
        per_node = 3 if self.secure is not None else 2
        ports: set[int] = set()
        while len(ports) < per_node * self.node_count:
            ports.add(free_port())
        pairs = sorted(ports)
        self.nodes = [
            KafkaNode(
                node_id=i,
                port=pairs[per_node * i],
                controller_port=pairs[per_node * i + 1],
                directory=self._workdir / f"node-{i}",
                secure_port=pairs[per_node * i + 2] if self.secure is not None else None,
            )
            for i in range(self.node_count)
        ]

    def _properties(self, n: KafkaNode) -> dict[str, str]:
        voters = ",".join(f"{m.node_id}@{LOOPBACK}:{m.controller_port}" for m in self.nodes)
        rf = str(self.replication_factor)
        isr = str(self.min_insync_replicas)
        props = {
            "process.roles": "broker,controller",
            "node.id": str(n.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{LOOPBACK}:{n.port},CONTROLLER://{LOOPBACK}:{n.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{n.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(n.data_dir),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "default.replication.factor": rf,
            "min.insync.replicas": isr,
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": isr,
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "background.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "num.replica.fetchers": "1",
            "log.cleaner.threads": "1",
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        }
        if self.secure is not None:
            # Clients authenticate here; brokers and the launcher's probes stay on PLAINTEXT.
            secure = f"SASL_SSL://{LOOPBACK}:{n.secure_port}"
            props["listeners"] += f",{secure}"
            props["advertised.listeners"] += f",{secure}"
            props["listener.security.protocol.map"] += ",SASL_SSL:SASL_SSL"
            props.update(self.secure.properties())
        props.update(self._broker_config)
        return props

    def _write_node_files(self, n: KafkaNode) -> None:
        n.directory.mkdir(parents=True, exist_ok=True)
        n.config_path.write_text(
            "".join(f"{k}={v}\n" for k, v in self._properties(n).items()), encoding="utf-8"
        )
        (n.directory / "log4j2.properties").write_text(_LOG4J2, encoding="utf-8")

    def _java_command(self, n: KafkaNode, main: str, *args: str) -> list[str]:
        assert self._java is not None
        assert self._libs is not None
        return [
            self._java,
            f"-Xms{min(256, _megabytes(self._heap))}m",
            f"-Xmx{self._heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={n.directory / 'log4j2.properties'}",
            *self._jvm_options,
            "-cp",
            str(self._libs / "*"),
            main,
            *args,
        ]

    def _node_command(self, n: KafkaNode) -> list[str]:
        return self._java_command(n, BROKER_MAIN, str(n.config_path))

    def _format_all(self, deadline: float) -> None:
        """``StorageTool format`` every node's data folder, in parallel, with the one cluster id."""
        formats: list[tuple[KafkaNode, subprocess.Popen[bytes]]] = []
        for n in self.nodes:
            self._write_node_files(n)
            shutil.rmtree(n.data_dir, ignore_errors=True)
            with (n.directory / "format.log").open("wb") as out:
                formats.append(
                    (
                        n,
                        subprocess.Popen(
                            self._java_command(
                                n,
                                STORAGE_TOOL,
                                "format",
                                "--ignore-formatted",
                                # One argument with "=": a random id may start with "-", which the
                                # tool's parser would take for an option.
                                f"--cluster-id={self.cluster_id}",
                                "-c",
                                str(n.config_path),
                                *(self.secure.format_arguments() if self.secure is not None else ()),
                            ),
                            stdin=subprocess.DEVNULL,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        ),
                    )
                )
        failures = []
        for n, proc in formats:
            try:
                rc = proc.wait(timeout=max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
                rc = None
            if rc != 0:
                tail = _log_tail(n.directory / "format.log", LOG_TAIL_LINES) or "<empty>"
                failures.append(f"node {n.node_id}: exit {rc}\n{tail}")
        if failures:
            raise BrokerStartError("kafka-storage format failed: " + "\n".join(failures))

    def _spawn_node(self, n: KafkaNode) -> None:
        with n.log_path.open("ab") as log:
            n.proc = subprocess.Popen(
                self._node_command(n),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                close_fds=True,
                cwd=n.directory,
                start_new_session=True,  # own process group, signalled as a whole
                preexec_fn=_make_pdeathsig_preexec(),  # noqa: PLW1509  (only calls prctl)
            )
        n.paused = False

    def _wait_nodes_ready(self, deadline: float, node_ids: set[int]) -> None:
        """Until every node in ``node_ids`` is listed as a broker by a metadata request to itself."""
        last_error = "no answer yet"
        pending = set(node_ids)
        while pending:
            for node_id in sorted(pending):
                n = self.node(node_id)
                assert n.proc is not None
                rc = n.proc.poll()
                if rc is not None:
                    raise BrokerStartError(
                        self._cluster_start_failure(f"node {node_id} exited with code {rc}")
                    )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerStartError(
                    self._cluster_start_failure(
                        f"nodes {sorted(pending)} not ready in time (last probe: {last_error})"
                    )
                )
            for node_id in sorted(pending):
                n = self.node(node_id)
                if not _tcp_accepts(n.port, min(remaining, 1.0)):
                    last_error = f"node {node_id}: port {n.port} not accepting connections"
                    continue
                try:
                    cluster_id, brokers = _run_coro(
                        functools.partial(_describe_cluster, n.bootstrap, max(min(remaining, 5.0), 0.1))
                    )
                except Exception as exc:  # not ready yet: keep probing until the deadline
                    last_error = f"node {node_id}: {type(exc).__name__}: {exc}"
                    continue
                if cluster_id != self.cluster_id:
                    raise BrokerStartError(
                        self._cluster_start_failure(
                            f"another cluster answers on {n.bootstrap} (cluster_id={cluster_id!r})"
                        )
                    )
                if (LOOPBACK, n.port) in brokers:
                    pending.discard(node_id)
                else:
                    last_error = f"node {node_id}: not yet a registered broker (brokers: {sorted(brokers)})"
            if pending:
                time.sleep(_PROBE_INTERVAL)

    def _cluster_start_failure(self, reason: str) -> str:
        parts = [f"Apache Kafka {self.version} ({self.node_count} node(s)) failed to start: {reason}"]
        for n in self.nodes:
            tail = _log_tail(n.log_path, 15) or "<empty>"
            parts.append(f"node {n.node_id} log ({n.log_path}), last lines:\n{tail}")
        return "\n".join(parts)

    def _terminate_node(self, n: KafkaNode, timeout: float) -> None:
        proc = n.proc
        if proc is None:
            return
        if proc.poll() is None:
            if n.paused:
                _signal_group(proc.pid, signal.SIGCONT)  # a stopped JVM cannot act on SIGTERM
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        n.paused = False

    def _terminate_all(self, timeout: float) -> None:
        """SIGTERM every node at once, then wait for each (together at most ``timeout`` s)."""
        running = [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]
        for n in running:
            assert n.proc is not None
            if n.paused:
                _signal_group(n.proc.pid, signal.SIGCONT)
            _signal_group(n.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for n in running:
            assert n.proc is not None
            try:
                n.proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                _signal_group(n.proc.pid, signal.SIGKILL)
                n.proc.wait()
            n.paused = False
        for n in self.nodes:
            if n.proc is not None:
                n.proc.wait()

    def _running_node(self, node_id: int) -> KafkaNode:
        n = self.node(node_id)
        if not n.is_running:
            raise BrokerError(f"node {node_id} is not running")
        return n


def _megabytes(heap: str) -> int:
    """``512m`` -> 512, ``1g`` -> 1024 (for -Xms, never above -Xmx)."""
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", heap.strip())
    if match is None:
        raise ValueError(f"OPEL_KAFKA_HEAP: expected a JVM size like 512m or 1g, got {heap!r}")
    value, unit = int(match.group(1)), match.group(2).lower()
    return {"k": value // 1024, "m": value, "g": value * 1024, "": value // (1024 * 1024)}[unit]


# ---------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m streams.apache_kafka fetch|run``: fetch the jars, or run a cluster until Ctrl-C."""
    import argparse  # noqa: PLC0415  (only the command line needs it)

    parser = argparse.ArgumentParser(
        prog="python -m streams.apache_kafka",
        description="Apache Kafka from Maven Central jars, without Docker (see docs/kafka.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="fetch the pinned Kafka jars into the cache (once) and print the folder")
    run = sub.add_parser("run", help="start a local KRaft cluster and keep it running until Ctrl-C")
    run.add_argument("--nodes", type=int, choices=(1, 3), default=1, help="combined broker/controller nodes")
    run.add_argument("--dir", type=Path, default=None, help="work folder to keep (default: a temporary one)")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(resolve_jars())
            return 0
        cluster = ApacheKafka(args.nodes, workdir=args.dir, keep_dir=args.dir is not None)
        cluster.start()
    except (KafkaUnavailable, BrokerStartError) as exc:
        print(f"apache_kafka: {exc}", file=sys.stderr)
        return 1
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        print(
            f"Apache Kafka {cluster.version}: {cluster.node_count} node(s) ready "
            f"in {cluster.startup_seconds or 0:.1f} s"
        )
        for n in cluster.nodes:
            print(
                f"  node {n.node_id}: pid {n.pid}, {n.bootstrap} "
                f"(controller port {n.controller_port}), log {n.log_path}"
            )
        print(f"OPEL_BROKER_URL={cluster.url}")
        print(
            f"opel run --broker '{cluster.url}' --create-topics    # Ctrl-C here stops the cluster",
            flush=True,
        )
        stopping.wait()
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
