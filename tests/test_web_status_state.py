"""The status view's in-memory state, its contract checks and change notifications, without a broker."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from support.demo import audit_entry, demo_statuses, override, status_record

from opel.contracts.audit import AuditRecord, Decision
from streams import metrics
from streams.status_view import StatusState, StatusView, SubscriptionClosedError, status_json

NOW = dt.datetime(2025, 11, 12, 9, 30, tzinfo=dt.UTC)


def audit(scope: str | None, at: dt.datetime, decision: Decision = "transition") -> AuditRecord:
    return audit_entry(scope, decision, at)


def test_tombstone_removes_and_repeats_are_not_changes() -> None:
    state = StatusState()
    value = status_record("area/dgs", 2, at=NOW)
    assert state.apply_status("area/dgs", value) is True
    assert state.apply_status("area/dgs", value.model_copy()) is False
    assert state.status("area/dgs") == value
    assert state.apply_status("area/dgs", None) is True
    assert state.status("area/dgs") is None
    assert state.apply_status("area/dgs", None) is False


def test_history_keeps_the_last_n_and_the_window() -> None:
    state = StatusState(history_limit=3, history_window=dt.timedelta(days=7))
    for hours in (200, 5, 4, 3, 2):
        state.apply_audit(audit("area/dgs", NOW - dt.timedelta(hours=hours)), NOW)
    kept = state.history("area/dgs", NOW)
    assert [e.at for e in kept] == [NOW - dt.timedelta(hours=h) for h in (4, 3, 2)]
    assert [e.at for e in state.history("area/dgs", NOW, since=NOW - dt.timedelta(hours=3))] == [
        NOW - dt.timedelta(hours=h) for h in (3, 2)
    ]
    # Eight days later the whole history has aged out.
    assert state.history("area/dgs", NOW + dt.timedelta(days=8)) == []


def test_history_ignores_records_without_a_scope() -> None:
    state = StatusState()
    assert state.apply_audit(audit(None, NOW, "catalogue_loaded"), NOW) is None
    assert state.apply_audit(audit("", NOW), NOW) is None
    assert not state.knows("")


def test_active_overrides_skip_expired_ones() -> None:
    state = StatusState()
    live = override("area/dgs", 4, NOW, expires_at=NOW + dt.timedelta(hours=1), author="group")
    state.apply_status("area/dgs", status_record("area/dgs", 4, at=NOW, computed_level=2, override=live))
    state.apply_status("area/swale", status_record("area/swale", 1, at=NOW))
    [found] = state.active_overrides(NOW)
    assert (found.scope, found.id, found.level, found.declaration) == ("area/dgs", "ovr-1", 4, True)
    assert found.as_json()["computed_level"] == 2
    assert found.as_json()["expires_at"] == "2025-11-12T10:30:00Z"
    assert state.find_override("ovr-1", NOW) == found
    assert state.active_overrides(NOW + dt.timedelta(hours=2)) == []
    assert state.find_override("ovr-1", NOW + dt.timedelta(hours=2)) is None


async def test_subscribers_see_changes_and_the_metrics_hook_sees_every_value() -> None:
    seen: list[dict[str, Any]] = []
    view = StatusView("127.0.0.1:9", status_hook=seen.append, clock=lambda: NOW)
    value = status_record("area/dgs", 3, at=NOW)
    with view.subscribe() as subscription:
        view.apply_status_record("area/dgs", value)
        view.apply_status_record("area/dgs", value)  # unchanged: no second notification
        view.apply_status_record("area/dgs", None)
        first = await subscription.get(timeout=1)
        second = await subscription.get(timeout=1)
        assert await subscription.get(timeout=0.01) is None
    assert first is not None
    assert second is not None
    assert (first["scope"], first["status"]) == ("area/dgs", status_json(value))
    assert (second["scope"], second["status"]) == ("area/dgs", None)
    assert second["sequence"] > first["sequence"]
    assert seen == [status_json(value), status_json(value)]


async def test_a_subscriber_that_falls_behind_is_cut_off() -> None:
    view = StatusView("127.0.0.1:9", use_metrics=False)
    subscription = view.subscribe(maxsize=2)
    for level in (1, 2, 3):
        view.apply_status_record("area/dgs", status_record("area/dgs", level, at=NOW))
    with pytest.raises(SubscriptionClosedError):
        await subscription.get(timeout=1)
    with pytest.raises(SubscriptionClosedError):
        await subscription.get(timeout=1)


async def test_changes_iterator_ends_when_the_view_stops() -> None:
    view = StatusView("127.0.0.1:9", use_metrics=False)
    received: list[dict[str, Any]] = []

    async def collect() -> None:
        async for change in view.changes():
            received.append(change)

    task = asyncio.create_task(collect())
    await asyncio.sleep(0)
    view.apply_status_record("area/dgs", status_record("area/dgs", 2, at=NOW))
    await asyncio.sleep(0)
    await view.stop()
    await asyncio.wait_for(task, 5)
    assert [c["scope"] for c in received] == ["area/dgs"]


def test_tombstone_without_a_key_is_refused_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    view = StatusView("127.0.0.1:9", use_metrics=False)
    view.apply_status_json(None, None)
    assert view.records_refused == {view.status_topic: 1}
    assert view.records_rejected == 1
    assert view.statuses() == []
    assert [r.levelname for r in caplog.records] == ["ERROR"]


def test_the_contracts_json_round_trips_through_the_view() -> None:
    """Every demo value, written as the worker writes it, is held and shown exactly as sent."""
    view = StatusView("127.0.0.1:9", use_metrics=False)
    statuses = demo_statuses(NOW)
    for status in statuses:
        view.apply_status_json(status.scope, status.to_json())
    assert view.records_rejected == 0
    assert view.statuses() == sorted(statuses, key=lambda status: status.scope)
    for status in statuses:
        assert json.loads(status.to_json()) == status_json(status)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"band": "60-69"}, "band"),  # an unknown field (an area has no band)
        ({"level": 5}, "level"),
        ({"kind": "ward"}, "kind"),
        ({"updated_at": "yesterday"}, "updated_at"),
        ({"observed_at": "2025-11-12T09:30:00"}, "observed_at"),  # no offset
    ],
)
def test_a_status_the_contract_refuses_is_logged_counted_and_not_shown(
    caplog: pytest.LogCaptureFixture, change: dict[str, Any], field: str
) -> None:
    view = StatusView("127.0.0.1:9", use_metrics=False)
    good = status_record("area/dgs", 2, at=NOW)
    view.apply_status_json("area/dgs", good.to_json())
    bad = {**json.loads(good.to_json()), "level": 3, **change}
    view.apply_status_json("area/dgs", json.dumps(bad).encode())
    assert view.records_refused == {view.status_topic: 1}
    assert view.status("area/dgs") == good  # the last good value stays
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "area/dgs" in error.getMessage()
    assert field in error.getMessage()


def test_a_status_under_another_scopes_key_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    view = StatusView("127.0.0.1:9", use_metrics=False)
    view.apply_status_json("area/swale", status_record("area/dgs", 2, at=NOW).to_json())
    assert view.records_rejected == 1
    assert view.statuses() == []
    assert "not the status's scope" in caplog.records[-1].getMessage()


def test_audit_records_are_validated_with_the_contract(caplog: pytest.LogCaptureFixture) -> None:
    view = StatusView("127.0.0.1:9", use_metrics=False, clock=lambda: NOW)
    record = audit_entry("area/dgs", "transition", NOW, outcome={"to_level": 3})
    view.apply_audit_json(record.to_json())
    assert view.history("area/dgs") == [record]
    wrong = {**json.loads(record.to_json()), "decision": "guessed", "extra": 1}
    view.apply_audit_json(json.dumps(wrong).encode())
    view.apply_audit_json(b"not json")
    assert view.records_refused == {view.audit_topic: 2}
    assert view.history("area/dgs") == [record]
    assert sum(r.levelname == "ERROR" for r in caplog.records) == 2


def test_a_record_read_again_after_a_failed_catch_up_is_applied_once() -> None:
    view = StatusView("127.0.0.1:9", use_metrics=False, clock=lambda: NOW)
    value = audit_entry("area/dgs", "transition", NOW, outcome={"to_level": 3}).to_json()

    def record(offset: int) -> ConsumerRecord[bytes, bytes]:
        return ConsumerRecord(view.audit_topic, 0, offset, 0, 0, None, value, None, 0, len(value), ())

    for offset in (0, 1, 0, 1, 2):  # the catch-up failed after offset 1 and read from the start again
        view._apply(record(offset))
    assert len(view.history("area/dgs")) == 3
    assert view.records_seen == 3


def test_refusals_reach_the_service_metrics() -> None:
    def refused(input: str) -> float:
        return metrics.REGISTRY.get_sample_value("opel_status_view_refused_total", {"input": input}) or 0.0

    before = refused("status"), refused("audit")
    view = StatusView("127.0.0.1:9", clock=lambda: NOW)  # use_metrics: the default
    view.apply_status_json("area/dgs", b'{"kind": "ward"}')
    view.apply_audit_json(b"not json")
    view.apply_audit_json(None)
    assert (refused("status"), refused("audit")) == (before[0] + 1, before[1] + 2)


# ---------------------------------------------------------------- timelines (the board's 24-hour strips)
def hours_ago(hours: float) -> dt.datetime:
    return NOW - dt.timedelta(hours=hours)


def test_timeline_keeps_each_change_of_the_level_in_force_dated_when_it_began() -> None:
    state = StatusState()
    state.apply_status("area/dgs", status_record("area/dgs", 1, at=hours_ago(10), since=hours_ago(30)), NOW)
    # A new value at the same level (a new reading) is no change.
    state.apply_status("area/dgs", status_record("area/dgs", 1, at=hours_ago(9), since=hours_ago(30)), NOW)
    state.apply_status("area/dgs", status_record("area/dgs", 2, at=hours_ago(8), since=hours_ago(8)), NOW)
    state.apply_status("area/dgs", status_record("area/dgs", 3, at=hours_ago(2), since=hours_ago(2)), NOW)
    assert [(c.at, c.level) for c in state.timeline("area/dgs", NOW)] == [
        (hours_ago(30), 1),  # in force when the window opened, dated when it began
        (hours_ago(8), 2),
        (hours_ago(2), 3),
    ]
    assert state.timelines(NOW) == {"area/dgs": state.timeline("area/dgs", NOW)}


def test_timeline_dates_an_ended_override_when_it_ended_not_at_the_states_older_since() -> None:
    state = StatusState()
    ovr = override("county/kent", 4, hours_ago(6), expires_at=hours_ago(1))
    state.apply_status(
        "county/kent", status_record("county/kent", 2, at=hours_ago(12), since=hours_ago(12)), NOW
    )
    state.apply_status(
        "county/kent",
        status_record("county/kent", 4, at=hours_ago(6), since=hours_ago(6), computed_level=2, override=ovr),
        NOW,
    )
    # The override expires: the state's level is back, and its since is the state's (12 h ago).
    state.apply_status(
        "county/kent", status_record("county/kent", 2, at=hours_ago(1), since=hours_ago(12)), NOW
    )
    assert [(c.at, c.level) for c in state.timeline("county/kent", NOW)] == [
        (hours_ago(12), 2),
        (hours_ago(6), 4),
        (hours_ago(1), 2),
    ]


def test_timeline_is_bounded_by_its_window_and_its_limit() -> None:
    state = StatusState(timeline_limit=3)
    for hours, level in ((40, 1), (30, 2), (20, 3), (10, 2), (5, 1)):
        state.apply_status(
            "area/swale", status_record("area/swale", level, at=hours_ago(hours), since=hours_ago(hours)), NOW
        )
    assert [(c.at, c.level) for c in state.timeline("area/swale", NOW)] == [
        (hours_ago(20), 3),
        (hours_ago(10), 2),
        (hours_ago(5), 1),
    ]
    # A day later only the level in force when the window opens is left.
    later = NOW + dt.timedelta(hours=30)
    assert [(c.at, c.level) for c in state.timeline("area/swale", later)] == [(hours_ago(5), 1)]
    state = StatusState()
    for hours, level in ((40, 1), (30, 2), (20, 3)):
        state.apply_status(
            "area/swale", status_record("area/swale", level, at=hours_ago(hours), since=hours_ago(hours)), NOW
        )
    # The level in force when the window opened (since 30 h ago), then the change 20 h ago.
    assert [(c.at, c.level) for c in state.timeline("area/swale", NOW)] == [
        (hours_ago(30), 2),
        (hours_ago(20), 3),
    ]


def test_timeline_only_for_areas_county_and_systems_and_dropped_with_a_tombstone() -> None:
    state = StatusState()
    for status in demo_statuses(NOW):
        state.apply_status(status.scope, status, NOW)
    kinds = {scope.split("/")[0] for scope in state.timelines(NOW)}
    assert kinds == {"area", "county", "system"}
    state.apply_status("area/dgs", None, NOW)
    assert state.timeline("area/dgs", NOW) == []
    # Not assessed is a level of the strip too.
    state.apply_status("area/dgs", status_record("area/dgs", None, at=hours_ago(1), since=hours_ago(1)), NOW)
    assert [(c.at, c.level) for c in state.timeline("area/dgs", NOW)] == [(hours_ago(1), None)]
