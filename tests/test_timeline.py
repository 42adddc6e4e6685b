"""The event-time merge releases changes in (time, member) order whatever the arrival order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from opel.timeline import new_timeline, offer, release

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
MEMBERS = ("dgs", "east_kent", "swale", "west_kent")

# One step: a member offers some changes (minutes after T0), or the aggregate releases up to a time.
offers = st.tuples(
    st.just("offer"), st.sampled_from(MEMBERS), st.lists(st.integers(0, 60), max_size=6), st.integers(0, 60)
)
releases = st.tuples(
    st.just("release"), st.just(""), st.lists(st.integers(0, 60), max_size=0), st.integers(0, 60)
)


@given(st.lists(st.one_of(offers, releases), max_size=40))
def test_release_matches_sorting_everything_offered(steps: list[tuple[str, str, list[int], int]]) -> None:
    timeline = new_timeline(MEMBERS, T0)
    queued: list[tuple[datetime, str, int, int]] = []  # the reference: (time, member, arrival, level)
    done: datetime | None = None
    arrival = 0
    for action, member, minutes, upto in steps:
        if action == "offer":
            changes = [(T0 + timedelta(minutes=m), arrival + i) for i, m in enumerate(minutes)]
            late = offer(timeline, member, changes, T0 + timedelta(minutes=upto), T0)
            for at, level in changes:
                if done is not None and at < done:
                    assert (at, member, level) in late
                else:
                    queued.append((at, member, level, level))
            arrival += len(changes)
        else:
            cut = T0 + timedelta(minutes=upto)
            # Strictly before the cut: a member may still report another change at the cut itself.
            expected = sorted((c for c in queued if c[0] < cut), key=lambda c: (c[0], c[1], c[2]))
            queued = [c for c in queued if c[0] >= cut]
            assert release(timeline, cut) == [(at, m, level) for at, m, _, level in expected]
            done = cut if done is None or cut > done else done


def test_a_member_reporting_out_of_its_own_order_is_still_released_in_time_order() -> None:
    timeline = new_timeline(MEMBERS, T0)
    at = [T0 + timedelta(minutes=m) for m in (10, 30, 20, 20)]
    offer(timeline, "dgs", [(at[0], 1), (at[1], 3)], at[1], T0)
    offer(timeline, "dgs", [(at[2], 2), (at[3], 4)], at[1], T0)
    assert release(timeline, T0 + timedelta(minutes=25)) == [
        (at[0], "dgs", 1),
        (at[2], "dgs", 2),
        (at[3], "dgs", 4),
    ]
    assert release(timeline, T0 + timedelta(minutes=60)) == [(at[1], "dgs", 3)]
