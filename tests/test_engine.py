"""The engine stages: area, county and system books, replays, overrides and event-time merging."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.stage_context import shipped_context

from opel.contracts.audit import audit_record
from opel.contracts.stage import (
    AcuteItem,
    AreaChange,
    AreaReport,
    OverrideItem,
    ReadingItem,
    ReferralItem,
    TickItem,
)
from opel.feeds import Override, ReferralEvent
from opel.models import AcuteSubmission
from opel.stages.area import apply_area
from opel.stages.context import Context
from opel.stages.county import apply_county
from opel.stages.system import apply_system

T0 = datetime(2025, 11, 12, 9, 0, tzinfo=UTC)
SEEN = datetime(2025, 11, 12, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ctx() -> Context:
    return shipped_context()


def reading(indicator: str, area: str, value: float, minutes: float) -> ReadingItem:
    at = T0 + timedelta(minutes=minutes)
    return ReadingItem(indicator=indicator, area=area, value=value, observed_at=at)


def test_staffing_escalates_area_with_actions(ctx: Context) -> None:
    book, emit, statuses = apply_area(
        None, "east_kent", [reading("stp_staffing_pct", "east_kent", 65, 0)], ctx, SEEN
    )
    assert statuses["indicator/stp_staffing_pct/east_kent"].level == 2
    assert statuses["area/east_kent"].level == 2
    assert emit.outcomes == [(None, "assessed")]
    events = {e.subject: e for e in emit.escalations}
    assert events["area/east_kent"].data.direction == "initial"
    assert events["area/east_kent"].data.actions, "area scopes carry per-role actions"
    assert events["indicator/stp_staffing_pct/east_kent"].data.actions == ()
    assert emit.reports
    change = emit.reports[0].changes[0]
    assert (change.level, change.seq) == (2, 1)

    book, emit, statuses = apply_area(
        book, "east_kent", [reading("stp_staffing_pct", "east_kent", 45, 5)], ctx, SEEN
    )
    assert statuses["area/east_kent"].level == 3
    (area_event,) = [e for e in emit.escalations if e.subject == "area/east_kent"]
    assert area_event.type == "uk.gov.kent.opel.escalation"
    assert (area_event.data.from_level, area_event.data.to_level) == (2, 3)


def test_a_submitted_readings_audit_names_who_submitted_it(ctx: Context) -> None:
    at = T0 + timedelta(minutes=1)
    submitted = ReadingItem(
        indicator="stp_staffing_pct", area="dgs", value=45, observed_at=at, submitted_by="dgs-submitter"
    )
    book, emit, _ = apply_area(None, "dgs", [submitted, reading("stp_staffing_pct", "dgs", 80, 0)], ctx, SEEN)
    readings = ("assessed", "stale", "duplicate")
    assert [(r.decision, r.author) for r in emit.audit if r.decision in readings] == [
        ("assessed", "dgs-submitter"),
        ("stale", None),  # a feed's reading names no author
    ]
    _, again, _ = apply_area(book, "dgs", [submitted], ctx, SEEN)
    assert [(r.decision, r.author) for r in again.audit if r.decision in readings] == [
        ("duplicate", "dgs-submitter")
    ]


def test_replay_changes_nothing_and_is_audited(ctx: Context) -> None:
    items = [reading("stp_staffing_pct", "dgs", v, i) for i, v in enumerate([80, 65, 45, 20])]
    book, _first, _ = apply_area(None, "dgs", items, ctx, SEEN)
    again, second, statuses = apply_area(book, "dgs", items, ctx, SEEN)
    assert second.escalations == []
    assert statuses == {}
    assert [outcome for _, outcome in second.outcomes] == ["stale", "stale", "stale", "duplicate"]
    assert again["scopes"] == book["scopes"]


def test_same_ids_whatever_the_batching(ctx: Context) -> None:
    rng = random.Random(7)
    items = [reading("health_caseload", "dgs", rng.randint(0, 200), i * 30) for i in range(200)]
    _, whole, _ = apply_area(None, "dgs", items, ctx, SEEN)
    book = None
    ids: list[str] = []
    for start in range(0, len(items), 13):
        book, emit, _ = apply_area(book, "dgs", items[start : start + 13], ctx, SEEN)
        ids += [e.id for e in emit.escalations]
    assert ids == [e.id for e in whole.escalations]
    assert len(ids) > 3


def test_override_wins_then_expires(ctx: Context) -> None:
    book, _, _ = apply_area(None, "swale", [reading("stp_staffing_pct", "swale", 80, 0)], ctx, SEEN)
    override = OverrideItem(
        command=Override.model_validate(
            {
                "type": "override",
                "id": "o-1",
                "scope": "area/swale",
                "level": 3,
                "author": "escalation group",
                "reason": "flu outbreak",
                "at": (T0 + timedelta(hours=1)).isoformat(),
                "expires_at": (T0 + timedelta(hours=5)).isoformat(),
                "declaration": False,
            }
        )
    )
    book, emit, statuses = apply_area(book, "swale", [override], ctx, SEEN)
    status = statuses["area/swale"]
    assert status.override is not None
    assert (status.level, status.computed_level, status.override.author) == (
        3,
        1,
        "escalation group",
    )
    assert [e.data.cause for e in emit.escalations] == ["override"]
    book, again, _ = apply_area(book, "swale", [override], ctx, SEEN)
    assert again.escalations == []
    tick = TickItem(now=T0 + timedelta(hours=6))
    book, emit, statuses = apply_area(book, "swale", [tick], ctx, SEEN)
    assert statuses["area/swale"].level == 1
    assert statuses["area/swale"].override is None
    assert statuses["area/swale"].since == T0 + timedelta(hours=5), "in force since the override ended"
    assert [(e.data.cause, e.time) for e in emit.escalations] == [("override-ended", T0 + timedelta(hours=5))]
    _, replayed, _ = apply_area(book, "swale", [override], ctx, SEEN)
    assert replayed.escalations == [], "an ended override is not revived by a replay"


def test_referral_events_drive_counts(ctx: Context) -> None:
    def event(i: int, kind: str, **extra: Any) -> ReferralItem:
        at = (T0 + timedelta(minutes=i)).isoformat()
        body = {"event_id": f"e{i}", "area": "dgs", "kind": kind, "occurred_at": at, **extra}
        return ReferralItem(event=ReferralEvent.model_validate(body))

    snapshot = event(0, "snapshot", pending=0, health_caseload=0, social_caseload=0)
    received = [event(i, "received", count=5) for i in range(1, 8)]
    _book, emit, statuses = apply_area(None, "dgs", [snapshot, *received, received[0]], ctx, SEEN)
    assert statuses["indicator/referrals/dgs"].model_dump()["value"] == 35
    assert [outcome for _, outcome in emit.outcomes].count("duplicate") == 1


def area_report(area: str, changes: list[tuple[float, int]], wm: float) -> AreaReport:
    return AreaReport(
        area=area,
        changes=tuple(
            AreaChange(at=T0 + timedelta(minutes=m), level=lv, seq=int(m * 100) + 1) for m, lv in changes
        ),
        watermark=T0 + timedelta(minutes=wm),
        seen=SEEN,
    )


def test_county_merges_in_event_time_order(ctx: Context) -> None:
    reports = [
        area_report("dgs", [(0, 1), (10, 3)], 10),
        area_report("east_kent", [(1, 1), (11, 3)], 11),
        area_report("swale", [(2, 2), (12, 3)], 12),
        area_report("west_kent", [(3, 1), (13, 3)], 13),
        area_report("dgs", [(20, 1)], 30),
        area_report("east_kent", [], 30),
        area_report("swale", [], 30),
        area_report("west_kent", [], 30),
    ]
    outcomes = set()
    for order in itertools.islice(itertools.permutations(range(4)), 8):
        shuffled = [reports[i] for i in order] + [reports[4 + i] for i in order]
        _, emit, statuses = apply_county(None, shuffled, ctx, SEEN)
        outcomes.add(tuple((e.id, e.data.to_level) for e in emit.escalations))
        status = statuses["county/kent"]
        assert (status.computed_level, status.level) == (2, 3), "dgs eased: no longer county-wide"
    assert len(outcomes) == 1
    (events,) = outcomes
    assert [lv for _, lv in events] == [1, 2, 3]


def test_system_lifts_to_a_hot_site(ctx: Context) -> None:
    def site(name: str, minutes: float, handover: float) -> AcuteItem:
        at = (T0 + timedelta(minutes=minutes)).isoformat()
        params = {
            "ambulance_handover_mean_min": handover,
            "ed_4h_performance_pct": 50,
            "ga_bed_occupancy_pct": 99,
            "majors_resus_occupancy_pct": 140,
            "ed_over_12h_pct": 10,
            "time_to_treatment_median_min": 200,
            "ed_attendances_vs_expected_pct": 30,
            "escalation_beds_pct": 10,
            "nctr_beds_pct": 25,
        }
        body = {"site": name, "observed_at": at, "parameters": params}
        return AcuteItem(submission=AcuteSubmission.model_validate(body), seen=SEEN)

    tick = TickItem(now=SEEN + timedelta(hours=1))
    _, _, statuses = apply_system(None, "kent-medway", [site("maidstone", 0, 90), tick], ctx, SEEN)
    site_status, system_status = statuses["site/maidstone"], statuses["system/kent-medway"]
    assert site_status.level is not None
    assert site_status.level >= 3
    assert system_status.level is not None
    assert system_status.level >= 3


def test_county_ignores_a_replayed_area_report(ctx: Context) -> None:
    reports = [
        area_report(area, [(i, 3), (10 + i, 1)], 20)
        for i, area in enumerate(("dgs", "east_kent", "swale", "west_kent"))
    ]
    book, first, _ = apply_county(None, reports, ctx, SEEN)
    _, replay, statuses = apply_county(book, reports, ctx, SEEN)
    assert first.escalations
    assert replay.escalations == []
    assert statuses == {}


@given(st.text(max_size=20), st.integers(min_value=0, max_value=10**6))
def test_audit_ids_are_uuids_of_the_content(scope: str, seconds: int) -> None:
    at = T0 + timedelta(seconds=seconds)
    record = audit_record("assessed", scope, at, input={"value": seconds})
    assert str(uuid.UUID(record.id)) == record.id
    assert audit_record("assessed", scope, at, input={"value": seconds}).id == record.id
    assert audit_record("stale", scope, at, input={"value": seconds}).id != record.id
