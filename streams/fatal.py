"""How a worker that cannot go on ends: at once, with exit status 1 and one clear log line.

A fatal error is one the process cannot recover from by itself: Faust's producer or table
machinery crashed (it then keeps its tasks running, spinning, while nothing is processed), or a
component's own loop ended. Carrying on would only hide it. Stopping cleanly is not safe either:
a clean stop commits offsets, and the crashed component may have dropped work of events already
acknowledged. So the worker leaves without committing anything more; the process supervisor
restarts it, and it reads again everything after the last commit (every stage is idempotent).

SIGTERM is bounded the same way: a thread, not the event loop (which a spinning component may
starve), ends the process if a stop has not finished within :data:`STOP_DEADLINE`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable

log = logging.getLogger("opel.worker")

Check = Callable[[], str | None]
"""Returns a one-line description of a fatal failure, or None while all is well."""

CHECK_EVERY = 0.2  # seconds: a crash is noticed well within a second, and the check is a flag read
STOP_DEADLINE = 60.0
"""The longest a worker takes to end after SIGTERM or Ctrl-C (docs/configuration.md)."""


async def stop_or_fatal(
    stopping: asyncio.Event, checks: list[Check], every: float = CHECK_EVERY
) -> str | None:
    """Wait until ``stopping`` is set (None) or a check reports a fatal failure (its text)."""
    while True:
        for check in checks:
            fatal = check()
            if fatal is not None:
                return fatal
        try:
            await asyncio.wait_for(stopping.wait(), every)
        except TimeoutError:
            continue
        return None


def exit_fatal(what: str) -> None:
    """Log the one line that says why, and leave now with status 1 (nothing more is committed)."""
    log.critical(
        "fatal: %s; exiting with status 1 without committing (the supervisor restarts the worker, "
        "which reads again everything not committed)",
        what,
    )
    logging.shutdown()
    os._exit(1)


def arm_stop_deadline(seconds: float = STOP_DEADLINE) -> threading.Timer:
    """End the process with status 1 if it is still here ``seconds`` from now (a stop that hangs)."""

    def expire() -> None:
        log.critical("the worker did not stop within %.0f s of being asked; exiting with status 1", seconds)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    return timer
