"""The progress bar of a long replay: readings done, rate and time left, on a terminal only.

rich draws it on stderr, so stdout (the summary) stays clean for a pipe; when stderr is not a
terminal (a log, CI, a test's subprocess) nothing is drawn at all. Without a total (JSON lines
and CSV go through the per-reading core, which has no count ahead), a spinner with the elapsed
time instead.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Task
    from rich.text import Text

Advance = Callable[[int], None]


@contextlib.contextmanager
def progress(what: str, total: int | None = None) -> Iterator[Advance]:
    """Yields ``advance(n)``: n more readings replayed."""
    if not sys.stderr.isatty():
        yield lambda _: None
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    class Rate(ProgressColumn):
        """Readings per second over the recent past (rich's own speed estimate)."""

        def render(self, task: Task) -> Text:
            from rich.text import Text  # noqa: PLC0415

            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f} readings/s")

    console = Console(stderr=True)
    if total is None:
        with console.status(f"opel replay: {what}"):
            yield lambda _: None
        return
    columns = (
        TextColumn("opel replay: {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda n: bar.advance(task, n)
