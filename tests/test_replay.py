"""The oracle (opel.replay): the core over a set of inputs in event-time order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opel.actions_load import default_action_plan
from opel.catalogue_load import load_acute_catalogue, load_indicator_catalogue
from opel.contracts.stage import AnyStageItem
from opel.destinations import destinations
from opel.escalation import EscalationPolicy, transition_id
from opel.feeds import ReferralEvent
from opel.input_merge import InputMerge
from opel.levels import Level
from opel.models import Reading
from opel.replay import (
    CoreRun,
    Input,
    TransitionKey,
    diff_transitions,
    event_time,
    format_diff,
    order_key,
    replay,
    transitions,
)
from opel.stages.context import Context

T0 = datetime(2025, 11, 12, 9, 0, tzinfo=UTC)
DWELL = timedelta(minutes=30)
CATALOGUE = load_indicator_catalogue("kcc-asch-2025-26")
CTX = Context(
    catalogue=CATALOGUE,
    acute=load_acute_catalogue("nhs-acute-2023-24"),
    actions=default_action_plan(),
    policy=EscalationPolicy(DWELL),
)
AREAS = ("dgs", "east_kent", "swale", "west_kent")
# indicator -> (low, high) of a walk that crosses its bands; the referral feed's three and two of capacity
WALKS = {
    "stp_staffing_pct": (10, 100),
    "keah_capacity": (0, 6),
    "health_caseload": (20, 80),
    "social_caseload": (20, 130),
    "referrals": (0, 29),
}
REFERRAL_FEED = {"referrals", "health_caseload", "social_caseload"}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def reading(indicator: str, area: str, value: float, minutes: float) -> Reading:
    return Reading(indicator=indicator, area=area, value=value, observed_at=at(minutes))


def expected(scope: str, from_level: int | None, to_level: int, minutes: float) -> TransitionKey:
    when = at(minutes)
    lv = None if from_level is None else Level(from_level)
    return TransitionKey(scope, from_level, to_level, when, transition_id(scope, lv, Level(to_level), when))


def test_a_small_story_checked_by_hand() -> None:
    inputs = [
        reading("stp_staffing_pct", "east_kent", 80, 0),  # OPEL 1
        reading("health_caseload", "dgs", 120, 5),  # OPEL 4
        reading("stp_staffing_pct", "east_kent", 45, 10),  # OPEL 3
        reading("stp_staffing_pct", "east_kent", 65, 20),  # OPEL 2: the step-down wait starts
        reading("stp_staffing_pct", "east_kent", 62, 50),  # still 2, 30 min on: steps down
    ]
    out = replay(inputs, CTX)
    assert out.transitions() == [
        # The county merges the areas in event time: east_kent alone at OPEL 1 ...
        expected("area/east_kent", None, 1, 0),
        expected("county/kent", None, 1, 0),
        expected("indicator/stp_staffing_pct/east_kent", None, 1, 0),
        # ... one of two areas at OPEL 4 is pressure "in some areas": OPEL 2 ...
        expected("area/dgs", None, 4, 5),
        expected("county/kent", 1, 2, 5),
        expected("indicator/health_caseload/dgs", None, 4, 5),
        # ... both at OPEL 3 or worse is county-wide: OPEL 3.
        expected("area/east_kent", 1, 3, 10),
        expected("county/kent", 2, 3, 10),
        expected("indicator/stp_staffing_pct/east_kent", 1, 3, 10),
        # OPEL 2 held from 09:20 for the 30 min dwell; the county's own wait began at 09:50.
        expected("area/east_kent", 3, 2, 50),
        expected("indicator/stp_staffing_pct/east_kent", 3, 2, 50),
    ]
    assert out.statuses["county/kent"].level == 3
    assert out.statuses["area/east_kent"].level == 2
    assert not out.refused
    # The ids are the core's own, so the events carry them unchanged.
    assert {e.id for e in out.escalations} == {t.id for t in out.transitions()}


def test_refused_inputs_are_kept_apart() -> None:
    out = replay(
        [reading("stp_staffing_pct", "atlantis", 80, 0), reading("stp_staffing_pct", "dgs", 80, 0)], CTX
    )
    assert [r.field for r in out.refused] == ["area"]
    assert [t.subject for t in out.transitions()] == [
        "area/dgs",
        "county/kent",
        "indicator/stp_staffing_pct/dgs",
    ]


def test_referral_events_count_into_their_indicators() -> None:
    events = [
        ReferralEvent(event_id=f"e{n}", area="west_kent", kind="received", occurred_at=at(n), count=6)
        for n in range(4)
    ]
    out = replay(events, CTX)
    # 6, 12, 18, 24 pending referrals: OPEL 1, 2, 3, 4 in West Kent.
    steps = [
        (t.from_level, t.to_level) for t in out.transitions() if t.subject == "indicator/referrals/west_kent"
    ]
    assert steps == [(None, 1), (1, 2), (2, 3), (3, 4)]


def test_diff_names_what_only_one_side_has() -> None:
    a = expected("area/dgs", None, 4, 5)
    b = expected("area/dgs", 4, 3, 50)
    c = expected("area/dgs", 3, 4, 55)
    lines = diff_transitions([a, b], [a, c])
    assert lines == [f"only in oracle: {b}", f"only in service: {c}"]
    assert diff_transitions([a, b], [b, a]) == []
    assert format_diff([]) == "no differences"
    assert format_diff(lines).startswith("2 differences:\n")


def test_transitions_count_a_redelivered_event_once() -> None:
    out = replay([reading("stp_staffing_pct", "dgs", 20, 0)], CTX)
    assert transitions(out.escalations + out.escalations) == out.transitions()


def story(seed: int, count: int) -> list[Input]:
    """Readings of five indicators in four areas, crossing bands often; no two readings of an
    area share an instant (the order of same-instant readings is a separate question)."""
    rng = random.Random(seed)
    values = {(i, a): rng.uniform(*bounds) for i, bounds in WALKS.items() for a in AREAS}
    out: list[Input] = []
    for n in range(count):
        area = AREAS[n % len(AREAS)]
        indicator = rng.choice(list(WALKS))
        low, high = WALKS[indicator]
        value = min(
            high, max(low, values[(indicator, area)] + rng.uniform(-(high - low) / 3, (high - low) / 3))
        )
        values[(indicator, area)] = value
        out.append(reading(indicator, area, round(value), n * 2.5))
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), shuffle=st.randoms(use_true_random=False))
def test_replay_does_not_depend_on_the_order_of_its_inputs(seed: int, shuffle: random.Random) -> None:
    inputs = story(seed, 60)
    # Duplicates and a same-instant pair of different indicators must not depend on order either.
    inputs += inputs[:5]
    inputs.append(reading("stp_staffing_pct", "dgs", 25, 0))
    shuffled = list(inputs)
    shuffle.shuffle(shuffled)
    expected_transitions = replay(inputs, CTX).transitions()
    assert len(expected_transitions) > 10
    got = replay(shuffled, CTX).transitions()
    assert got == expected_transitions, format_diff(diff_transitions(expected_transitions, got))


def test_order_key_is_total_on_distinct_inputs() -> None:
    a = reading("stp_staffing_pct", "dgs", 25, 0)
    b = reading("stp_staffing_pct", "dgs", 26, 0)
    c = Reading(indicator="stp_staffing_pct", area="dgs", value=25, observed_at=at(0).astimezone())
    assert order_key(a) != order_key(b)
    assert order_key(a)[0] == order_key(c)[0]


def arrive(inputs: list[Input], steps: list[tuple[bool, int]]) -> CoreRun:
    """The core as the service drives it: two input topics (capacity and referrals), each in
    event-time order, polled in the interleaving and batch sizes ``steps`` give; each poll's
    items merged per area in event time (opel.input_merge, as ingest does) and what the merge
    releases applied as one batch per area, area reports on to the county. At the end every
    source falls idle and the merge lets go of what it still holds."""
    topic = {False: "opel.capacity.v1", True: "opel.referrals.v1"}
    queues = {
        feed: sorted(
            (v for v in inputs if isinstance(v, Reading) and (v.indicator in REFERRAL_FEED) == feed),
            key=order_key,
        )
        for feed in (False, True)
    }
    merge: InputMerge[AnyStageItem] = InputMerge(sorted(topic.values()))
    run = CoreRun(CTX, at(10_000))
    offset = 0

    def apply(released: dict[str, list[AnyStageItem]]) -> None:
        for key, items in released.items():
            run.area(key, items)

    # After the drawn polls, whatever is left arrives, then every source has said all it will.
    for feed, size in [*steps, (False, len(inputs)), (True, len(inputs))]:
        polled, queues[feed] = queues[feed][:size], queues[feed][size:]
        for value in polled:
            for _, key, item in destinations(value, CTX, run.seen, topic[feed]):
                merge.offer(key, topic[feed], event_time(value), item, (topic[feed], offset))
                offset += 1
        apply(merge.release(lambda key, source: False))
    apply(merge.release(lambda key, source: True))
    run.finish()
    return run


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    steps=st.lists(st.tuples(st.booleans(), st.integers(1, 40)), max_size=12),
)
def test_every_arrival_order_gives_the_oracles_transitions(seed: int, steps: list[tuple[bool, int]]) -> None:
    """The pure-core version of the service's property (issue 10): the same readings, polled
    from two topics in any interleaving and batching Kafka allows, give the same transitions."""
    inputs = story(seed, 120)
    want = replay(inputs, CTX, seen=at(10_000)).transitions()
    got = arrive(inputs, steps).out.transitions()
    assert got == want, format_diff(diff_transitions(want, got, names=("oracle", "arrival")))


@pytest.mark.parametrize("first", ["capacity", "referrals"])
def test_one_topic_after_the_other_gives_the_oracles_transitions(first: str) -> None:
    inputs = story(7, 200)
    want = replay(inputs, CTX, seen=at(10_000)).transitions()
    got = arrive(inputs, [(first == "referrals", len(inputs))]).out.transitions()
    assert got == want, format_diff(diff_transitions(want, got, names=("oracle", "arrival")))
