"""A worker whose broker has gone away still stops on SIGTERM, within its stop timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.progress import announce

from streams.worker import STOP_TIMEOUT

from .service import PARTITIONS, fresh_broker

pytestmark = pytest.mark.slow


def test_sigterm_stops_a_worker_that_lost_its_broker(tmp_path: Path) -> None:
    broker = fresh_broker(tmp_path)
    env = dict(
        os.environ,
        OPEL_BROKER_URL=broker.url,
        OPEL_APP_ID="opel-stop",
        OPEL_DATA_DIR=str(tmp_path / "data"),
        OPEL_PARTITIONS=str(PARTITIONS),
        OPEL_LOG_LEVEL="info",
    )
    log_path = tmp_path / "worker.log"
    announce("starting worker opel-stop")
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streams.worker"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while "opel worker running" not in log_path.read_text(errors="replace"):
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "the worker did not start within 60 s"
            time.sleep(0.2)
        broker.stop()
        time.sleep(2)  # let its clients notice
        proc.send_signal(signal.SIGTERM)
        # Every component gets STOP_TIMEOUT; only the ones stuck on the broker use it all.
        proc.wait(timeout=3 * STOP_TIMEOUT)
        text = log_path.read_text(errors="replace")
        assert proc.returncode == 1, text[-3000:]
        assert "did not stop within" in text
        assert "exiting with components abandoned" in text
    finally:
        if proc.poll() is None:
            proc.kill()
        broker.stop()
