"""The plan's wall-clock alarms on APScheduler (Europe/London, so DST moves them in UTC).

APScheduler only wakes the service at the right instants; what runs, and whether an instant
has already run, is decided from the run records on the notification log
(:func:`opel.alerting.clock.due_runs`). So a restart neither misses an instant (the next tick
finds it has no run record) nor doubles one (its run record is there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import time

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from opel.alerting import submissions
from opel.alerting.clock import WALL_CLOCK_JOBS
from opel.alerting.routing import ClockConfig


def wall_clock_jobs(config: ClockConfig) -> tuple[tuple[str, time], ...]:
    return (
        ("daily", config.daily_assessment),
        (submissions.JOB, config.submission_deadline),
        *WALL_CLOCK_JOBS,
    )


def quiet_apscheduler() -> None:
    """APScheduler logs every job run at INFO, so a line a minute for the elapsed-time job: keep
    its warnings and errors only. A level set on purpose (``logging.getLogger("apscheduler")``
    configured before the clock starts) is left alone."""
    logger = logging.getLogger("apscheduler")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


class PlanClock:
    def __init__(self, config: ClockConfig, wake: Callable[[], None]) -> None:
        quiet_apscheduler()
        self._scheduler = AsyncIOScheduler(timezone=config.zone)
        for job, at in wall_clock_jobs(config):
            self._scheduler.add_job(
                wake,
                CronTrigger(hour=at.hour, minute=at.minute, timezone=config.zone),
                id=job,
                coalesce=True,
                misfire_grace_time=None,
            )
        # Elapsed-time duties (DoS review, KEaH, stale indicators) are checked every minute.
        self._scheduler.add_job(wake, IntervalTrigger(minutes=1), id="elapsed", coalesce=True)

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def next_runs(self) -> dict[str, str]:
        return {job.id: str(job.next_run_time) for job in self._scheduler.get_jobs()}
