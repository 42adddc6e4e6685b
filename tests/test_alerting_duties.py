"""Clock duties over statuses: daily summary, missed updates, stale indicators, DoS reviews, KEaH.

Also the reader's contract: a status exactly as the worker writes it is accepted, and one
field the contract does not declare makes the reader refuse it.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from opel.alerting.duties import (
    daily_summary,
    dos_reviews,
    duty_deliveries,
    elapsed_notices,
    job_notices,
    keah_alerted,
    keah_confirmed,
    keah_figures,
    keah_referral,
    missed_updates,
    stale_indicators,
)
from opel.alerting.events import KeahReferrerTold
from opel.alerting.records import Delivery, DeliveryState, DosRecord, KeahRecord, NoticeKind, delivery_id
from opel.alerting.routing import ClockConfig, build_routing
from opel.contracts.status import (
    STATUS,
    AnyStatus,
    AreaStatus,
    CountyStatus,
    IndicatorStatus,
    SiteStatus,
    SystemStatus,
)
from opel.feeds import ReferralEvent
from opel.levels import Level

DAY = date(2025, 11, 12)
CLOCK = ClockConfig(
    indicator_owners={"assessment_bed_availability": "inhouse_registered_managers"}, areas=("dgs",)
)


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def status(scope: str, level: int | None, **extra: Any) -> AnyStatus:
    """A status of the scope's kind with only that kind's scope parts, as the worker writes it."""
    kind, _, rest = scope.partition("/")
    parts: dict[str, Any]
    if kind == "indicator":
        indicator, _, area = rest.partition("/")
        parts = {"indicator": indicator, "area": area}
    else:
        parts = {kind: rest}
    colour = None if level is None else Level(level).colour
    value: dict[str, Any] = {
        "scope": scope,
        "kind": kind,
        **parts,
        "level": level,
        "colour": colour,
        "computed_level": level,
        "computed_colour": colour,
        "state_level": level,
        "updated_at": extra.get("observed_at") or at(9),
        **extra,
    }
    return STATUS.validate_python(value)


def statuses(area_level: int, beds_update: datetime, referrals_update: datetime) -> dict[str, AnyStatus]:
    items = [
        status("area/dgs", area_level, since=at(8)),
        status("indicator/assessment_bed_availability/dgs", 2, observed_at=beds_update, value=3),
        status("indicator/referrals/dgs", area_level, observed_at=referrals_update, value=48),
        status("county/kent", 2),
    ]
    return {s.scope: s for s in items}


@pytest.mark.parametrize(
    ("level", "window", "expected"),
    [
        (1, "morning", []),
        (2, "morning", [("inhouse_registered_managers", "assessment_bed_availability")]),
        (2, "afternoon", []),  # OPEL 2 has no afternoon window
        (
            3,
            "afternoon",
            [
                ("inhouse_registered_managers", "assessment_bed_availability"),
                ("stp_team_manager", "referrals"),
            ],
        ),
    ],
)
def test_missed_updates(level: int, window: str, expected: list[tuple[str, str]]) -> None:
    current = statuses(level, beds_update=at(7), referrals_update=at(9))
    current["indicator/assessment_bed_availability/dgs"] = status(
        "indicator/assessment_bed_availability/dgs",
        2,
        observed_at=at(10, 45),  # after 10:30: missed the morning
    )
    notices = missed_updates(current, DAY, window, CLOCK)
    assert sorted((n.role, n.rendered.subject.split(": ")[1].split(",")[0]) for n in notices) == sorted(
        (
            role,
            {
                "assessment_bed_availability": "Assessment bed availability",
                "referrals": "Referrals pending assessment outcome",
            }[ind],
        )
        for role, ind in expected
    )
    assert len({n.id for n in notices}) == len(notices)


def test_missed_update_ids_are_per_window() -> None:
    yesterday = at(22, day=DAY - timedelta(days=1))
    current = statuses(3, beds_update=yesterday, referrals_update=yesterday)
    morning = {n.id for n in missed_updates(current, DAY, "morning", CLOCK)}
    afternoon = {n.id for n in missed_updates(current, DAY, "afternoon", CLOCK)}
    assert morning
    assert afternoon
    assert not morning & afternoon
    assert morning == {n.id for n in missed_updates(current, DAY, "morning", CLOCK)}  # a re-run adds nothing


def test_stale_indicators_any_level() -> None:
    current = statuses(1, beds_update=at(12) - timedelta(hours=26), referrals_update=at(11))
    notices = stale_indicators(current, at(12), CLOCK)
    assert [n.role for n in notices] == ["inhouse_registered_managers"]
    assert "has not been updated since" in notices[0].rendered.text


@pytest.mark.parametrize(
    ("now_hour", "count", "title"), [(11, 0, None), (12, 1, "NHS 111 DoS review 1"), (20, 1, "review 3")]
)
def test_dos_review_every_four_hours(now_hour: int, count: int, title: str | None) -> None:
    # area/dgs activated the protocol at 08:00; the county (at OPEL 2) never did.
    records = [dos_record("area/dgs", 3, at(8))]
    notices = dos_reviews(records, at(now_hour), CLOCK)
    assert len(notices) == count
    if title:
        assert title in notices[0].rendered.subject
        assert notices[0].role == "pascc_ops_manager"
        assert "01233 363020" in notices[0].rendered.text


def dos_record(scope: str, level: int, activated_at: datetime) -> DosRecord:
    area = scope.partition("/")[2] if scope.startswith("area/") else None
    return DosRecord(scope=scope, area=area, level=level, activated_at=activated_at, changed_at=activated_at)


def test_daily_summary() -> None:
    notice = daily_summary(statuses(3, at(9), at(9)), at(10), (4, 1, 2))
    assert notice.role == "duty"
    assert notice.rendered.subject == "OPEL daily assessment Wed 12 Nov"
    assert "Kent County Council: OPEL 2 amber." in notice.rendered.text
    assert "- Dartford, Gravesham and Swanley: OPEL 3 red since 08:00 Wed 12 Nov." in notice.rendered.text
    assert "KEaH 2-hour rule (plan 7.6): 4 met, 1 missed, 2 still open." in notice.rendered.text


def test_keah_figures() -> None:
    def record(received: datetime, told: datetime | None) -> KeahRecord:
        return KeahRecord(
            event_id=str(received),
            area="dgs",
            ref=None,
            received_at=received,
            due_at=received + timedelta(hours=2),
            notice_id="n",
            told_at=told,
        )

    records = [
        record(at(8), at(8, 1)),
        record(at(8), at(10, 1)),
        record(at(8), None),
        record(at(11), None),
    ]
    assert keah_figures(records, at(11, 30)) == (1, 2, 1)


# --- the reader's contract: what the worker writes on opel.status.v1 -------------------------

# One value per kind, byte for byte as the worker writes them (``AnyStatus.to_json()``): each
# kind carries only its own scope parts, and the facts the issue found refused before (an
# indicator's band, the county's areas_assessed and late, a site's points and normalised_level,
# a system's aggregate_level and late), a held step-down and an override.
WORKER_STATUSES: dict[str, bytes] = {
    "indicator": b'{"scope":"indicator/referrals/east_kent","level":3,"colour":"red","computed_level":3,'
    b'"computed_colour":"red","state_level":3,"held":null,"override":null,'
    b'"explanation":"Referrals is 48, in the OPEL 3 band 45-59","catalogue":"kcc-asch-2025-26",'
    b'"catalogue_version":"1.8","observed_at":"2025-11-17T09:00:00Z","since":"2025-11-17T09:00:00Z",'
    b'"updated_at":"2025-11-17T09:00:00Z","kind":"indicator","area":"east_kent","indicator":"referrals",'
    b'"value":48,"band":"OPEL 3: 45-59"}',
    "area": b'{"scope":"area/east_kent","level":3,"colour":"red","computed_level":2,'
    b'"computed_colour":"amber","state_level":3,"held":{"level":3,"computed_level":2,"lower_since":"2025-11-17T13:00:00Z",'
    b'"next_level":2,"until":"2025-11-18T13:00:00Z"},"override":null,'
    b'"explanation":"worst of 5 assessed indicators: health_caseload, keah_capacity at OPEL 2",'
    b'"catalogue":"kcc-asch-2025-26","catalogue_version":"1.8","observed_at":"2025-11-17T13:00:00Z",'
    b'"since":"2025-11-17T11:00:00Z","updated_at":"2025-11-17T13:00:00Z","kind":"area","area":"east_kent",'
    b'"driving":["health_caseload","keah_capacity"]}',
    "county": b'{"scope":"county/kent","level":3,"colour":"red","computed_level":2,"computed_colour":"amber",'
    b'"state_level":2,"held":null,"override":{"type":"override","id":"ovr-20251117-1","scope":"county/kent",'
    b'"level":3,"author":"escalation.group","reason":"Winter pressures call","at":"2025-11-17T14:00:00Z",'
    b'"expires_at":"2025-11-18T14:00:00Z","declaration":false},'
    b'"explanation":"in some areas: 3 of 4 assessed areas at OPEL 2 or above","catalogue":"kcc-asch-2025-26",'
    b'"catalogue_version":"1.8","observed_at":"2025-11-17T13:00:00Z","since":"2025-11-17T14:00:00Z",'
    b'"updated_at":"2025-11-17T14:00:00Z","kind":"county","county":"kent","areas_assessed":4,"late":null}',
    "site": b'{"scope":"site/maidstone","level":2,"colour":"amber","computed_level":2,'
    b'"computed_colour":"amber","state_level":2,"held":null,"override":null,"explanation":"score 15 of 44",'
    b'"catalogue":"acute-opel-2023","catalogue_version":"1.0","observed_at":"2025-11-17T08:00:00Z",'
    b'"since":"2025-11-17T08:00:00Z","updated_at":"2025-11-17T08:00:00Z","kind":"site","site":"maidstone",'
    b'"score":15.0,"score_scale":44.0,"score_max":15.0,"complete":true,"missing":[],"normalised_score":34.1,'
    b'"normalised_level":2,"points":{"ed_occupancy":{"value":112,"points":3,"band":"100-119"}}}',
    "system": b'{"scope":"system/kent_medway","level":2,"colour":"amber","computed_level":2,'
    b'"computed_colour":"amber","state_level":2,"held":null,"override":null,'
    b'"explanation":"worst site: maidstone","catalogue":"acute-opel-2023","catalogue_version":"1.0",'
    b'"observed_at":"2025-11-17T08:00:00Z","since":"2025-11-17T08:00:00Z","updated_at":"2025-11-17T08:00:00Z",'
    b'"kind":"system","system":"kent_medway","score":15.0,"score_scale":44.0,"normalised_score":34.1,'
    b'"aggregate_level":2,"driving":["maidstone"],"missing":["darent_valley"],"late":false}',
}
MODELS: dict[str, type[AnyStatus]] = {
    "indicator": IndicatorStatus,
    "area": AreaStatus,
    "county": CountyStatus,
    "site": SiteStatus,
    "system": SystemStatus,
}


@pytest.mark.parametrize("kind", sorted(WORKER_STATUSES))
def test_a_status_as_the_worker_writes_it_is_accepted(kind: str) -> None:
    raw = WORKER_STATUSES[kind]
    read = STATUS.validate_json(raw)
    assert type(read) is MODELS[kind]
    assert read.kind == kind
    assert read.to_json() == raw  # nothing dropped or added on the way through the reader


@pytest.mark.parametrize("kind", sorted(WORKER_STATUSES))
def test_the_same_status_with_one_unknown_field_is_refused(kind: str) -> None:
    value = json.loads(WORKER_STATUSES[kind])
    value["surprise"] = 1
    with pytest.raises(ValidationError) as refused:
        STATUS.validate_json(json.dumps(value))
    assert [(e["type"], e["loc"][-1]) for e in refused.value.errors()] == [("extra_forbidden", "surprise")]


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("area", "indicator", None),  # another kind's scope part, as the old writer put on every status
        ("county", "area", None),
        ("indicator", "driving", []),
        ("system", "band", None),
    ],
)
def test_another_kinds_field_is_refused(kind: str, field: str, value: object) -> None:
    raw = json.loads(WORKER_STATUSES[kind])
    raw[field] = value
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        STATUS.validate_json(json.dumps(raw))


def test_an_unknown_field_inside_the_held_wait_is_refused() -> None:
    raw = json.loads(WORKER_STATUSES["area"])
    raw["held"]["surprise"] = True
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        STATUS.validate_json(json.dumps(raw))


def test_every_kind_the_worker_writes_feeds_the_duties() -> None:
    """The statuses the old reader refused reach the duties: county figures, stale indicators."""
    read = [STATUS.validate_json(raw) for raw in WORKER_STATUSES.values()]
    current = {s.scope: s for s in read}
    instant = datetime(2025, 11, 18, 10, tzinfo=UTC)
    summary = daily_summary(current, instant, (0, 0, 0))
    assert "Kent County Council: OPEL 3 red." in summary.rendered.text
    assert "- East Kent: OPEL 3 red since 11:00 Mon 17 Nov." in summary.rendered.text
    assert "    Referrals pending assessment outcome: OPEL 3 red (value 48)." in summary.rendered.text
    stale = stale_indicators(current, instant, ClockConfig(stale_after=timedelta(hours=20)))
    assert [(n.job, n.area) for n in stale] == [("stale", "east_kent")]
    # The protocol runs from activation (escalation events); here each scope activated at its since.
    records = [
        dos_record(s.scope, s.level, s.since)
        for s in read
        if isinstance(s, AreaStatus | CountyStatus) and s.level and s.level >= 3 and s.since
    ]
    reviews = dos_reviews(records, instant, ClockConfig())
    assert sorted((n.rendered.subject, n.area) for n in reviews) == [
        ("NHS 111 DoS review 5: East Kent", "east_kent"),
        ("NHS 111 DoS review 5: Kent County Council", None),
    ]


# --- which duties a clock job runs ---------------------------------------------------------------


def test_job_notices_daily_and_deadlines() -> None:
    current = statuses(3, beds_update=at(7), referrals_update=at(7))
    daily = job_notices("daily", at(10), current, (1, 0, 0), CLOCK)
    assert [(n.job, n.role) for n in daily] == [("daily", "duty")]
    assert daily == [daily_summary(current, at(10), (1, 0, 0), missing=[])]  # both read today
    assert job_notices("deadline-morning", at(10, 30), current, (0, 0, 0), CLOCK) == missed_updates(
        current, DAY, "morning", CLOCK
    )
    afternoon = job_notices("deadline-afternoon", at(15, 30), current, (0, 0, 0), CLOCK)
    assert afternoon == missed_updates(current, DAY, "afternoon", CLOCK)
    assert afternoon


def test_job_notices_use_the_plans_day_not_utcs() -> None:
    # 23:30 UTC on 12 Nov 2025 is still 12 Nov in London, but 13 Nov in Auckland.
    current = statuses(3, beds_update=at(7), referrals_update=at(7))
    auckland = ClockConfig(timezone="Pacific/Auckland", areas=("dgs",))
    late = at(23, 30)
    assert job_notices("deadline-morning", late, current, (0, 0, 0), auckland) == missed_updates(
        current, date(2025, 11, 13), "morning", auckland
    )


def test_elapsed_notices_are_stale_indicators_and_dos_reviews() -> None:
    current = statuses(3, beds_update=at(12) - timedelta(hours=26), referrals_update=at(11))
    now = at(12)
    dos = [dos_record("area/dgs", 3, at(8))]
    assert elapsed_notices(current, now, CLOCK, dos=dos) == stale_indicators(
        current, now, CLOCK
    ) + dos_reviews(dos, now, CLOCK)
    assert {n.job for n in elapsed_notices(current, now, CLOCK, dos=dos)} == {"stale", "dos"}


# --- KEaH 2-hour rule (plan 7.6) -----------------------------------------------------------------


def referral(**changes: Any) -> ReferralEvent:
    value: dict[str, Any] = {
        "event_id": "ev-1",
        "area": "swale",
        "kind": "received",
        "occurred_at": at(9, 30),
        "service": "keah",
        "ref": "KEAH-20251112-0042",
        "start_date_within_24h": False,
    }
    return ReferralEvent.model_validate(value | changes)


def test_keah_referral_starts_the_two_hour_clock_from_receipt() -> None:
    found = keah_referral(referral(), CLOCK, known=set())
    assert found is not None
    record, notice = found.record, found.notice
    assert (record.event_id, record.area, record.ref) == ("ev-1", "swale", "KEAH-20251112-0042")
    assert record.received_at == at(9, 30)
    assert record.due_at == at(11, 30)
    assert record.told_at is None
    assert (notice.id, notice.job, notice.role, notice.area) == (
        record.notice_id,
        "keah",
        "keah_locality_organisers",
        "swale",
    )
    assert notice.rendered.subject == "KEaH: tell the referrer KEAH-20251112-0042 by 11:30 Wed 12 Nov"
    assert keah_referral(referral(), CLOCK, known=set()) == found  # deterministic ids


@pytest.mark.parametrize(
    "changes",
    [
        {"service": "stp"},
        {"kind": "accepted", "caseload": "health"},
        {"start_date_within_24h": True},
        {"start_date_within_24h": None},
    ],
)
def test_keah_referral_only_for_received_keah_referrals_with_no_start_date(changes: dict[str, Any]) -> None:
    assert keah_referral(referral(**changes), CLOCK, known=set()) is None


def test_keah_referral_replayed_is_counted_once() -> None:
    assert keah_referral(referral(), CLOCK, known={"ev-1"}) is None


def test_keah_referral_uses_the_configured_window_and_role() -> None:
    config = ClockConfig(keah_within=timedelta(hours=3), keah_role="senior_practitioner")
    found = keah_referral(referral(), config, known=set())
    assert found is not None
    assert found.record.due_at == at(12, 30)
    assert found.notice.role == "senior_practitioner"


def keah_delivery(notice_id: str, state: DeliveryState = "sent", kind: NoticeKind = "duty") -> Delivery:
    return Delivery(
        delivery_id="d1",
        notice_id=notice_id,
        kind=kind,
        role="keah_locality_organisers",
        route="clock:keah",
        contact="keah",
        channel="log",
        alert_ids=(notice_id,),
        subject="s",
        text="t",
        short="s",
        created_at=at(9, 30),
        state=state,
        next_at=at(9, 30),
    )


def test_keah_alerted_when_its_duty_delivery_is_sent_but_not_told() -> None:
    found = keah_referral(referral(), CLOCK, known=set())
    other = keah_referral(referral(event_id="ev-2"), CLOCK, known=set())
    assert found is not None
    assert other is not None
    records = [found.record, other.record]
    alerted = keah_alerted(records, keah_delivery(found.record.notice_id), at(9, 40))
    assert alerted == [found.record.model_copy(update={"alerted_at": at(9, 40)})]
    assert alerted[0].told_at is None  # opel's own message is not the referrer being told
    # Already alerted: a second contact's delivery does not move the time.
    assert keah_alerted(alerted, keah_delivery(found.record.notice_id), at(9, 50)) == []
    # ... and the figures still count it open, then missed, until the organiser confirms.
    assert keah_figures(alerted, at(10)) == (0, 0, 1)
    assert keah_figures(alerted, at(12)) == (0, 1, 0)


@pytest.mark.parametrize(("state", "kind"), [("pending", "duty"), ("dead", "duty"), ("sent", "firing")])
def test_keah_not_alerted_by_a_failed_or_other_delivery(state: DeliveryState, kind: NoticeKind) -> None:
    found = keah_referral(referral(), CLOCK, known=set())
    assert found is not None
    assert keah_alerted([found.record], keah_delivery(found.record.notice_id, state, kind), at(9, 40)) == []


def told(event_id: str, when: datetime, author: str = "keah-lo-swale") -> KeahReferrerTold:
    return KeahReferrerTold(type="keah_referrer_told", event_id=event_id, author=author, at=when)


def test_keah_referrer_told_is_the_organisers_confirmation() -> None:
    found = keah_referral(referral(), CLOCK, known=set())
    assert found is not None
    book = {found.record.event_id: found.record}
    record, reason = keah_confirmed(book, told(found.record.event_id, at(11, 0)))
    assert record is not None
    assert (record.told_at, record.told_by) == (at(11, 0), "keah-lo-swale")
    assert "within the 2 hours" in reason
    assert keah_figures([record], at(12)) == (1, 0, 0)
    # The first confirmation counts; a second changes nothing.
    book[record.event_id] = record
    again, why = keah_confirmed(book, told(found.record.event_id, at(11, 5), "someone-else"))
    assert again is None
    assert "already recorded" in why


def test_keah_confirmed_late_is_missed_and_unknown_is_refused() -> None:
    found = keah_referral(referral(), CLOCK, known=set())
    assert found is not None
    late, reason = keah_confirmed({found.record.event_id: found.record}, told(found.record.event_id, at(13)))
    assert late is not None
    assert "after the 2 hours" in reason
    assert keah_figures([late], at(14)) == (0, 1, 0)
    none, why = keah_confirmed({}, told("ev-unknown", at(11)))
    assert none is None
    assert "no KEaH 2-hour clock" in why


# --- from notices to the outbox -------------------------------------------------------------------

ROUTING = build_routing(
    {
        "roles": {
            "duty": {"contacts": [{"id": "duty", "name": "Duty", "channel": "log"}]},
            "stp_team_manager": {
                "contacts": [
                    {"id": "tm-dgs", "name": "TM DGS", "channel": "log", "areas": ["dgs"]},
                    {"id": "tm-swale", "name": "TM Swale", "channel": "log", "areas": ["swale"]},
                ]
            },
            "inhouse_registered_managers": {
                "contacts": [
                    {"id": "inhouse-1", "name": "In-house 1", "channel": "log"},
                    {"id": "inhouse-2", "name": "In-house 2", "channel": "log"},
                ]
            },
        }
    },
    "<test routing>",
    env={},
)


def test_duty_deliveries_one_per_routed_contact_due_at_once() -> None:
    yesterday = at(22, day=DAY - timedelta(days=1))
    current = statuses(3, beds_update=yesterday, referrals_update=yesterday)
    notices = missed_updates(current, DAY, "morning", CLOCK)
    made = duty_deliveries(notices, ROUTING, logged=set(), now=at(10, 31))
    by_contact = sorted((m.delivery.contact, m.delivery.role) for m in made)
    # The beds indicator's owner has two contacts; referrals go to the dgs Team Manager only.
    assert by_contact == [
        ("inhouse-1", "inhouse_registered_managers"),
        ("inhouse-2", "inhouse_registered_managers"),
        ("tm-dgs", "stp_team_manager"),
    ]
    for m in made:
        d = m.delivery
        notice = next(n for n in notices if n.id == d.notice_id)
        assert d.delivery_id == delivery_id(notice.id, d.contact)
        assert (d.kind, d.route, d.state, d.attempts) == ("duty", "clock:deadline", "pending", 0)
        assert d.alert_ids == (notice.id,)
        assert (d.subject, d.text, d.short) == (
            notice.rendered.subject,
            notice.rendered.text,
            notice.rendered.short,
        )
        assert d.created_at == d.next_at == at(10, 31)
        assert m.reason == f"duty deadline to {d.contact}: {notice.reason}"


def test_duty_deliveries_skip_what_the_outbox_holds() -> None:
    yesterday = at(22, day=DAY - timedelta(days=1))
    current = statuses(3, beds_update=yesterday, referrals_update=yesterday)
    notices = missed_updates(current, DAY, "morning", CLOCK)
    first = duty_deliveries(notices, ROUTING, logged=set(), now=at(10, 31))
    logged = {first[0].delivery.delivery_id}
    again = duty_deliveries(notices, ROUTING, logged=logged, now=at(10, 32))
    assert [m.delivery.delivery_id for m in again] == [m.delivery.delivery_id for m in first[1:]]
    # The same notice twice in one batch makes one delivery per contact.
    assert len(duty_deliveries([*notices, *notices], ROUTING, logged=set(), now=at(10, 31))) == len(first)


def test_duty_deliveries_none_when_the_role_has_no_contact_for_the_area() -> None:
    notice = daily_summary({}, at(10), (0, 0, 0))
    assert [m.delivery.contact for m in duty_deliveries([notice], ROUTING, set(), at(10))] == ["duty"]
    stale = stale_indicators(
        {"indicator/referrals/west_kent": status("indicator/referrals/west_kent", 2, observed_at=at(1))},
        at(1) + timedelta(days=2),
        CLOCK,
    )
    assert duty_deliveries(stale, ROUTING, set(), at(12)) == []  # no Team Manager for West Kent
