"""The ingest merge: an area's items come out in event-time order whatever the arrival order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from opel.contracts.stage import AnyStageItem, ReadingItem, StageMessage
from opel.input_merge import InputMerge
from streams.ingest import MAX_STAGE_MESSAGE_BYTES, stage_messages

T0 = datetime(2025, 11, 12, 9, 0, tzinfo=UTC)
SOURCES = ("capacity", "referrals", "referral_events")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def never_idle(key: str, source: str) -> bool:
    return False


def test_a_source_that_has_not_reported_holds_the_area_back() -> None:
    merge: InputMerge[str] = InputMerge(SOURCES[:2])
    merge.offer("dgs", "capacity", at(5), "c5", ("cap-0", 0))
    assert merge.release(never_idle) == {}
    assert merge.held_offsets() == {"cap-0": 0}
    merge.offer("dgs", "referrals", at(3), "r3", ("ref-0", 0))
    assert merge.release(never_idle) == {"dgs": ["r3"]}
    merge.offer("dgs", "referrals", at(9), "r9", ("ref-0", 1))
    assert merge.release(never_idle) == {"dgs": ["c5"]}
    assert merge.held_offsets() == {"ref-0": 1}


def test_an_idle_source_stops_holding_back() -> None:
    merge: InputMerge[str] = InputMerge(SOURCES[:2])
    merge.offer("dgs", "capacity", at(5), "c5", ("cap-0", 0))
    assert merge.release(lambda key, source: source == "referrals") == {"dgs": ["c5"]}
    assert merge.held_offsets() == {}


def test_areas_are_merged_independently() -> None:
    merge: InputMerge[str] = InputMerge(SOURCES[:2])
    merge.offer("dgs", "capacity", at(5), "dgs-c5", ("cap-0", 0))
    merge.offer("swale", "capacity", at(5), "swale-c5", ("cap-1", 0))
    merge.offer("swale", "referrals", at(6), "swale-r6", ("ref-1", 0))
    assert merge.release(never_idle) == {"swale": ["swale-c5"]}
    merge.forget(["dgs"])
    assert merge.held_offsets() == {"ref-1": 0}


# Each source delivers its own items in time order (one Kafka partition per source and area);
# the arrival order across sources, and where the polls fall, are arbitrary.
streams = st.lists(st.integers(min_value=0, max_value=30), min_size=0, max_size=12).map(sorted)


@settings(max_examples=300, deadline=None)
@given(
    st.tuples(streams, streams, streams),
    st.randoms(use_true_random=False),
    st.integers(min_value=1, max_value=6),
)
def test_any_arrival_order_releases_in_event_time_order(
    times: tuple[list[int], list[int], list[int]], rng: random.Random, poll_every: int
) -> None:
    queues = {
        source: [(source, i, t) for i, t in enumerate(ts)] for source, ts in zip(SOURCES, times, strict=True)
    }
    expected = sorted(
        ((t, source, i) for source, items in queues.items() for source_, i, t in items if source_ == source)
    )
    merge: InputMerge[tuple[str, int]] = InputMerge(SOURCES)
    delivered = dict.fromkeys(SOURCES, 0)
    out: list[tuple[str, int]] = []

    def idle(key: str, source: str) -> bool:
        # A source is idle once everything it has was delivered (its partition read to the end).
        return delivered[source] == len(queues[source])

    arrivals = 0
    while any(delivered[s] < len(queues[s]) for s in SOURCES):
        source = rng.choice([s for s in SOURCES if delivered[s] < len(queues[s])])
        _, i, t = queues[source][delivered[source]]
        merge.offer("dgs", source, at(t), (source, i), (source, i))
        delivered[source] += 1
        arrivals += 1
        if arrivals % poll_every == 0:
            out.extend(merge.release(idle).get("dgs", []))
    out.extend(merge.release(idle).get("dgs", []))
    assert out == [(source, i) for _, source, i in expected]
    assert merge.held_offsets() == {}


def test_a_big_batch_for_one_key_is_split_under_the_record_limit() -> None:
    items: list[AnyStageItem] = [
        ReadingItem(indicator="stp_staffing_pct", area="dgs", value=n, observed_at=at(n))
        for n in range(20_000)
    ]
    values = stage_messages(items, T0, None, True)
    assert len(values) > 1
    assert all(len(v) <= MAX_STAGE_MESSAGE_BYTES for v in values)
    decoded = [StageMessage.model_validate_json(v) for v in values]
    assert [item for m in decoded for item in m.items] == items
    assert [m.idle for m in decoded] == [None] * (len(decoded) - 1) + [True]
