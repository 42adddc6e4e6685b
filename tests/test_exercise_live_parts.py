"""The live exercise's pure parts: the scenario clock (winter and summer: deadlines are Europe/London
local), the exercise alerting's items, and what people did turned into the report's responses."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import pytest
from test_action_items import change

from opel.actions_load import default_action_plan
from opel.alerting.action_items import deadline, on_escalation, reminders_due
from opel.alerting.records import AlertRecord
from opel.alerting.routing import PLAN_ROLES
from opel.backtest.run import build_context
from opel.contracts.action_item import ActionItem
from opel.exercise.play import Played, play, until
from opel.exercise.report import build_report
from opel.exercise.responses import live_responses
from opel.exercise.scenario import Response, Scenario, load_scenario
from streams.exercise.clock import ScenarioClock

LONDON: Final = ZoneInfo("Europe/London")
ROOT: Final = Path(__file__).resolve().parent.parent
SURGE: Final = ROOT / "triggers" / "exercises" / "east-kent-winter-surge.yaml"
SHREWD_DAILY: Final = "senior_practitioner.l2.shrewd_daily"
KEAH_TOLD: Final = "keah_locality_organisers.l2.tell_referrer_2h"


class Wall:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


WALL_START: Final = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 1, 5, 7, 0, tzinfo=LONDON),  # GMT: 07:00 UTC
        datetime(2026, 7, 6, 7, 0, tzinfo=LONDON),  # BST: 06:00 UTC
    ],
    ids=["winter", "summer"],
)
def test_scenario_time_runs_speed_times_faster_and_deadlines_are_london_local(start: datetime) -> None:
    wall = Wall(WALL_START)
    clock = ScenarioClock(start, 60, wall=wall)
    assert clock() == start
    wall.now = WALL_START + timedelta(minutes=1)  # one real minute is one scenario hour
    opened = clock()
    assert opened - start == timedelta(hours=1)
    due, _ = deadline(SHREWD_DAILY, opened)
    assert due.astimezone(LONDON).time().isoformat() == "10:30:00"
    # The scenario reaches the deadline at the real time wall_at says, and not before.
    assert clock.wall_at(due) == WALL_START + timedelta(minutes=3, seconds=30)
    wall.now = clock.wall_at(due) - timedelta(seconds=1)
    assert clock.seconds_until(due) == pytest.approx(1.0)
    assert clock() < due
    wall.now = clock.wall_at(due)
    assert clock() == due
    assert clock.seconds_until(due) == 0.0


def test_an_hour_of_scenario_across_the_spring_gap_is_an_hour_of_data_time() -> None:
    # 2026-03-29: London goes from 01:00 GMT to 02:00 BST; the exercise clock counts real hours.
    start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    wall = Wall(WALL_START)
    clock = ScenarioClock(start, 3600, wall=wall)
    wall.now = WALL_START + timedelta(seconds=1)
    now = clock()
    assert now == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert now.astimezone(LONDON).isoformat() == "2026-03-29T02:30:00+01:00"


def test_a_stopped_clock_holds_scenario_time() -> None:
    wall = Wall(WALL_START)
    start = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
    clock = ScenarioClock(start, 600, wall=wall)
    wall.now = WALL_START + timedelta(seconds=6)
    held = clock.stop()
    assert held == start + timedelta(hours=1)
    wall.now = WALL_START + timedelta(minutes=5)
    assert clock() == held
    assert clock.stopped


def test_restart_starts_scenario_time_again_from_its_beginning() -> None:
    wall = Wall(WALL_START)
    start = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
    clock = ScenarioClock(start, 600, wall=wall)
    wall.now = WALL_START + timedelta(seconds=5)
    clock.restart()
    assert clock() == start


@pytest.mark.parametrize(
    ("start", "speed", "problem"),
    [
        (datetime(2026, 1, 5, 7, 0), 60, "scenario_start: 2026-01-05T07:00:00 has no timezone"),
        (datetime(2026, 1, 5, 7, 0, tzinfo=UTC), 0, "speed: must be above 0, got 0"),
    ],
)
def test_a_clock_refuses_naive_starts_and_no_speed(start: datetime, speed: float, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ScenarioClock(start, speed, wall=Wall(WALL_START))


@pytest.mark.parametrize(
    "start",
    [datetime(2026, 1, 5, 8, 0, tzinfo=UTC), datetime(2026, 7, 6, 7, 0, tzinfo=UTC)],
    ids=["winter", "summer"],
)
def test_the_exercise_alerting_reminds_in_scenario_time(start: datetime) -> None:
    """Reminders are due at the plan's local 10:30, whatever the season, on the scenario clock."""
    wall = Wall(WALL_START)
    clock = ScenarioClock(start, 600, wall=wall)
    items = {
        c.item.id: c.item
        for c in on_escalation(
            change("area/dgs", 1, 2, clock(), exercise=True), "e", {}, PLAN_ROLES, exercise=True
        )
    }
    shrewd = next(i for i in items.values() if i.action_id == SHREWD_DAILY)
    assert shrewd.due_at.astimezone(LONDON).strftime("%H:%M") == "10:30"
    wall.now = clock.wall_at(shrewd.due_at) - timedelta(seconds=1)
    assert shrewd.id not in {c.item.id for c in reminders_due(items.values(), clock())}
    wall.now = clock.wall_at(shrewd.due_at)
    assert shrewd.id in {c.item.id for c in reminders_due(items.values(), clock())}


@pytest.mark.parametrize("exercise", [False, True])
def test_live_and_exercise_alerting_open_items_only_for_their_own_changes(exercise: bool) -> None:
    at = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    live = change("area/dgs", None, 3, at)
    drill = change("area/dgs", None, 3, at, exercise=True)
    assert bool(on_escalation(live, "e1", {}, PLAN_ROLES, exercise=exercise)) is not exercise
    assert bool(on_escalation(drill, "e2", {}, PLAN_ROLES, exercise=exercise)) is exercise


# --- what people did, as the report's responses ---------------------------------------------------


def played(scenario: Scenario) -> Played:
    return play(scenario, dataclasses.replace(build_context(scenario.catalogue), exercise=True))


def done(item: ActionItem, at: datetime, state: str = "done") -> ActionItem:
    return item.model_copy(
        update={"state": state, "closed_at": at, "closed_by": "someone", "note": "n", "updated_at": at}
    )


def acked_alert(scope: str, role: str, at: datetime | None) -> AlertRecord:
    data = change(scope, 1, 2, datetime(2026, 1, 5, 8, 0, tzinfo=UTC), exercise=True)
    return AlertRecord(
        key=f"{role}|{scope}",
        route="exercise",
        role=role,
        scope=scope,
        group=scope,
        area=data.area,
        alert_id="a" * 32,
        event_id="e",
        status="firing",
        level=2,
        exercise=True,
        data=data,
        changed_at=data.at,
        acked_by=None if at is None else "someone",
        acked_at=at,
    )


def test_marks_become_done_and_referrer_told_responses_at_their_scenario_offset() -> None:
    scenario = load_scenario(SURGE)
    core = played(scenario)
    assert core.items, "the exercise core opens items for exercise escalations"
    shrewd = next(i for i in core.items if i.action_id == SHREWD_DAILY and i.scope == "area/east_kent")
    keah = next(i for i in core.items if i.action_id == KEAH_TOLD and i.scope == "area/east_kent")
    others = [i for i in core.items if i.id not in {shrewd.id, keah.id}]
    marked = [
        done(shrewd, scenario.start + timedelta(hours=4, minutes=10)),
        done(keah, scenario.start + timedelta(hours=1, minutes=30)),
        done(others[0], scenario.start + timedelta(hours=2), state="not_applicable"),  # not done
        others[1],  # still open
    ]
    responses = live_responses(scenario, marked, [])
    assert responses == (
        Response(
            at=timedelta(hours=1, minutes=30),
            kind="referrer_told",
            role=keah.role,
            scope=keah.scope,
            action=KEAH_TOLD,
            note="n",
        ),
        Response(
            at=timedelta(hours=4, minutes=10),
            kind="done",
            role=shrewd.role,
            scope=shrewd.scope,
            action=SHREWD_DAILY,
            note="n",
        ),
    )
    report = build_report(scenario, core, default_action_plan(), responses)
    outcomes = {(r.action_id, r.scope): (r.outcome, r.late_by_minutes) for r in report.expected}
    assert outcomes[(KEAH_TOLD, "area/east_kent")] == ("on_time", None)
    assert outcomes[(SHREWD_DAILY, "area/east_kent")] == ("late", 40)  # 11:10 against 10:30 (GMT)


def test_acknowledged_alerts_become_acknowledged_responses_and_unacknowledged_none() -> None:
    scenario = load_scenario(SURGE)
    at = scenario.start + timedelta(hours=1, minutes=5)
    alerts = [
        acked_alert("area/east_kent", "duty", at),
        acked_alert("county/kent", "duty", None),
    ]
    assert live_responses(scenario, [], alerts) == (
        Response(at=timedelta(hours=1, minutes=5), kind="acknowledged", role="duty", scope="area/east_kent"),
    )


def test_a_mark_stamped_before_the_start_counts_from_the_start() -> None:
    scenario = load_scenario(SURGE)
    alert = acked_alert("area/east_kent", "duty", scenario.start - timedelta(minutes=3))
    (response,) = live_responses(scenario, [], [alert])
    assert response.at == timedelta(0)


def test_an_exercise_stopped_early_is_scored_on_what_had_happened_by_then() -> None:
    scenario = load_scenario(SURGE)
    core = played(scenario)
    stopped = scenario.start + timedelta(hours=1, minutes=30)  # OPEL 2 reached, OPEL 3 and 4 not
    cut_scenario, cut = until(scenario, core, stopped)
    assert cut_scenario.duration == timedelta(hours=1, minutes=30)
    assert all(e.time <= stopped for e in cut.escalations)
    assert cut.final_levels["area/east_kent"] == 2
    assert len(cut.inputs) == 2
    report = build_report(cut_scenario, cut, default_action_plan(), ())
    assert report.ended_at == stopped
    assert report.counts == {"on_time": 0, "late": 0, "never_done": 2, "not_triggered": 3}
    assert until(scenario, core, scenario.start + scenario.duration) == (scenario, core)
