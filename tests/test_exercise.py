"""Exercise scoring (opel.exercise): scenario validation, the after-action report's on-time /
late / never-done classification at both sides of each deadline, determinism, the shipped
scenarios and `opel exercise report`."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from opel import schemas
from opel.backtest.run import build_context
from opel.cli import main
from opel.contracts.exercise_report import ExerciseReport
from opel.exercise.play import play
from opel.exercise.report import build_report, classify
from opel.exercise.scenario import (
    Response,
    Scenario,
    ScenarioError,
    check_against_plan,
    format_offset,
    load_responses,
    load_scenario,
    parse_offset,
    parse_scenario,
)

EXERCISES = Path(__file__).resolve().parent.parent / "triggers" / "exercises"
WINTER = EXERCISES / "east-kent-winter-surge.yaml"
WINTER_RESPONSES = EXERCISES / "east-kent-winter-surge.responses.yaml"
SUMMER = EXERCISES / "acute-sites-opel4-summer.yaml"


def report_for(scenario: Scenario, responses: tuple[Response, ...] | None = None) -> ExerciseReport:
    ctx = build_context(scenario.catalogue, acute=scenario.acute)
    assert ctx.actions is not None
    check_against_plan(scenario, ctx.actions)
    return build_report(scenario, play(scenario, ctx), ctx.actions, responses)


def minimal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "t",
        "description": "a test",
        "start": "2026-01-05T07:00:00+00:00",
        "duration": "PT8H",
        "injects": [
            {"at": "+00:00", "reading": {"indicator": "stp_staffing_pct", "area": "east_kent", "value": 65}}
        ],
    }
    data.update(changes)
    return data


# --- offsets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("+00:00", 0), ("+01:30", 90), ("+27:05", 27 * 60 + 5), ("PT2H", 120), ("PT45M", 45), ("P1DT1H", 1500)],
)
def test_offsets(text: str, minutes: int) -> None:
    assert parse_offset(text) == timedelta(minutes=minutes)
    assert parse_offset(format_offset(timedelta(minutes=minutes))) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["1:30", "+1:3", "+01:60", "PT", "P", "2h", "-01:00", ""])
def test_bad_offsets_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match=r"\+HH:MM or an ISO duration"):
        parse_offset(text)


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "path", "says"),
    [
        ({"start": "2026-01-05T07:00:00"}, "start", "timezone"),
        ({"duration": "8 hours"}, "duration", "'8 hours'"),
        ({"colour": "red"}, "colour", "Extra inputs"),
        ({"injects": []}, "injects", "at least 1"),
        ({"injects": [{"at": "+00:10"}]}, "injects[0]", "exactly one of reading, submission, override"),
        (
            {
                "injects": [
                    {"at": "+00:10", "reading": {"indicator": "x", "area": "east_kent", "value": "lots"}}
                ]
            },
            "injects[0].reading.value",
            "'lots'",
        ),
        (
            {"injects": [{"at": "+09:00", "reading": {"indicator": "x", "area": "east_kent", "value": 1}}]},
            "",
            "injects[0].at +09:00 is after the exercise ends (+08:00)",
        ),
        (
            {"expected": [{"role": "senior_practitioner", "action": "a", "scope": "area/East Kent"}]},
            "expected[0].scope",
            "'area/East Kent'",
        ),
        (
            {"responses": [{"at": "+01:00", "kind": "done", "role": "x", "scope": "area/east_kent"}]},
            "responses[0]",
            "a done response names the action",
        ),
        (
            {"responses": [{"at": "+01:00", "kind": "waved", "role": "x", "scope": "area/east_kent"}]},
            "responses[0].kind",
            "'waved'",
        ),
    ],
)
def test_a_bad_scenario_names_the_key_and_the_value(changes: dict[str, Any], path: str, says: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(minimal(**changes), "s.yaml")
    assert caught.value.source == "s.yaml"
    assert caught.value.path == path
    assert says in str(caught.value)


@pytest.mark.parametrize(
    ("expected", "path", "says"),
    [
        (
            {
                "role": "senior_practitioner",
                "action": "senior_practitioner.l9.nap",
                "scope": "area/east_kent",
            },
            "expected[0].action",
            "'senior_practitioner.l9.nap' is not in action plan kcc-asch-actions-v1.8",
        ),
        (
            {
                "role": "director_asc",
                "action": "senior_practitioner.l2.shrewd_daily",
                "scope": "area/east_kent",
            },
            "expected[0].role",
            "is senior_practitioner's action, not 'director_asc'",
        ),
    ],
)
def test_an_expected_action_must_be_the_plans_for_that_role(
    expected: dict[str, str], path: str, says: str
) -> None:
    scenario = parse_scenario(minimal(expected=[expected]))
    ctx = build_context(scenario.catalogue)
    with pytest.raises(ScenarioError) as caught:
        check_against_plan(scenario, ctx.actions, "s.yaml")
    assert caught.value.path == path
    assert says in str(caught.value)


def test_an_input_the_core_refuses_is_an_error_naming_the_inject() -> None:
    scenario = parse_scenario(
        minimal(
            injects=[
                {"at": "+00:00", "reading": {"indicator": "stp_staffing_pct", "area": "atlantis", "value": 1}}
            ]
        )
    )
    with pytest.raises(ScenarioError, match=r"injects\[0\]\.area.*atlantis"):
        play(scenario, build_context(scenario.catalogue))


def test_a_missing_responses_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read file"):
        load_responses(tmp_path / "nope.yaml")


# --- classification ---------------------------------------------------------------------------

DUE = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("due", "done", "outcome", "late_by"),
    [
        (DUE, DUE - timedelta(minutes=1), "on_time", None),
        (DUE, DUE, "on_time", None),
        (DUE, DUE + timedelta(seconds=1), "late", 1),
        (DUE, DUE + timedelta(minutes=1), "late", 1),
        (DUE, DUE + timedelta(hours=2, minutes=5), "late", 125),
        (DUE, None, "never_done", None),
        (None, None, "not_triggered", None),
        (None, DUE, "not_triggered", None),
    ],
)
def test_classify(due: datetime | None, done: datetime | None, outcome: str, late_by: int | None) -> None:
    assert classify(due, done) == (outcome, late_by)


def scored(scenario_path: Path, action: str, scope: str, role: str, at: str) -> tuple[str, int | None, str]:
    scenario = load_scenario(scenario_path)
    response = Response(at=parse_offset(at), kind="done", role=role, scope=scope, action=action)
    report = report_for(scenario, (response,))
    result = next(r for r in report.expected if r.action_id == action)
    assert result.due_at is not None
    return result.outcome, result.late_by_minutes, format_offset(result.due_at - scenario.start)


# Each deadline kind, a minute either side and on it. The winter scenario is in GMT (start
# 07:00 UTC = 07:00 London), the summer one in BST (start 07:00 London = 06:00 UTC): the plan's
# 10:30 is London time in both.
@pytest.mark.parametrize(
    ("path", "role", "action", "scope", "due"),
    [
        # SHREWD daily by 10:30 (App. 3); OPEL 2 at 08:00 GMT
        (WINTER, "senior_practitioner", "senior_practitioner.l2.shrewd_daily", "area/east_kent", "+03:30"),
        # SHREWD twice daily: 10:30 the first time; OPEL 3 at 09:00 GMT
        (
            WINTER,
            "senior_practitioner",
            "senior_practitioner.l3.shrewd_twice_daily",
            "area/east_kent",
            "+03:30",
        ),
        # KEaH referrer told within 2 h of OPEL 2 (08:00)
        (
            WINTER,
            "keah_locality_organisers",
            "keah_locality_organisers.l2.tell_referrer_2h",
            "area/east_kent",
            "+03:00",
        ),
        # the scenario's own 1 h for the OPEL 4 multi-agency call (OPEL 4 at 11:00)
        (
            WINTER,
            "senior_practitioner",
            "senior_practitioner.l4.multi_agency_calls",
            "area/east_kent",
            "+05:00",
        ),
        # BST: the system at OPEL 4 at 10:00 BST, calls within 2 h
        (
            SUMMER,
            "senior_practitioner",
            "senior_practitioner.l4.multi_agency_calls",
            "system/kent-medway",
            "+05:00",
        ),
    ],
)
def test_each_deadline_at_both_sides(path: Path, role: str, action: str, scope: str, due: str) -> None:
    at = parse_offset(due)
    assert scored(path, action, scope, role, format_offset(at - timedelta(minutes=1))) == (
        "on_time",
        None,
        due,
    )
    assert scored(path, action, scope, role, due) == ("on_time", None, due)
    assert scored(path, action, scope, role, format_offset(at + timedelta(minutes=1))) == ("late", 1, due)


def test_the_default_deadline_is_the_next_10am_assessment_and_after_the_end_is_never_done() -> None:
    scenario = load_scenario(WINTER)
    args = ("community_team_managers.l4.business_continuity", "area/east_kent", "community_team_managers")
    # OPEL 4 at 11:00 GMT: due 10:00 GMT the next day, after the exercise's 8 hours
    assert scored(WINTER, *args, "+07:59") == ("on_time", None, "+27:00")
    assert scored(WINTER, *args, "+08:00") == ("on_time", None, "+27:00")
    assert scored(WINTER, *args, "+08:01") == ("never_done", None, "+27:00")
    assert scenario.duration == parse_offset("+08:00")


def test_a_response_before_the_level_is_reached_does_not_count() -> None:
    # the multi-agency call is OPEL 4's action, reached at +04:00
    assert (
        scored(
            WINTER,
            "senior_practitioner.l4.multi_agency_calls",
            "area/east_kent",
            "senior_practitioner",
            "+03:59",
        )[0]
        == "never_done"
    )


def test_an_action_whose_level_is_never_reached_is_not_triggered() -> None:
    scenario = parse_scenario(
        minimal(
            expected=[
                {
                    "role": "senior_practitioner",
                    "action": "senior_practitioner.l4.multi_agency_calls",
                    "scope": "area/east_kent",
                }
            ]
        )
    )
    [result] = report_for(scenario).expected
    assert (result.outcome, result.triggered_at, result.due_at) == ("not_triggered", None, None)


def test_an_override_inject_sets_the_level_until_it_expires() -> None:
    scenario = parse_scenario(
        minimal(
            injects=[
                {
                    "at": "+00:00",
                    "reading": {"indicator": "stp_staffing_pct", "area": "west_kent", "value": 80},
                },
                {
                    "at": "+00:30",
                    "override": {
                        "scope": "area/west_kent",
                        "level": 3,
                        "lasts": "PT2H",
                        "reason": "exercise control declares OPEL 3",
                    },
                },
                # the core ends an override when the next input after its expiry arrives
                {
                    "at": "+03:00",
                    "reading": {"indicator": "stp_staffing_pct", "area": "west_kent", "value": 80},
                },
            ]
        )
    )
    report = report_for(scenario)
    changes = [
        (e.offset, e.text) for e in report.timeline if e.kind == "escalation" and e.scope == "area/west_kent"
    ]
    assert changes[0] == ("+00:00", "no level -> OPEL 1 (observation)")
    assert changes[1][0] == "+00:30"
    assert "OPEL 1 -> OPEL 3" in changes[1][1]
    assert changes[2] == ("+02:30", "OPEL 3 -> OPEL 1 (override-ended)")


# --- the shipped scenarios ----------------------------------------------------------------------


def test_the_winter_surge_reaches_opel_4_with_the_expected_late_items() -> None:
    report = report_for(load_scenario(WINTER), load_responses(WINTER_RESPONSES))
    assert report.final_levels == {"area/east_kent": 4, "county/kent": 4}
    assert report.counts == {"on_time": 1, "late": 3, "never_done": 1, "not_triggered": 0}
    outcomes = {r.action_id: (r.outcome, r.late_by_minutes) for r in report.expected}
    assert outcomes == {
        "senior_practitioner.l2.shrewd_daily": ("on_time", None),
        "senior_practitioner.l3.shrewd_twice_daily": ("late", 10),
        "keah_locality_organisers.l2.tell_referrer_2h": ("late", 20),
        "senior_practitioner.l4.multi_agency_calls": ("late", 30),
        "community_team_managers.l4.business_continuity": ("never_done", None),
    }
    opened = {(e.scope, e.text.split()[1].rstrip(",")) for e in report.timeline if e.kind == "action_item"}
    assert ("area/east_kent", "senior_practitioner.l2.shrewd_daily") in opened
    kinds = [e.kind for e in report.timeline]
    assert kinds.count("inject") == 4
    assert kinds.count("response") == 6


def test_the_recorded_summer_case_puts_both_sites_and_the_system_at_opel_4() -> None:
    report = report_for(load_scenario(SUMMER))
    assert report.final_levels == {"site/maidstone": 4, "site/tunbridge_wells": 4, "system/kent-medway": 4}
    assert report.action_plan == "kcc-asch-actions-v1.7"
    assert {r.action_id: r.outcome for r in report.expected} == {
        "senior_practitioner.l4.multi_agency_calls": "on_time",
        "community_team_managers.l3.more_panels": "late",
        "stp_operational_manager.l4.business_continuity": "never_done",
    }


@pytest.mark.parametrize("path", [WINTER, SUMMER])
def test_the_report_is_deterministic_whatever_the_order_of_injects_and_responses(path: Path) -> None:
    scenario = load_scenario(path)
    responses = load_responses(WINTER_RESPONSES) if path == WINTER else scenario.responses
    first = report_for(scenario, responses).model_dump_json()
    rng = random.Random(3)
    for _ in range(3):
        injects, shuffled = list(scenario.injects), list(responses)
        rng.shuffle(injects)
        rng.shuffle(shuffled)
        again = scenario.model_copy(update={"injects": tuple(injects)})
        assert report_for(again, tuple(shuffled)).model_dump_json() == first


def test_the_report_json_validates_against_its_contract() -> None:
    report = report_for(load_scenario(WINTER), load_responses(WINTER_RESPONSES))
    assert ExerciseReport.model_validate_json(report.model_dump_json()) == report
    assert report.exercise is True


# --- the command ----------------------------------------------------------------------------------


def test_opel_exercise_report_writes_json_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["exercise", "report", str(WINTER), "--responses", str(WINTER_RESPONSES), "--out", str(tmp_path)]
    )
    assert code == 0
    assert "EXERCISE east-kent-winter-surge: 1 on time, 3 late, 1 never done" in capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["counts"]["late"] == 3
    page = (tmp_path / "report.html").read_text()
    assert page.count("EXERCISE") >= 2
    assert "late by 30 min" in page


def test_html_escapes_what_the_scenario_says(tmp_path: Path) -> None:
    data = minimal(description="<script>alert(1)</script> & more")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["exercise", "report", str(path), "--out", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page


def test_a_bad_scenario_is_exit_2_with_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(minimal(duration="soon")))
    assert main(["exercise", "report", str(path), "--out", str(tmp_path)]) == 2
    assert f"{path}: duration: " in capsys.readouterr().err
    assert not (tmp_path / "report.json").exists()


def test_report_json_validates_against_the_published_schema() -> None:
    from jsonschema import Draft202012Validator  # noqa: PLC0415 (only this test needs it)

    schema = json.loads((Path(schemas.SCHEMA_DIR) / "reports" / "exercise-report.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    report = report_for(load_scenario(SUMMER))
    Draft202012Validator(schema).validate(json.loads(report.model_dump_json()))
    assert schemas.stale_reports() == []
