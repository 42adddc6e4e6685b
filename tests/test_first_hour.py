"""The first hour with opel (issue 14): the small surprises a newcomer met, each pinned down."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opel.alerting.routing import ClockConfig
from streams.alerting.scheduler import PlanClock

REPO = Path(__file__).resolve().parent.parent


def test_the_data_folder_is_git_ignored() -> None:
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", ".opel-data/broker.url"],
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, ".opel-data/ (OPEL_DATA_DIR's default) must be in .gitignore"


def test_the_plan_clock_does_not_log_every_minute(caplog: pytest.LogCaptureFixture) -> None:
    """APScheduler logs each job run at INFO; the elapsed-time job runs every minute."""

    async def tick() -> None:
        woken = asyncio.Event()
        clock = PlanClock(ClockConfig(), woken.set)
        clock.start()
        try:
            for job in clock._scheduler.get_jobs():
                job.modify(next_run_time=datetime.now(UTC))  # every job due now
            clock._scheduler.wakeup()
            await asyncio.wait_for(woken.wait(), 5)
            await asyncio.sleep(0.1)  # let the executor log the run's end
        finally:
            clock.stop()

    with caplog.at_level(logging.INFO):
        asyncio.run(tick())
    chatter = [r.getMessage() for r in caplog.records if r.name.startswith("apscheduler")]
    assert chatter == []
