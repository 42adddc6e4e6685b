"""The area stage: readings and referral events for one area, in, levels and events out.

Per indicator the latest reading wins; a reading that is not newer than the one held is
audited as a duplicate or stale and changes nothing, so a replay after a crash tells the same
story. The area's computed level is the worst of its indicators' computed levels (dwell is
applied once, per scope, not compounded upward); its changes go to the county stage with a
watermark so the county can merge areas in event-time order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from opel.assess import Assessment, rule_for, verdict_for
from opel.contracts.audit import Decision, audit_record
from opel.contracts.stage import (
    AnyStageItem,
    AreaChange,
    AreaReport,
    OverrideItem,
    ReadingItem,
    ReferralItem,
    ResetItem,
    TickItem,
    WithdrawItem,
)
from opel.contracts.status import AnyStatus
from opel.errors import InputError
from opel.levels import Level
from opel.referral_counts import apply_event, new_counts, value_of
from opel.rollup import AreaLevel, area_level, area_roll_up
from opel.scopes import Scope
from opel.stages.book import Book, freeze, parse_time, record, thaw
from opel.stages.context import Context, Emit
from opel.stages.early_warning import early_warning
from opel.stages.outputs import finish
from opel.stages.overrides import expire_overrides, set_override, withdraw
from opel.stages.repair import reset_scope
from opel.stages.transitions import advance_all, update_scope


def new_area_book(area: str) -> Book:
    return {
        "area": area,
        "readings": {},
        "scopes": {},
        "overrides": {},
        "ended": [],
        "counts": new_counts(),
        "computed": None,
        "wm": None,
    }


def apply_area(
    stored: Book | None,
    area: str,
    items: Sequence[AnyStageItem],
    ctx: Context,
    seen: datetime,
    *,
    idle: bool | None = None,
) -> tuple[Book, Emit, dict[str, AnyStatus]]:
    """Apply a batch of area items in order. ``seen`` is the wall time the batch was sent.

    Ingest gives an area its readings and referral events in event-time order
    (:mod:`opel.input_merge`); ``idle`` says whether it has nothing more in flight for the area,
    which the area passes on to the county so the county stops waiting for it.

    Returns the book to store (only needed when ``emit.changed``), what to publish, and the
    status value of every scope that changed.
    """
    book = thaw(dict(stored) if stored is not None else new_area_book(area))
    emit = Emit()
    changes: list[AreaChange] = []
    wm_before = book["wm"]
    idle_before = book.get("idle", False)
    if idle is not None and idle != idle_before:
        book["idle"] = idle
        emit.changed = True
    for item in items:
        if isinstance(item, ReadingItem):
            _reading(book, area, item, ctx, emit)
        elif isinstance(item, ReferralItem):
            _referral(book, area, item, ctx, emit)
        elif isinstance(item, OverrideItem):
            set_override(book, item.command, ctx, emit)
        elif isinstance(item, WithdrawItem):
            withdraw(book, item.command, ctx, emit)
        elif isinstance(item, TickItem):
            expire_overrides(book, item.now, ctx, emit)
        elif isinstance(item, ResetItem):
            reset_scope(book, area, item.command, ctx, emit)
        else:
            raise InputError("kind", f"the area stage does not take {item.kind!r} items")
        computed = _area_computed(book)
        if computed != book["computed"] and book["wm"] is not None:
            book["computed"] = computed
            # A sequence number per change lets the county ignore a change it has already
            # taken when this batch is replayed after a crash.
            book["seq"] = book.get("seq", 0) + 1
            changes.append(AreaChange(at=datetime.fromisoformat(book["wm"]), level=computed, seq=book["seq"]))
    now_idle = book.get("idle", False)
    reset = book.pop("reset", False)
    if book["wm"] is not None and (changes or book["wm"] != wm_before or now_idle != idle_before or reset):
        emit.reports.append(
            AreaReport(
                area=area,
                changes=tuple(changes),
                watermark=datetime.fromisoformat(book["wm"]),
                seen=seen,
                idle=now_idle,
                reset=reset,
            )
        )
    return freeze(book), emit, finish(book, emit, ctx)


def _by_level(book: Book) -> dict[int, set[str]]:
    """The area's assessed indicators by level: derived once per batch and kept as readings come
    in, so the area's roll-up reads four sets instead of every indicator (issue 11)."""
    index: dict[int, set[str]] | None = book.get("_levels")
    if index is None:
        index = book["_levels"] = {1: set(), 2: set(), 3: set(), 4: set()}
        for name, held in book["readings"].items():
            if held["level"] is not None:
                index[held["level"]].add(name)
    return index


def _area_computed(book: Book) -> int | None:
    index = _by_level(book)
    for level in (4, 3, 2, 1):
        if index[level]:
            return level
    return None


def _rolled_up(book: Book, area: str) -> AreaLevel:
    index = _by_level(book)
    worst = _area_computed(book)
    if worst is None:
        return area_level(area, {})
    return _area_level(area, worst, frozenset(index[worst]), sum(len(names) for names in index.values()))


def _reading(
    book: Book, area: str, reading: ReadingItem, ctx: Context, emit: Emit, *, derived: bool = False
) -> None:
    indicator = reading.indicator
    observed_at = reading.observed_at
    if observed_at.tzinfo is not UTC:
        # Decoded times carry pydantic's own UTC zone; the escalation state's fast path wants UTC.
        observed_at = observed_at.astimezone(UTC)
    value = reading.value
    scope_key = f"indicator/{indicator}/{area}"
    inputs = {"indicator": indicator, "area": area, "value": value, "observed_at": observed_at}
    rule = rule_for(ctx.catalogue, indicator, area)
    held = book["readings"].get(indicator)
    if held is not None:
        held_at = datetime.fromisoformat(held["observed_at"])
        # A count derived from referral events may move twice at one instant.
        if observed_at < held_at or (observed_at == held_at and not derived):
            decision: Decision = "duplicate" if observed_at == held_at and value == held["value"] else "stale"
            emit.outcomes.append((reading.source, decision))
            emit.audit.append(
                audit_record(
                    decision,
                    scope_key,
                    observed_at,
                    input=inputs,
                    author=reading.submitted_by,
                    reason=f"holding a reading from {held['observed_at']}",
                )
            )
            return
    verdict = verdict_for(rule, value)
    level = verdict.level
    at_text = observed_at.isoformat()  # once: this runs for every reading
    index = _by_level(book)
    if held is not None and held["level"] is not None:
        index[held["level"]].discard(indicator)
    if level is not None:
        index[int(level)].add(indicator)
    reading_rec: dict[str, Any] = {
        "value": value,
        "observed_at": at_text,
        "level": None if level is None else int(level),
    }
    if held is not None:
        # The early warning's window and open warning live with the held reading.
        # Copied: a batch retried after a failure starts again from the stored book.
        if "recent" in held:
            reading_rec["recent"] = list(held["recent"])
        if "warning" in held:
            reading_rec["warning"] = held["warning"]
    book["readings"][indicator] = reading_rec
    facts = {
        "value": value,
        "explanation": Assessment((value, observed_at, verdict)).explanation(),
        "band": verdict.fixed["band"],
        "catalogue": verdict.catalogue.id,
        "catalogue_version": verdict.catalogue.version,
        "observed_at": at_text,
    }
    scope = Scope("indicator", area, indicator)
    transitions = update_scope(book, scope, level, observed_at, facts=facts, ctx=ctx, emit=emit)
    settings = ctx.warnings
    if settings is not None and rule.table is not None and not isinstance(value, str):
        state_level = record(book, scope).state.level
        early_warning(
            reading_rec,
            area=area,
            indicator=indicator,
            table=rule.table,
            value=value,
            at=observed_at,
            level=None if state_level is None else int(state_level),
            transitions=transitions,
            ctx=ctx,
            emit=emit,
            settings=settings,
        )
    outcome: Decision = "assessed" if level is not None else "not_assessed"
    emit.outcomes.append((reading.source, outcome))
    wm = book["wm"]
    # Late: older than data the area has already taken from another input (applied at the
    # area's current time; see docs/semantics.md).
    late = wm is not None and observed_at < datetime.fromisoformat(wm)
    emit.audit.append(
        audit_record(
            outcome,
            scope_key,
            observed_at,
            input=inputs,
            rule=verdict.fixed["interval"] or verdict.reason,
            catalogue=verdict.catalogue.id,
            catalogue_version=verdict.catalogue.version,
            author=reading.submitted_by,
            outcome={"level": None if level is None else int(level)} | ({"late": True} if late else {}),
        )
    )
    _update_area(book, area, observed_at, ctx, emit)


def _update_area(book: Book, area: str, observed_at: datetime, ctx: Context, emit: Emit) -> None:
    # The area's own clock only moves forward: a reading that is late relative to another
    # indicator of the area still counts, at the area's current time.
    wm = parse_time(book["wm"])
    at = observed_at if wm is None or observed_at > wm else wm
    at_text = at.isoformat()
    if wm is None or at > wm:
        book["wm"] = at_text
        advance_all(book, at, ctx, emit)
    result = _rolled_up(book, area)
    facts = {
        "explanation": result.reason,
        "driving": list(result.driving),
        "catalogue": ctx.catalogue.meta.id,
        "catalogue_version": ctx.catalogue.meta.version,
        "observed_at": at_text,
    }
    update_scope(book, Scope("area", area), result.level, at, facts=facts, ctx=ctx, emit=emit)


@lru_cache(maxsize=4096)
def _area_level(area: str, worst: int, driving: frozenset[str], assessed: int) -> AreaLevel:
    # Most readings leave the worst level and who holds it as they were, so the same roll-up
    # recurs; the sorted list of driving indicators is built once for each.
    return area_roll_up(area, Level(worst), driving, assessed)


def _referral(book: Book, area: str, item: ReferralItem, ctx: Context, emit: Emit) -> None:
    event = item.event
    if event.area != area:
        raise InputError("area", f"referral event for {event.area!r} reached the book of {area!r}")
    counted = apply_event(book["counts"], event)
    at = event.occurred_at
    emit.changed = True
    emit.audit.append(
        audit_record(
            "duplicate" if counted.duplicate else "referral_counted",
            f"area/{area}",
            at,
            input=event.model_dump(exclude_none=True),
            outcome={k: book["counts"][k] for k in ("pending", "health", "social")}
            | {"clamped": counted.clamped},
        )
    )
    if counted.duplicate:
        emit.outcomes.append((item.source, "duplicate"))
        return
    emit.outcomes.append((item.source, "counted"))
    for indicator in counted.changed:
        if (indicator, area) not in ctx.catalogue.rules:
            continue
        reading = ReadingItem.trusted(
            kind="reading",
            indicator=indicator,
            area=area,
            value=value_of(book["counts"], indicator),
            observed_at=at,
            source=item.source,
            submitted_by=None,
        )
        _reading(book, area, reading, ctx, emit, derived=True)
