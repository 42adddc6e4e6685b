"""The alert book with an injected clock: routing, grouping, inhibit, repeat, resolve, ack, policy."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from test_alerting_fixtures import T0, escalation, routing, stp_actions

from opel.alerting import engine
from opel.alerting.records import AlertRecord, GroupRecord
from opel.alerting.routing import RoutingConfig
from opel.contracts.escalation import EscalationEvent

S = timedelta(seconds=1)


def contact(cid: str, areas: list[str] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": cid, "name": cid, "channel": "log"}
    if areas is not None:
        entry["areas"] = areas
    return entry


CONFIG = routing(
    {
        "defaults": {"group_wait": 10, "group_interval": 60, "repeat_interval": 3600, "hold": 300},
        "roles": {
            "stp_team_manager": {"contacts": [contact("tm-dgs", ["dgs"]), contact("tm-swale", ["swale"])]},
            "senior_practitioner": {"contacts": [contact("sp")]},
            "inhouse_registered_managers": {"contacts": [contact("inhouse")]},
            "pascc_ops_manager": {"contacts": [contact("ops")]},
            "duty": {"contacts": [contact("duty")]},
        },
        "escalation_policies": {
            "p": {"min_level": 3, "levels": [{"roles": ["pascc_ops_manager"], "delay": 600}]},
        },
        "routes": [
            {
                "name": "area",
                "match": {"kinds": ["area", "indicator"], "level_at_least": 2},
                "roles": ["stp_team_manager", "senior_practitioner"],
                "escalation_policy": "p",
            },
            {
                "name": "inhouse",
                "match": {"kinds": ["area"], "level_at_least": 3},
                "roles": ["inhouse_registered_managers"],
            },
            {"name": "drill", "match": {"exercise": True}, "roles": ["duty"]},
        ],
    }
)


class Book:
    """The shell's job in miniature: keep the records, apply what the engine returns."""

    def __init__(self, config: RoutingConfig = CONFIG) -> None:
        self.config = config
        self.alerts: dict[str, AlertRecord] = {}
        self.groups: dict[str, GroupRecord] = {}
        self.sent: list[engine.Flush] = []

    def event(self, value: dict[str, Any], now: datetime) -> list[engine.Change]:
        changes = engine.apply_escalation(
            EscalationEvent.model_validate(value), self.config, self.alerts, self.groups, now
        )
        self._apply(changes)
        return changes

    def _apply(self, changes: list[engine.Change]) -> None:
        for change in changes:
            self.alerts[change.record.key] = change.record

    def tick(self, now: datetime) -> list[engine.Flush]:
        self._apply(engine.apply_policy(self.config, self.alerts, self.groups, now))
        flushes = engine.plan_flushes(self.config, self.alerts, now)
        for flush in flushes:
            for record in flush.records:
                self.alerts[record.key] = record
            self.groups[flush.group] = flush.group_record
        self.sent += flushes
        return flushes

    def ack(self, alert_id: str, now: datetime) -> str:
        changes, reason = engine.apply_ack(alert_id, "tm-dgs", now, self.alerts)
        self._apply(changes)
        return reason


def recipients(flushes: list[engine.Flush]) -> list[tuple[str, str]]:
    return sorted((d.contact, d.kind) for f in flushes for d in f.deliveries)


def test_routing_by_role_area_and_level() -> None:
    book = Book()
    book.event(escalation("area/dgs", 1, 2), T0)
    assert recipients(book.tick(T0 + 10 * S)) == [("sp", "firing"), ("tm-dgs", "firing")]
    book.event(escalation("area/dgs", 2, 3, T0 + 100 * S), T0 + 100 * S)
    flushes = book.tick(T0 + 110 * S)
    assert recipients(flushes) == [("inhouse", "firing"), ("sp", "firing"), ("tm-dgs", "firing")]
    book.event(escalation("area/swale", 1, 2), T0)
    assert recipients(book.tick(T0 + 200 * S)) == [("sp", "firing"), ("tm-swale", "firing")]


def test_below_threshold_and_exercise_traffic() -> None:
    book = Book()
    assert book.event(escalation("area/dgs", None, 1), T0) == []
    assert book.event(escalation("county/kent", 1, 3), T0) == []  # no route for county
    changes = book.event(escalation("area/dgs", 1, 3, exercise=True), T0)
    assert {c.record.role for c in changes} == {"duty"}  # exercise only reaches the drill route


def test_group_wait_groups_indicators_of_one_area() -> None:
    book = Book()
    book.event(escalation("indicator/referrals/dgs", 1, 2), T0)
    book.event(escalation("indicator/health_caseload/dgs", 1, 2, T0 + 4 * S), T0 + 4 * S)
    assert book.tick(T0 + 9 * S) == []
    flushes = book.tick(T0 + 10 * S)
    tm = next(f for f in flushes if f.role == "stp_team_manager")
    assert len(tm.records) == 2
    assert len(tm.deliveries) == 1
    assert "2 changes in Dartford, Gravesham and Swanley" in tm.rendered.subject


def test_higher_level_supersedes_pending_lower() -> None:
    book = Book()
    book.event(escalation("area/dgs", 1, 2), T0)
    changes = book.event(escalation("area/dgs", 2, 3, T0 + 2 * S), T0 + 2 * S)
    assert any("supersedes pending OPEL 2" in c.reason for c in changes)
    flushes = book.tick(T0 + 20 * S)
    tm = next(f for f in flushes if f.role == "stp_team_manager")
    assert [r.level for r in tm.records] == [3]
    assert "OPEL 3 RED" in tm.rendered.subject


def test_replay_changes_nothing_and_ids_are_deterministic() -> None:
    book = Book()
    value = escalation("area/dgs", 1, 3)
    first = book.event(value, T0)
    assert book.event(value, T0 + 5 * S) == []
    other = Book()
    again = other.event(value, T0 + 99 * S)
    assert sorted(c.record.alert_id for c in first) == sorted(c.record.alert_id for c in again)


def test_repeat_interval_exact_and_ack_stops_it() -> None:
    book = Book()
    book.event(escalation("area/swale", 1, 2), T0)
    book.tick(T0 + 10 * S)
    assert book.tick(T0 + 10 * S + 3599 * S) == []
    repeats = book.tick(T0 + 10 * S + 3600 * S)
    assert recipients(repeats) == [("sp", "repeat"), ("tm-swale", "repeat")]
    assert book.tick(T0 + 10 * S + 3601 * S) == []
    tm = next(r for r in book.alerts.values() if r.role == "stp_team_manager")
    assert "acknowledged by tm-dgs" in book.ack(tm.alert_id, T0 + 3700 * S)
    assert book.tick(T0 + 10 * S + 7200 * S) == []
    assert "no firing alert" in book.ack("nonsense", T0)


def test_ack_by_the_short_id_an_sms_shows() -> None:
    book = Book()
    book.event(escalation("area/swale", 1, 2), T0)
    book.tick(T0 + 10 * S)
    tm = next(r for r in book.alerts.values() if r.role == "stp_team_manager")
    assert "no firing alert" in book.ack(tm.alert_id[:7], T0)  # too short to be safe
    assert "acknowledged" in book.ack(tm.alert_id[:8].upper(), T0)
    assert all(r.acked_by for r in book.alerts.values() if r.route == "area")


def test_unacknowledged_opel_3_goes_to_the_policy_and_ack_stops_it() -> None:
    book = Book()
    book.event(escalation("area/dgs", 2, 3, actions=stp_actions()), T0)
    book.tick(T0 + 10 * S)
    assert book.tick(T0 + 609 * S) == []
    flushes = book.tick(T0 + 610 * S)
    assert ("ops", "escalated") in recipients(flushes)
    ops = next(f for f in flushes if f.role == "pascc_ops_manager")
    assert ops.rendered.subject.startswith("UNACKNOWLEDGED")

    acked = Book()
    acked.event(escalation("area/dgs", 2, 3), T0)
    acked.tick(T0 + 10 * S)
    anchor = next(r for r in acked.alerts.values() if r.role == "stp_team_manager" and r.route == "area")
    acked.ack(anchor.alert_id, T0 + 100 * S)
    assert acked.tick(T0 + 2000 * S) == []


def test_opel_2_does_not_escalate_through_the_policy() -> None:
    book = Book()
    book.event(escalation("area/dgs", 1, 2), T0)
    book.tick(T0 + 10 * S)
    assert all(f.role != "pascc_ops_manager" for f in book.tick(T0 + 3000 * S))


def test_resolved_notice_after_hold_to_everyone_told() -> None:
    book = Book()
    book.event(escalation("area/dgs", 2, 3), T0)
    book.tick(T0 + 10 * S)
    book.tick(T0 + 610 * S)  # the policy brings in the operations manager
    book.event(escalation("area/dgs", 3, 1, T0 + 700 * S, cause="dwell"), T0 + 700 * S)
    assert book.tick(T0 + 999 * S) == []  # held for flap damping
    flushes = book.tick(T0 + 1000 * S)
    assert recipients(flushes) == [
        ("inhouse", "resolved"),
        ("ops", "resolved"),
        ("sp", "resolved"),
        ("tm-dgs", "resolved"),
    ]
    assert all(r.status == "closed" for r in book.alerts.values())


def test_flap_within_hold_sends_nothing_new() -> None:
    book = Book()
    book.event(escalation("area/dgs", 1, 2), T0)
    book.tick(T0 + 10 * S)
    book.event(escalation("area/dgs", 2, 1, T0 + 20 * S), T0 + 20 * S)
    changes = book.event(escalation("area/dgs", 1, 2, T0 + 40 * S), T0 + 40 * S)
    assert all("within hold" in c.reason for c in changes)
    assert book.tick(T0 + 400 * S) == []
    assert all(r.status == "firing" for r in book.alerts.values())


def test_resolved_before_anyone_was_told_sends_nothing() -> None:
    book = Book()
    book.event(escalation("area/dgs", 1, 2), T0)
    changes = book.event(escalation("area/dgs", 2, 1, T0 + 3 * S), T0 + 3 * S)
    assert all("before anyone was told" in c.reason for c in changes)
    assert book.tick(T0 + 600 * S) == []


def test_route_removed_by_reload_still_sends_the_resolved_notice() -> None:
    book = Book()
    book.event(escalation("area/dgs", 2, 3), T0)
    book.tick(T0 + 10 * S)
    book.config = routing(
        {
            "defaults": {"hold": 60},
            "roles": {
                "stp_team_manager": {"contacts": [contact("tm-dgs", ["dgs"])]},
                "senior_practitioner": {"contacts": [contact("sp")]},
                "inhouse_registered_managers": {"contacts": [contact("inhouse")]},
            },
        }
    )
    book.event(escalation("area/dgs", 3, 2, T0 + 100 * S), T0 + 100 * S)  # below in-house OPEL 3 only
    flushes = book.tick(T0 + 160 * S)
    assert recipients(flushes) == [("inhouse", "resolved")]
    book.event(escalation("area/dgs", 2, 1, T0 + 200 * S), T0 + 200 * S)
    assert recipients(book.tick(T0 + 260 * S)) == [("sp", "resolved"), ("tm-dgs", "resolved")]


def test_fresh_deliveries_leave_out_what_the_log_already_holds() -> None:
    book = Book()
    book.event(escalation("area/dgs", 1, 2), T0)
    (flush, *others) = [f for f in book.tick(T0 + 10 * S) if f.role == "stp_team_manager"]
    assert others == []
    assert engine.fresh_deliveries(flush, {}) == list(flush.deliveries)
    logged = {d.delivery_id for d in flush.deliveries}
    assert engine.fresh_deliveries(flush, logged) == []  # a replayed flush sends nothing twice
