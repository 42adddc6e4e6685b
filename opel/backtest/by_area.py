"""The columnar replay of Parquet histories a block of areas at a time, in bounded memory.

Areas share nothing below the county: an area's indicator and area scopes depend on its own
readings only. So readings are read from Parquet a block of areas at a time (polars scans the
files with the block's areas as a filter, skipping the row groups that hold none of them),
replayed in columns (:func:`.columnar.replay_areas`), and only their events and each area's
changes of level are kept. The county is computed from all areas' changes at the end
(:func:`.columnar.county_events`), acute returns in columns (:mod:`.acute_columns`; sites and
systems share nothing with areas). Memory is one block plus the events, whatever the history's
length; a block is at most :data:`BLOCK_ROWS` readings (or one area, if that has more).

Returns None where :func:`.run.run_parquet`'s rules send a history to the per-row reader (a
file of another kind, a bad row, an input no catalogue takes): it then names what is wrong.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from opel.contracts.escalation import EscalationEvent
from opel.models import CATEGORY_PATTERN
from opel.stages.context import Context

from .acute_columns import AcuteColumns
from .acute_columns import from_frame as acute_from_frame
from .arrays import UnsupportedHistoryError
from .columnar import (
    AreaChanges,
    Columns,
    acute_events,
    area_changes,
    area_run,
    county_events,
    from_frame,
    levels,
    replay_areas,
)

if TYPE_CHECKING:
    import polars as pl

    from .run import Outcome

BLOCK_ROWS = 4_000_000
"""Readings replayed at once: about 1 GB at the peak of a block (columns, sorts and polars' copy)."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
READING_FIELDS = ("observed_at", "area", "indicator", "value", "category")

Progress = Callable[[int], None]
"""Told how many more readings (or acute parameter values) have been replayed."""


class NotColumnar(Exception):  # noqa: N818  (a signal to use the per-row reader, not an error)
    """The per-row reader must read this history (it names what is wrong, if anything)."""


@dataclass(slots=True)
class _Side:
    """What one catalogue's replay has gathered so far."""

    ctx: Context
    events: list[EscalationEvent] = field(default_factory=list)
    changes: list[AreaChanges] = field(default_factory=list)
    taken: int = 0
    refused: dict[str, int] = field(default_factory=dict)


def plan(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """The readings files and the acute returns files (NotColumnar for anything else)."""
    import polars as pl  # noqa: PLC0415

    from .parquet import SchemaError, layout  # noqa: PLC0415

    readings: list[Path] = []
    acute: list[Path] = []
    for path in paths:
        if path.suffix.lower() != ".parquet":
            raise NotColumnar(str(path))
        try:
            kind = layout(pl.scan_parquet(path).collect_schema())
        except (SchemaError, OSError, pl.exceptions.PolarsError) as exc:
            raise NotColumnar(str(path)) from exc
        (acute if kind == "acute" else readings).append(path)
    return readings, acute


def blocks(readings: Sequence[Path], limit: int = BLOCK_ROWS) -> list[tuple[list[str], int]]:
    """Areas in name order, grouped into blocks of at most ``limit`` readings, with their size."""
    import polars as pl  # noqa: PLC0415

    if not readings:
        return []
    scans = [pl.scan_parquet(p).select(pl.col("area")) for p in readings]
    counts = pl.concat(scans).group_by("area").len().sort("area").collect(engine="streaming")
    if counts["area"].null_count():
        raise NotColumnar("a reading without an area")
    out: list[tuple[list[str], int]] = []
    for area, count in counts.iter_rows():
        if out and out[-1][1] + count <= limit:
            out[-1][0].append(area)
            out[-1] = (out[-1][0], out[-1][1] + count)
        else:
            out.append(([area], count))
    return out


def _read_block(readings: Sequence[Path], areas: list[str]) -> pl.DataFrame:
    import polars as pl  # noqa: PLC0415

    frames = []
    for path in readings:
        scan = pl.scan_parquet(path)
        names = scan.collect_schema().names()
        columns = [c for c in READING_FIELDS if c in names]
        frames.append(scan.select(*columns).filter(pl.col("area").is_in(areas)))
    return pl.concat(frames, how="diagonal_relaxed").collect()


def _check(columns: Columns) -> None:
    """What the per-row reader would refuse: a number that is not finite and >= 0 where there
    is no category, a category that is not a category name."""
    is_category = np.array([c is not None for c in columns.category], dtype=bool)
    valid_number = np.isfinite(columns.number) & (columns.number >= 0)
    if not bool(np.all(valid_number | is_category)):
        raise NotColumnar("a value the per-row reader must name")
    if any(c is not None and not CATEGORY_PATTERN.fullmatch(c) for c in set(columns.category.tolist())):
        raise NotColumnar("a category the per-row reader must name")


def run_by_area(
    paths: Sequence[Path],
    contexts: Sequence[Context],
    progress: Progress | None = None,
    *,
    jobs: int = 1,
    recipes: Sequence[Callable[[], Context]] | None = None,
) -> list[Outcome] | None:
    """Replay Parquet histories a block of areas at a time; None sends them to the per-row reader.

    With ``jobs`` > 1 and ``recipes`` (picklable callables that build the same contexts, in the
    same order), blocks are replayed in up to ``jobs`` worker processes and their results merged
    in block order, so the outcome is the same as in one process."""
    try:
        return _run(paths, contexts, progress or (lambda _: None), jobs, recipes)
    except NotColumnar:
        return None


def total_readings(paths: Sequence[Path]) -> int:
    """Readings and acute parameter values in the files (what the progress bar counts)."""
    import polars as pl  # noqa: PLC0415

    from .parquet import layout  # noqa: PLC0415

    total = 0
    for path in paths:
        try:
            scan = pl.scan_parquet(path)
            schema = scan.collect_schema()
            if layout(schema) == "acute":
                parameters = [c for c in schema.names() if c not in ("site", "observed_at")]
                counted = scan.select(pl.sum_horizontal(pl.col(parameters).is_not_null()).sum())
                total += int(counted.collect().item() or 0)
            else:
                total += int(scan.select(pl.len()).collect().item())
        except Exception:
            continue
    return total


@dataclass(slots=True)
class _Block:
    """One block's results: for each context its events, the areas' changes, readings taken and
    refused; and the block's readings and first and last instant."""

    count: int
    low: int | None
    high: int | None
    sides: list[tuple[list[EscalationEvent], AreaChanges, int, dict[str, int]]]


def _replay_block(readings: Sequence[Path], areas: list[str], contexts: Sequence[Context]) -> _Block:
    frame = _read_block(readings, areas)
    try:
        columns = from_frame(frame)
    except Exception as exc:  # a polars error on a bad cell: the per-row reader names it
        raise NotColumnar(str(exc)) from exc
    del frame
    _check(columns)
    low = high = None
    if len(columns):
        low, high = int(columns.time.min()), int(columns.time.max())
    per_ctx = [levels(columns, ctx) for ctx in contexts]
    if not bool(np.all(np.any([lv.taken for lv in per_ctx], axis=0))):
        raise NotColumnar("a reading no catalogue takes")
    sides = []
    for ctx, lv in zip(contexts, per_ctx, strict=True):
        try:
            run = area_run(columns, lv)
        except UnsupportedHistoryError as exc:
            raise NotColumnar(str(exc)) from exc
        events = replay_areas(columns, run, ctx)
        sides.append((events, area_changes(run, columns), int(lv.taken.sum()), dict(lv.refused)))
    return _Block(len(columns), low, high, sides)


_WORKER_CONTEXTS: list[Context] = []
"""In a worker process: the contexts, built once from the recipes the pool was given."""


def _start_worker(recipes: Sequence[Callable[[], Context]]) -> None:
    _WORKER_CONTEXTS[:] = [make() for make in recipes]


def _worker_block(readings: Sequence[Path], areas: list[str]) -> _Block:
    return _replay_block(readings, areas, _WORKER_CONTEXTS)


def _replayed_blocks(
    readings: Sequence[Path],
    contexts: Sequence[Context],
    jobs: int,
    recipes: Sequence[Callable[[], Context]] | None,
) -> Iterator[_Block]:
    """Each block's results in block order: in this process, or spread over ``jobs`` worker
    processes (spawned, each building its contexts from ``recipes``: a Context does not pickle,
    and polars must not be forked)."""
    areas = [block for block, _ in blocks(readings, BLOCK_ROWS)]
    if jobs <= 1 or recipes is None or len(areas) <= 1:
        for block in areas:
            yield _replay_block(readings, block, contexts)
        return
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(areas)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(list(recipes),),
    )
    try:
        futures = [pool.submit(_worker_block, list(readings), block) for block in areas]
        for future in futures:
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run(
    paths: Sequence[Path],
    contexts: Sequence[Context],
    progress: Progress,
    jobs: int = 1,
    recipes: Sequence[Callable[[], Context]] | None = None,
) -> list[Outcome]:
    from .run import Outcome, sorted_events  # noqa: PLC0415

    readings, acute_files = plan(paths)
    sides = [_Side(ctx) for ctx in contexts]
    first: int | None = None
    last: int | None = None
    for block in _replayed_blocks(readings, contexts, jobs, recipes):
        if block.low is not None and block.high is not None:
            first = block.low if first is None else min(first, block.low)
            last = block.high if last is None else max(last, block.high)
        for side, (events, changes, taken, refused) in zip(sides, block.sides, strict=True):
            side.events += events
            side.changes.append(changes)
            side.taken += taken
            for key, count in refused.items():
                side.refused[key] = side.refused.get(key, 0) + count
        progress(block.count)
    returns = _read_acute(acute_files)
    if any(site not in side.ctx.acute.sites for side in sides for site in returns.sites):
        raise NotColumnar("a site a catalogue does not know")
    if len(returns):
        first = min(int(returns.time.min()), first if first is not None else int(returns.time.min()))
        last = max(int(returns.time.max()), last if last is not None else int(returns.time.max()))
    if first is None or last is None:
        raise NotColumnar("no input")
    start = EPOCH + timedelta(microseconds=first)
    end = EPOCH + timedelta(microseconds=last)
    out = []
    for side in sides:
        side.events += county_events(side.changes, side.ctx, end)
        side.events += acute_events(returns, side.ctx, end)
        out.append(
            Outcome(
                side.ctx.catalogue.meta.id,
                sorted_events(side.events),
                start,
                end,
                side.taken + len(returns),
                dict(sorted(side.refused.items())),
            )
        )
    progress(int((~np.isnan(returns.values)).sum()))
    return out


def _read_acute(files: Sequence[Path]) -> AcuteColumns:
    import polars as pl  # noqa: PLC0415

    frames = [pl.read_parquet(p) for p in files]
    if not frames:
        return AcuteColumns(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty((0, 9)), [])
    try:
        return acute_from_frame(pl.concat(frames, how="diagonal_relaxed"))
    except (UnsupportedHistoryError, pl.exceptions.PolarsError) as exc:
        raise NotColumnar(str(exc)) from exc
