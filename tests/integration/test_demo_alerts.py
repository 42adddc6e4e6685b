"""`opel run --demo`, then `opel tail alerts`, shows alerts within the demo's first minute (issue 13's
acceptance). The shipped routing groups for 2 minutes; the demo, and only the demo, groups for
5 seconds and says so in its start-up log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

import pytest

from opel.contracts.alert import ALERT_MESSAGE, AlertDelivery

pytestmark = pytest.mark.slow

BROKER_TIERS = ()  # `opel run` starts its own embedded broker: the suite's broker tiers do not apply

FIRST_MINUTE: Final = 60.0
READY_TIMEOUT: Final = 120.0
"""The embedded broker, the worker and its web server, on 2 shared cores."""


@pytest.fixture(autouse=True)
def broker_kind() -> str:
    """Overrides the tiers of conftest.py for this module."""
    return "tansu"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OPEL_")}
    env.update(OPEL_DATA_DIR=str(tmp_path / "data"), OPEL_WEB_PORT="0")
    return env


def _deliveries(tmp_path: Path) -> list[AlertDelivery]:
    """What `opel tail alerts` prints now, as a person would run it (the daily snapshot left out)."""
    tail = subprocess.run(
        [sys.executable, "-m", "opel.cli", "tail", "alerts", "--from-beginning", "--timeout", "2"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),  # the same data folder: tail finds the demo's broker in broker.url
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    messages = [ALERT_MESSAGE.validate_python(json.loads(line)["value"]) for line in tail.stdout.splitlines()]
    return [m for m in messages if isinstance(m, AlertDelivery)]


def test_the_demo_sends_alerts_in_its_first_minute(tmp_path: Path) -> None:
    log = tmp_path / "run.err"
    started = time.monotonic()
    demo = subprocess.Popen(
        [sys.executable, "-m", "opel.cli", "run", "--demo"],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
    )
    try:
        assert demo.stdout is not None
        ready = demo.stdout.readline()  # the demo starts playing once the service is ready
        assert ready.startswith("opel is running: broker "), log.read_text()
        ready_at = time.monotonic()
        assert ready_at - started < READY_TIMEOUT
        # The 10:00 summary may come first (a first start runs the day's assessment): the demo's
        # own alerts are those of its level changes.
        firing: list[AlertDelivery] = []
        while not firing and time.monotonic() - ready_at < FIRST_MINUTE:
            firing = [d for d in _deliveries(tmp_path) if d.kind == "firing" and d.state == "sent"]
        assert firing, f"no alert of a level change in the demo's first minute\n{log.read_text()}"
    finally:
        demo.send_signal(signal.SIGINT)
        status = demo.wait(60)
    errors = log.read_text()
    assert status == 0, errors
    assert "demo: alerts grouped for at most 5 s (group_wait; 2 min in " in errors, errors
    assert "routing.yaml) and 30 s between updates (group_interval; 10 min)" in errors, errors
