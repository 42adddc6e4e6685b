"""A secured cluster (issue 12, point 6): the worker and the commands through SASL_SSL on Apache Kafka.

One Apache Kafka node from the launcher gets a SASL_SSL listener (:class:`SecureListener`) with a
CA and broker certificate made here by ``openssl``, a SCRAM user added by Kafka's own storage tool
and a client certificate required. Every client then connects as a managed service would make it:
``deploy/kafka/create_topics.py`` creates the topics, `opel run` (Faust, ingest, outputs, alerting,
status view, lag metrics) turns readings from `opel produce` into statuses that the API and
`opel tail` show, and a wrong password or a missing certificate stops each command with one line
naming the setting. The password reaches the processes only through a secrets file or the
environment, as in production.

Like tests/integration/test_apache_kafka.py, not run per broker tier; skipped where Java, Maven or
openssl is missing (a failure with OPEL_REQUIRE_KAFKA=1).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.apache_kafka import ApacheKafka, SecureListener
from streams.broker import LOOPBACK, free_port

from . import conftest
from .conftest import PARTITIONS

pytestmark = pytest.mark.slow

BROKER_TIERS = ()  # not run per tier: the secured listener is Apache Kafka's

ROOT = Path(__file__).resolve().parents[2]
USER = "opel-worker"
PASSWORD = "s3cret-scram-password"
MECHANISM = "SCRAM-SHA-256"


@pytest.fixture(autouse=True)
def broker_kind() -> str:
    """Overrides the tiers of conftest.py for this module."""
    return "kafka"


# ---------------------------------------------------------------------- certificates
def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)


def _make_certificates(folder: Path) -> dict[str, Path]:
    """A CA, a broker certificate for 127.0.0.1 and a client certificate, all signed by the CA.

    EC P-256 keys (quick to make), PKCS#8 PEM as Kafka's PEM keystore reads it; the extensions
    Python's strict verification asks for (key identifiers, a critical CA constraint).
    """
    folder.mkdir(parents=True, exist_ok=True)
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl(
        folder, "req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=opel test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    for name, usage, names in (
        ("broker", "serverAuth", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"),
        ("client", "clientAuth", ""),
    ):
        (folder / f"{name}.ext").write_text(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            f"extendedKeyUsage={usage}\nsubjectKeyIdentifier=hash\n"
            f"authorityKeyIdentifier=keyid,issuer\n{names}",
            encoding="utf-8",
        )
        _openssl(
            folder, "req", *curve, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}"
        )
        _openssl(
            folder, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
        )  # fmt: skip
    keystore = folder / "broker-keystore.pem"
    keystore.write_text(
        (folder / "broker.key").read_text(encoding="utf-8")
        + (folder / "broker.pem").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    return {
        "ca": folder / "ca.pem",
        "keystore": keystore,
        "client_cert": folder / "client.pem",
        "client_key": folder / "client.key",
    }


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    conftest.require_kafka()
    if shutil.which("openssl") is None:
        reason = "openssl is not installed: the test makes its CA and certificates with it"
        if os.environ.get(conftest.REQUIRE_KAFKA, "").strip() not in ("", "0"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return _make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def secured(certificates: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheKafka]:
    cluster = ApacheKafka(
        1,
        workdir=tmp_path_factory.mktemp("kafka"),
        secure=SecureListener(
            keystore=certificates["keystore"],
            scram_users={USER: PASSWORD},
            client_ca=certificates["ca"],
        ),
    )
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


# ---------------------------------------------------------------------- the processes
def _env(
    cluster: ApacheKafka, certificates: dict[str, Path], folder: Path, **changes: str | None
) -> dict[str, str]:
    """The environment of a command on the secured listener: OPEL_* only from here, the password in
    a secrets file; ``changes`` add variables or (None) remove them."""
    secrets = folder / "kafka-secrets.yaml"
    secrets.write_text(f"OPEL_KAFKA_SASL_PASSWORD: {PASSWORD}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OPEL_")}
    env.update(
        OPEL_BROKER_URL=cluster.secure_url,
        OPEL_PARTITIONS=str(PARTITIONS),
        OPEL_DATA_DIR=str(folder / "data"),
        OPEL_KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        OPEL_KAFKA_SASL_MECHANISM=MECHANISM,
        OPEL_KAFKA_SASL_USERNAME=USER,
        OPEL_KAFKA_SECRETS_FILE=str(secrets),
        OPEL_KAFKA_SSL_CAFILE=str(certificates["ca"]),
        OPEL_KAFKA_SSL_CERTFILE=str(certificates["client_cert"]),
        OPEL_KAFKA_SSL_KEYFILE=str(certificates["client_key"]),
    )
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _command(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, check=False
    )


def _opel(*args: str) -> list[str]:
    return [sys.executable, "-m", "opel.cli", *args]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode("utf-8")
    except OSError:
        return 0, ""


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


# ---------------------------------------------------------------------- the tests
def test_worker_and_commands_run_through_sasl_ssl(
    secured: ApacheKafka, certificates: dict[str, Path], tmp_path: Path
) -> None:
    env = _env(secured, certificates, tmp_path)
    created = _command(
        [
            sys.executable,
            str(ROOT / "deploy" / "kafka" / "create_topics.py"),
            "--bootstrap",
            secured.secure_bootstrap,
            "--partitions",
            str(PARTITIONS),
        ],
        env,
        tmp_path,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    assert "created opel.status.v1" in created.stdout

    port = free_port()
    log_path = tmp_path / "run.err"
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            _opel("run"),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**env, "OPEL_WEB_PORT": str(port), "OPEL_TICK_INTERVAL": "1"},
            cwd=tmp_path,
        )
    try:
        assert worker.stdout is not None
        first = worker.stdout.readline()
        assert first.startswith("opel is running: broker "), log_path.read_text()
        worker_log = log_path.read_text()
        assert f"connecting with SASL_SSL ({MECHANISM} as '{USER}')" in worker_log
        assert PASSWORD not in worker_log

        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        readings = tmp_path / "readings.jsonl"
        readings.write_text(
            "".join(
                json.dumps({"indicator": "stp_staffing_pct", "area": area, "value": 90, "observed_at": now})
                + "\n"
                for area in ("dgs", "east_kent", "swale", "west_kent")
            ),
            encoding="utf-8",
        )
        produced = _command(_opel("produce", str(readings)), env, tmp_path)
        assert produced.returncode == 0, produced.stdout + produced.stderr
        assert "4 sent" in produced.stdout

        # The status view (the API) reads the statuses the Faust stages wrote from ingest's input.
        base = f"http://{LOOPBACK}:{port}"

        def east_kent() -> Any:
            status, body = _get(f"{base}/status/area/east_kent")
            return json.loads(body) if status == 200 and json.loads(body).get("level") == 1 else None

        assert _wait(east_kent, 120, "area/east_kent at level 1 on the API")["level"] == 1

        tailed = _command(
            _opel("tail", "status", "--from-beginning", "--count", "1", "--timeout", "30"), env, tmp_path
        )
        assert tailed.returncode == 0, tailed.stderr
        [line] = tailed.stdout.splitlines()
        assert json.loads(line)["topic"] == "opel.status.v1"

        # Lag metrics: the worker's lag poll (every 15 s) reads the ingest group's offsets.
        def lag_polls() -> dict[str, float] | None:
            _, text = _get(f"{base}/metrics")
            polls = {
                sample.labels["outcome"]: sample.value
                for family in text_string_to_metric_families(text)
                if family.name == "opel_consumer_lag_polls"
                for sample in family.samples
                if sample.name.endswith("_total")
            }
            return polls if polls.get("ok", 0) + polls.get("failed", 0) > 0 else None

        polls = _wait(lag_polls, 60, "a consumer lag poll")
        assert polls.get("ok", 0) >= 1, polls
        assert polls.get("failed", 0) == 0, polls
    finally:
        worker.send_signal(signal.SIGTERM)
        status = worker.wait(90)
    worker_log = log_path.read_text()
    assert status == 0, worker_log
    assert "Traceback" not in worker_log
    assert "alerting on:" in worker_log  # alerting started, through the same listener
    assert "Unable connect" not in worker_log
    assert "Unable to bootstrap" not in worker_log
    assert PASSWORD not in worker_log


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"OPEL_KAFKA_SASL_PASSWORD": "not-the-password"}, "OPEL_KAFKA_SASL_PASSWORD"),
        ({"OPEL_KAFKA_SASL_USERNAME": "nobody"}, "OPEL_KAFKA_SASL_USERNAME"),
        ({"OPEL_KAFKA_SSL_CERTFILE": None, "OPEL_KAFKA_SSL_KEYFILE": None}, "OPEL_KAFKA_SSL_CERTFILE"),
        ({"OPEL_KAFKA_SSL_CAFILE": None}, "OPEL_KAFKA_SSL_CAFILE"),
    ],
    ids=["wrong-password", "unknown-user", "no-client-certificate", "unknown-ca"],
)
def test_a_refused_login_is_one_line_naming_the_setting(
    secured: ApacheKafka,
    certificates: dict[str, Path],
    tmp_path: Path,
    changes: dict[str, str | None],
    setting: str,
) -> None:
    env = _env(secured, certificates, tmp_path, **changes)
    readings = tmp_path / "one.jsonl"
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    readings.write_text(
        json.dumps({"indicator": "stp_staffing_pct", "area": "swale", "value": 90, "observed_at": now})
        + "\n",
        encoding="utf-8",
    )
    produced = _command(_opel("produce", str(readings)), env, tmp_path)
    assert produced.returncode == 3
    line = _one_line(produced)
    assert line.startswith("opel produce: "), line
    assert setting in line, line
    assert PASSWORD not in line
    assert "not-the-password" not in line

    tailed = _command(_opel("tail", "status", "--timeout", "5"), env, tmp_path)
    assert tailed.returncode == 3
    assert setting in _one_line(tailed)

    if setting == "OPEL_KAFKA_SASL_PASSWORD":
        run = _command(_opel("run"), {**env, "OPEL_WEB_PORT": str(free_port())}, tmp_path)
        assert run.returncode == 1
        line = _one_line(run)
        assert line.startswith("opel run: OPEL_KAFKA_SASL_PASSWORD: Kafka at "), line
        assert f"refused user '{USER}' with {MECHANISM}" in line

        created = _command(
            [
                sys.executable,
                str(ROOT / "deploy" / "kafka" / "create_topics.py"),
                "--bootstrap",
                secured.secure_bootstrap,
            ],
            env,
            tmp_path,
        )
        assert created.returncode == 1
        assert setting in _one_line(created)
