"""The oracle: the pure core run over a set of inputs in event-time order.

The streaming service must give, for the same inputs, the transitions this gives, whatever
order the inputs arrived in (docs/semantics.md). It shares the service's semantics because it
calls the very functions the stages call: :func:`opel.destinations.destinations` routes each
input, :func:`opel.stages.area.apply_area` keeps one book per area,
:func:`opel.stages.county.apply_county` merges the areas' reports and
:func:`opel.stages.system.apply_system` scores acute submissions. Nothing here reads a clock.

Inputs are applied one at a time, sorted by event time; inputs at the same instant are taken
in a fixed order of their content, so a shuffle of the inputs changes nothing. An override ends
at its ``expires_at`` in event time: before the first input at or after its expiry, the stage
holding it gets a tick at that instant (the service's wall-clock tick, as it falls when the
inputs arrive live). At the end every area and site is declared idle so the county and the
systems release everything they still hold back.

:func:`transitions` reduces escalation events to comparable tuples and :func:`diff_transitions`
says what two such lists disagree on.
"""

from __future__ import annotations

import heapq
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from opel.contracts.escalation import EscalationEvent
from opel.contracts.stage import AnyStageItem, TickItem
from opel.contracts.status import AnyStatus
from opel.contracts.warning import WarningEvent
from opel.destinations import destinations
from opel.errors import InputError
from opel.feeds import Override, ReferralEvent, Withdraw
from opel.models import AcuteSubmission, Reading
from opel.stages.area import apply_area
from opel.stages.book import Book
from opel.stages.context import Context, Emit
from opel.stages.county import apply_county
from opel.stages.system import apply_system

Input = Reading | ReferralEvent | AcuteSubmission | Override | Withdraw

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
"""The wall time of a replay of no inputs (any fixed instant would do)."""

_KIND_ORDER: Mapping[type, int] = {
    Override: 0,  # a command at the instant of a reading applies before the reading
    Withdraw: 1,
    Reading: 2,
    ReferralEvent: 3,
    AcuteSubmission: 4,
}


def event_time(value: Input) -> datetime:
    """When the input was true: a reading's or submission's ``observed_at``, an event's
    ``occurred_at``, a command's ``at``."""
    if isinstance(value, Reading | AcuteSubmission):
        return value.observed_at
    if isinstance(value, ReferralEvent):
        return value.occurred_at
    return value.at


def order_key(value: Input) -> tuple[datetime, int, str]:
    """Event time (as an instant), then the kind of input, then its content: a total order on
    distinct inputs, so the replay does not depend on the order it was given them in."""
    return (event_time(value).astimezone(UTC), _KIND_ORDER[type(value)], value.model_dump_json())


@dataclass(frozen=True, slots=True)
class Refused:
    """An input the core refused to route (an id the catalogues do not know, a value of the
    wrong kind), with the field at fault."""

    input: Input
    field: str
    reason: str


@dataclass(slots=True)
class Replayed:
    """What the core produced over the inputs, in the order it produced it."""

    escalations: list[EscalationEvent] = field(default_factory=list)
    warnings: list[WarningEvent] = field(default_factory=list)
    statuses: dict[str, AnyStatus] = field(default_factory=dict)  # scope key -> its last status
    refused: list[Refused] = field(default_factory=list)
    area_books: dict[str, Book] = field(default_factory=dict)
    county_book: Book | None = None
    system_books: dict[str, Book] = field(default_factory=dict)

    def transitions(self) -> list[TransitionKey]:
        return transitions(self.escalations)


class CoreRun:
    """The books of one run of the core and the outputs gathered so far.

    :func:`replay` feeds it one input at a time in event-time order; a test can feed it
    batches in any other order (as the service would receive them) with :meth:`area`,
    :meth:`county` and :meth:`system`, then call :meth:`finish`.
    """

    def __init__(self, ctx: Context, seen: datetime) -> None:
        self.ctx = ctx
        self.seen = seen
        self.out = Replayed()
        self.expiries: list[tuple[datetime, str, str]] = []  # heap of (expires_at, stage, key)

    def take(self, emit: Emit, statuses: Mapping[str, AnyStatus]) -> None:
        self.out.escalations.extend(emit.escalations)
        self.out.warnings.extend(emit.warnings)
        self.out.statuses.update(statuses)
        for report in emit.reports:
            self.county([report])

    def area(self, key: str, items: Sequence[AnyStageItem], **flags: bool) -> None:
        stage: Callable[..., tuple[Book, Emit, Mapping[str, AnyStatus]]] = apply_area
        book, emit, statuses = stage(self.out.area_books.get(key), key, items, self.ctx, self.seen, **flags)
        self.out.area_books[key] = book
        self.take(emit, statuses)

    def county(self, items: Sequence[AnyStageItem]) -> None:
        book, emit, statuses = apply_county(self.out.county_book, items, self.ctx, self.seen)
        self.out.county_book = book
        self.take(emit, statuses)

    def system(self, key: str, items: Sequence[AnyStageItem]) -> None:
        book, emit, statuses = apply_system(self.out.system_books.get(key), key, items, self.ctx, self.seen)
        self.out.system_books[key] = book
        self.take(emit, statuses)

    def apply(self, value: Input) -> None:
        try:
            routed = destinations(value, self.ctx, self.seen)
        except InputError as exc:
            self.out.refused.append(Refused(value, exc.field, str(exc)))
            return
        if isinstance(value, Override):
            for stage, key, _ in routed:
                heapq.heappush(self.expiries, (value.expires_at.astimezone(UTC), stage, key))
        for stage, key, item in routed:
            if stage == "area":
                self.area(key, [item])
            elif stage == "county":
                self.county([item])
            else:
                self.system(key, [item])

    def due(self, now: datetime) -> None:
        """Tick every stage holding an override that expires at or before ``now``, at its expiry."""
        while self.expiries and self.expiries[0][0] <= now:
            at, stage, key = heapq.heappop(self.expiries)
            tick = TickItem(now=at)
            if stage == "area":
                self.area(key, [tick])
            elif stage == "county":
                self.county([tick])
            else:
                self.system(key, [tick])

    def finish(self) -> None:
        """Every member falls silent: the county and the systems release all they hold."""
        if area_takes_idle():
            for key in sorted(self.out.area_books):
                self.area(key, [], idle=True)
        # Without the idle flag, wall time far enough past every member's last report makes
        # each of them idle in the merge (opel.timeline.watermark); with it, this changes nothing.
        later = TickItem(now=self.seen + self.ctx.idle_grace + timedelta(seconds=1))
        if self.out.county_book is not None:
            self.county([later])
        for key in sorted(self.out.system_books):
            self.system(key, [later])


def area_takes_idle() -> bool:
    """Whether the area stage has the ``idle`` flag (an area reporting itself silent).

    TODO(idle flag): once ``apply_area(..., *, idle: bool)`` and ``AreaReport.idle`` have
    landed everywhere, call it directly and drop this check and the far tick in ``finish``.
    """
    return "idle" in inspect.signature(apply_area).parameters


def replay(inputs: Iterable[Input], ctx: Context, *, seen: datetime | None = None) -> Replayed:
    """Run the core over ``inputs`` in event-time order and let every merge release at the end.

    ``seen`` is the wall time every batch is stamped with (the merges' idle clock); by default
    the latest event time of the inputs, so the result depends on the inputs alone.
    """
    ordered = sorted(inputs, key=order_key)
    if seen is None:
        seen = max((event_time(v).astimezone(UTC) for v in ordered), default=EPOCH)
    run = CoreRun(ctx, seen)
    for value in ordered:
        run.due(event_time(value).astimezone(UTC))
        run.apply(value)
    run.finish()
    return run.out


class TransitionKey(NamedTuple):
    """What makes two escalation events the same transition."""

    subject: str
    from_level: int | None
    to_level: int
    time: datetime
    id: str

    def __str__(self) -> str:
        return (
            f"{self.time.astimezone(UTC).isoformat()} {self.subject} "
            f"{self.from_level} -> {self.to_level} ({self.id})"
        )


def transition_key(event: EscalationEvent) -> TransitionKey:
    return TransitionKey(
        event.subject, event.data.from_level, event.data.to_level, event.time.astimezone(UTC), event.id
    )


def transitions(events: Iterable[EscalationEvent]) -> list[TransitionKey]:
    """The events as transitions, in time order (then subject); an event repeated with the same
    content (at-least-once delivery) counts once."""
    return sorted(set(map(transition_key, events)), key=lambda t: (t.time, t.subject, t.id))


def conflicting_ids(events: Iterable[EscalationEvent]) -> list[str]:
    """Ids carried by more than one different transition (which must never happen)."""
    seen: dict[str, TransitionKey] = {}
    out: list[str] = []
    for event in events:
        key = transition_key(event)
        if seen.setdefault(event.id, key) != key and event.id not in out:
            out.append(event.id)
    return out


def diff_transitions(
    expected: Sequence[TransitionKey],
    actual: Sequence[TransitionKey],
    *,
    names: tuple[str, str] = ("oracle", "service"),
) -> list[str]:
    """What differs between two lists of transitions, one line each, in time order; empty when
    they hold the same transitions."""
    want, got = set(expected), set(actual)
    lines = [f"only in {names[0]}: {t}" for t in expected if t not in got]
    lines += [f"only in {names[1]}: {t}" for t in actual if t not in want]
    lines.sort(key=lambda line: line.split(": ", 1)[1])
    return lines


def format_diff(lines: Sequence[str], *, limit: int = 60) -> str:
    if not lines:
        return "no differences"
    more = f"\n... and {len(lines) - limit} more" if len(lines) > limit else ""
    return f"{len(lines)} differences:\n" + "\n".join(lines[:limit]) + more
