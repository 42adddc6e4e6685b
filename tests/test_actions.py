"""The action plan data (triggers/actions/kcc-asch-actions-v1.8.yaml), opel.actions and opel.actions_load.

EXPECTED_IN_FORCE below is the specification: it was written out by hand from the plan v1.8
section 8 "Role / Response" table and Appendix 3, applying the continuation decisions recorded
under `notes` in the YAML.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from opel.actions import DEFAULT_ACTION_PLAN, Action, ActionPlan
from opel.actions_load import build_action_plan, default_action_plan, load_action_plan
from opel.errors import CatalogueError
from opel.levels import Level
from opel.sources import locate
from opel.yaml_files import parse_yaml_mapping

L1, L2, L3, L4 = Level.OPEL_1, Level.OPEL_2, Level.OPEL_3, Level.OPEL_4
ALL_KEYS: tuple[Level | None, ...] = (None, L1, L2, L3, L4)

ROLES: dict[str, tuple[str, str]] = {
    "inhouse_registered_managers": ("Registered Managers / Team Leaders In-house Provision", "7.6, 8"),
    "keah_locality_organisers": ("Kent Enablement at Home Locality Organisers", "7.6, 8"),
    "senior_practitioner": (
        "Short Term Pathways Senior Practitioner / Social Care Discharge Co-ordinator",
        "7.4, 8",
    ),
    "stp_team_manager": ("Short Term Pathway Team Manager", "7.3, 8"),
    "pascc_ops_manager": ("Prevention and Adult Social Care Connect Operations Manager", "7.2, 8"),
    "community_team_managers": ("Team Managers – Community / Locality Teams", "7.7, 8"),
    "assistant_director": ("Assistant Director", "7.2, 8"),
    "director_asc": ("Director of Adult Social Care", "7.1, 8"),
    "kcc_summary": ("Kent County Council (summary for partners)", "8, App. 3"),
}

# Snapshot of every action id, in YAML order. Ids are stable: changing one is a breaking change
# for anything that stored it (acknowledgements, audit logs), so update this list deliberately.
ALL_ACTION_IDS: list[str] = [
    "inhouse_registered_managers.l3.agency_staff",
    "inhouse_registered_managers.l3.admission_rate",
    "inhouse_registered_managers.l3.vacant_beds_twice_daily",
    "inhouse_registered_managers.l3.extra_board_rounds",
    "keah_locality_organisers.l2.tell_referrer_2h",
    "keah_locality_organisers.l2.community_follow_up",
    "senior_practitioner.l2.families_throughput",
    "senior_practitioner.l2.bridge_keah_gap",
    "senior_practitioner.l2.refer_to_purchasing",
    "senior_practitioner.l2.los_meetings",
    "senior_practitioner.l3.alert_inhouse",
    "senior_practitioner.l3.off_contract_placements",
    "senior_practitioner.l3.shrewd_twice_daily",
    "senior_practitioner.l4.multi_agency_calls",
    "stp_team_manager.l2.multi_agency_calls",
    "stp_team_manager.l2.los_meetings",
    "stp_team_manager.l2.redeploy_in_area",
    "stp_team_manager.l3.prioritise_discharge",
    "stp_team_manager.l3.off_contract_placements",
    "pascc_ops_manager.l2.oversee_redeployment",
    "pascc_ops_manager.l2.multi_agency_calls",
    "pascc_ops_manager.l2.los_meetings",
    "pascc_ops_manager.l2.authorise_purchasing",
    "pascc_ops_manager.l3.off_framework_approval",
    "pascc_ops_manager.l4.business_continuity",
    "community_team_managers.l2.reallocate_work",
    "community_team_managers.l2.triage_contacts",
    "community_team_managers.l3.more_panels",
    "community_team_managers.l3.defer_keah_end_reviews",
    "community_team_managers.l3.defer_scheduled_reviews",
    "community_team_managers.l4.business_continuity",
    "assistant_director.l2.redeploy_community_to_stp",
    "assistant_director.l3.redeploy_across_areas",
    "assistant_director.l3.multi_agency_calls",
    "director_asc.l3.community_hospital_beds",
    "director_asc.l3.joint_funding",
    "kcc_summary.l2.step_down_assessment_beds",
    "kcc_summary.l2.families_throughput",
    "kcc_summary.l2.shrewd_daily",
    "kcc_summary.l2.families_safe_discharge",
    "kcc_summary.l2.bridge_keah_gap",
    "kcc_summary.l2.los_meetings",
    "kcc_summary.l2.redeploy_to_stp",
    "kcc_summary.l2.keah_tell_referrer_2h",
    "kcc_summary.l2.refer_to_purchasing",
    "kcc_summary.l2.escalate_late_chc_dst",
    "kcc_summary.l3.agency_staff",
    "kcc_summary.l3.admission_rate",
    "kcc_summary.l3.vacant_beds_twice_daily",
    "kcc_summary.l3.extra_board_rounds",
    "kcc_summary.l3.bridge_with_other_providers",
    "kcc_summary.l3.off_contract_placements",
    "kcc_summary.l3.alert_inhouse",
    "kcc_summary.l3.shrewd_twice_daily",
    "kcc_summary.l3.prioritise_discharge",
    "kcc_summary.l3.more_panels",
    "kcc_summary.l3.defer_keah_end_reviews",
    "kcc_summary.l3.defer_scheduled_reviews",
    "kcc_summary.l3.redeploy_across_areas",
    "kcc_summary.l3.community_hospital_beds",
    "kcc_summary.l4.non_contracted_providers",
    "kcc_summary.l4.business_continuity",
]

# The spec: for each role and level, exactly the actions in force, in level-then-plan order.
EXPECTED_IN_FORCE: dict[str, dict[Level, list[str]]] = {
    "inhouse_registered_managers": {
        L2: [],  # business as usual
        L3: [
            "inhouse_registered_managers.l3.agency_staff",
            "inhouse_registered_managers.l3.admission_rate",
            "inhouse_registered_managers.l3.vacant_beds_twice_daily",
            "inhouse_registered_managers.l3.extra_board_rounds",
        ],
        L4: [  # continue level three
            "inhouse_registered_managers.l3.agency_staff",
            "inhouse_registered_managers.l3.admission_rate",
            "inhouse_registered_managers.l3.vacant_beds_twice_daily",
            "inhouse_registered_managers.l3.extra_board_rounds",
        ],
    },
    "keah_locality_organisers": {
        L2: [
            "keah_locality_organisers.l2.tell_referrer_2h",
            "keah_locality_organisers.l2.community_follow_up",
        ],
        L3: [  # continue level two
            "keah_locality_organisers.l2.tell_referrer_2h",
            "keah_locality_organisers.l2.community_follow_up",
        ],
        L4: [  # continue level three, which continues level two
            "keah_locality_organisers.l2.tell_referrer_2h",
            "keah_locality_organisers.l2.community_follow_up",
        ],
    },
    "senior_practitioner": {
        L2: [
            "senior_practitioner.l2.families_throughput",
            "senior_practitioner.l2.bridge_keah_gap",
            "senior_practitioner.l2.refer_to_purchasing",
            "senior_practitioner.l2.los_meetings",
        ],
        L3: [
            "senior_practitioner.l2.families_throughput",
            "senior_practitioner.l2.bridge_keah_gap",
            "senior_practitioner.l2.refer_to_purchasing",
            "senior_practitioner.l2.los_meetings",
            "senior_practitioner.l3.alert_inhouse",
            "senior_practitioner.l3.off_contract_placements",
            "senior_practitioner.l3.shrewd_twice_daily",
        ],
        L4: [
            "senior_practitioner.l2.families_throughput",
            "senior_practitioner.l2.bridge_keah_gap",
            "senior_practitioner.l2.refer_to_purchasing",
            "senior_practitioner.l2.los_meetings",
            "senior_practitioner.l3.alert_inhouse",
            "senior_practitioner.l3.off_contract_placements",
            "senior_practitioner.l3.shrewd_twice_daily",
            "senior_practitioner.l4.multi_agency_calls",
        ],
    },
    "stp_team_manager": {
        L2: [
            "stp_team_manager.l2.multi_agency_calls",
            "stp_team_manager.l2.los_meetings",
            "stp_team_manager.l2.redeploy_in_area",
        ],
        L3: [  # the cell is silent on continuation; kept per note stp_team_manager_level_3
            "stp_team_manager.l2.multi_agency_calls",
            "stp_team_manager.l2.los_meetings",
            "stp_team_manager.l2.redeploy_in_area",
            "stp_team_manager.l3.prioritise_discharge",
            "stp_team_manager.l3.off_contract_placements",
        ],
        L4: [  # restated multi-agency calls is the level 2 action, not a new one
            "stp_team_manager.l2.multi_agency_calls",
            "stp_team_manager.l2.los_meetings",
            "stp_team_manager.l2.redeploy_in_area",
            "stp_team_manager.l3.prioritise_discharge",
            "stp_team_manager.l3.off_contract_placements",
        ],
    },
    "pascc_ops_manager": {
        L2: [
            "pascc_ops_manager.l2.oversee_redeployment",
            "pascc_ops_manager.l2.multi_agency_calls",
            "pascc_ops_manager.l2.los_meetings",
            "pascc_ops_manager.l2.authorise_purchasing",
        ],
        L3: [
            "pascc_ops_manager.l2.oversee_redeployment",
            "pascc_ops_manager.l2.multi_agency_calls",
            "pascc_ops_manager.l2.los_meetings",
            "pascc_ops_manager.l2.authorise_purchasing",
            "pascc_ops_manager.l3.off_framework_approval",
        ],
        L4: [
            "pascc_ops_manager.l2.oversee_redeployment",
            "pascc_ops_manager.l2.multi_agency_calls",
            "pascc_ops_manager.l2.los_meetings",
            "pascc_ops_manager.l2.authorise_purchasing",
            "pascc_ops_manager.l3.off_framework_approval",
            "pascc_ops_manager.l4.business_continuity",
        ],
    },
    "community_team_managers": {
        L2: [
            "community_team_managers.l2.reallocate_work",
            "community_team_managers.l2.triage_contacts",
        ],
        L3: [  # the cell is silent on continuation; kept per note community_team_managers_level_3
            "community_team_managers.l2.reallocate_work",
            "community_team_managers.l2.triage_contacts",
            "community_team_managers.l3.more_panels",
            "community_team_managers.l3.defer_keah_end_reviews",
            "community_team_managers.l3.defer_scheduled_reviews",
        ],
        L4: [
            "community_team_managers.l2.reallocate_work",
            "community_team_managers.l2.triage_contacts",
            "community_team_managers.l3.more_panels",
            "community_team_managers.l3.defer_keah_end_reviews",
            "community_team_managers.l3.defer_scheduled_reviews",
            "community_team_managers.l4.business_continuity",
        ],
    },
    "assistant_director": {
        L2: ["assistant_director.l2.redeploy_community_to_stp"],
        L3: [  # the cell is silent on continuation; kept per note assistant_director_level_3
            "assistant_director.l2.redeploy_community_to_stp",
            "assistant_director.l3.redeploy_across_areas",
            "assistant_director.l3.multi_agency_calls",
        ],
        L4: [  # restated multi-agency calls is the level 3 action, not a new one
            "assistant_director.l2.redeploy_community_to_stp",
            "assistant_director.l3.redeploy_across_areas",
            "assistant_director.l3.multi_agency_calls",
        ],
    },
    "director_asc": {
        L2: [],  # business as usual
        L3: ["director_asc.l3.community_hospital_beds", "director_asc.l3.joint_funding"],
        L4: ["director_asc.l3.community_hospital_beds", "director_asc.l3.joint_funding"],  # blank cell
    },
    "kcc_summary": {
        L2: [
            "kcc_summary.l2.step_down_assessment_beds",
            "kcc_summary.l2.families_throughput",
            "kcc_summary.l2.shrewd_daily",
            "kcc_summary.l2.families_safe_discharge",
            "kcc_summary.l2.bridge_keah_gap",
            "kcc_summary.l2.los_meetings",
            "kcc_summary.l2.redeploy_to_stp",
            "kcc_summary.l2.keah_tell_referrer_2h",
            "kcc_summary.l2.refer_to_purchasing",
            "kcc_summary.l2.escalate_late_chc_dst",
        ],
        L3: [
            "kcc_summary.l2.step_down_assessment_beds",
            "kcc_summary.l2.families_throughput",
            "kcc_summary.l2.shrewd_daily",
            "kcc_summary.l2.families_safe_discharge",
            "kcc_summary.l2.bridge_keah_gap",
            "kcc_summary.l2.los_meetings",
            "kcc_summary.l2.redeploy_to_stp",
            "kcc_summary.l2.keah_tell_referrer_2h",
            "kcc_summary.l2.refer_to_purchasing",
            "kcc_summary.l2.escalate_late_chc_dst",
            "kcc_summary.l3.agency_staff",
            "kcc_summary.l3.admission_rate",
            "kcc_summary.l3.vacant_beds_twice_daily",
            "kcc_summary.l3.extra_board_rounds",
            "kcc_summary.l3.bridge_with_other_providers",
            "kcc_summary.l3.off_contract_placements",
            "kcc_summary.l3.alert_inhouse",
            "kcc_summary.l3.shrewd_twice_daily",
            "kcc_summary.l3.prioritise_discharge",
            "kcc_summary.l3.more_panels",
            "kcc_summary.l3.defer_keah_end_reviews",
            "kcc_summary.l3.defer_scheduled_reviews",
            "kcc_summary.l3.redeploy_across_areas",
            "kcc_summary.l3.community_hospital_beds",
        ],
        L4: [
            "kcc_summary.l2.step_down_assessment_beds",
            "kcc_summary.l2.families_throughput",
            "kcc_summary.l2.shrewd_daily",
            "kcc_summary.l2.families_safe_discharge",
            "kcc_summary.l2.bridge_keah_gap",
            "kcc_summary.l2.los_meetings",
            "kcc_summary.l2.redeploy_to_stp",
            "kcc_summary.l2.keah_tell_referrer_2h",
            "kcc_summary.l2.refer_to_purchasing",
            "kcc_summary.l2.escalate_late_chc_dst",
            "kcc_summary.l3.agency_staff",
            "kcc_summary.l3.admission_rate",
            "kcc_summary.l3.vacant_beds_twice_daily",
            "kcc_summary.l3.extra_board_rounds",
            "kcc_summary.l3.bridge_with_other_providers",
            "kcc_summary.l3.off_contract_placements",
            "kcc_summary.l3.alert_inhouse",
            "kcc_summary.l3.shrewd_twice_daily",
            "kcc_summary.l3.prioritise_discharge",
            "kcc_summary.l3.more_panels",
            "kcc_summary.l3.defer_keah_end_reviews",
            "kcc_summary.l3.defer_scheduled_reviews",
            "kcc_summary.l3.redeploy_across_areas",
            "kcc_summary.l3.community_hospital_beds",
            "kcc_summary.l4.non_contracted_providers",
            "kcc_summary.l4.business_continuity",
        ],
    },
}

EXPECTED_CONTINUES: dict[str, dict[Level, tuple[Level, ...]]] = {
    "inhouse_registered_managers": {L3: (), L4: (L3,)},
    "keah_locality_organisers": {L3: (L2,), L4: (L3,)},
    "senior_practitioner": {L3: (L2,), L4: (L2, L3)},
    "stp_team_manager": {L3: (L2,), L4: (L2, L3)},
    "pascc_ops_manager": {L3: (L2,), L4: (L2, L3)},
    "community_team_managers": {L3: (L2,), L4: (L2, L3)},
    "assistant_director": {L3: (L2,), L4: (L2, L3)},
    "director_asc": {L3: (), L4: (L3,)},
    "kcc_summary": {L3: (L2,), L4: (L2, L3)},
}


def ids(actions: tuple[Action, ...]) -> list[str]:
    return [action.id for action in actions]


@pytest.fixture(scope="module")
def plan() -> ActionPlan:
    return load_action_plan(DEFAULT_ACTION_PLAN)


def shipped_data() -> dict[str, Any]:
    source = locate(DEFAULT_ACTION_PLAN, subdir="actions")
    return parse_yaml_mapping(source.text, source.display)


# --- the shipped plan ---------------------------------------------------------------------------


def test_shipped_plan_loads(plan: ActionPlan) -> None:
    assert plan.id == "kcc-asch-actions-v1.8"
    assert plan.version == "1.8"
    assert plan.plan is not None
    assert plan.plan.version == "1.8"
    assert plan.plan.date == dt.date(2025, 10, 2)
    assert plan.plan.approved_by == "ASCH Directorate Resilience Group"
    assert plan.plan.sections == ("7", "8", "Appendix 3")


def test_default_action_plan_is_cached_and_matches_load_by_name(plan: ActionPlan) -> None:
    assert default_action_plan() is default_action_plan()
    assert ids(default_action_plan().actions) == ids(plan.actions)


def test_roles_are_exactly_the_eight_plus_summary_in_plan_order(plan: ActionPlan) -> None:
    assert list(plan.roles) == list(ROLES)


@pytest.mark.parametrize(("role_id", "name", "plan_ref"), [(k, *v) for k, v in ROLES.items()])
def test_role(plan: ActionPlan, role_id: str, name: str, plan_ref: str) -> None:
    role = plan.roles[role_id]
    assert (role.id, role.name, role.plan_ref) == (role_id, name, plan_ref)


def test_action_ids_snapshot(plan: ActionPlan) -> None:
    assert ids(plan.actions) == ALL_ACTION_IDS


def test_action_ids_unique_and_named_after_role_and_level(plan: ActionPlan) -> None:
    assert len(set(ALL_ACTION_IDS)) == len(ALL_ACTION_IDS)
    for action in plan.actions:
        assert action.id.startswith(f"{action.role}.l{int(action.level)}.")
        assert action.level in (L2, L3, L4)
        assert action.text.strip()
        assert action.plan_ref.strip()


def test_texts_are_short_enough_for_a_phone(plan: ActionPlan) -> None:
    for action in plan.actions:
        assert len(action.text) <= 170, action.id


@pytest.mark.parametrize(
    ("role_id", "level"),
    [(role_id, level) for role_id, by_level in EXPECTED_IN_FORCE.items() for level in by_level],
)
def test_in_force_matches_the_plan(plan: ActionPlan, role_id: str, level: Level) -> None:
    assert ids(plan.in_force(role_id, level)) == EXPECTED_IN_FORCE[role_id][level]


def test_expected_table_covers_every_role_and_action_level() -> None:
    assert set(EXPECTED_IN_FORCE) == set(ROLES)
    assert all(set(by_level) == {L2, L3, L4} for by_level in EXPECTED_IN_FORCE.values())
    # every shipped action is in force somewhere
    in_force_somewhere = {
        i for by_level in EXPECTED_IN_FORCE.values() for lst in by_level.values() for i in lst
    }
    assert in_force_somewhere == set(ALL_ACTION_IDS)


@pytest.mark.parametrize("role_id", list(ROLES))
@pytest.mark.parametrize("level", [None, L1])
def test_business_as_usual_has_nothing_in_force(plan: ActionPlan, role_id: str, level: Level | None) -> None:
    assert plan.in_force(role_id, level) == ()


@pytest.mark.parametrize("role_id", list(ROLES))
def test_no_action_text_repeats_within_a_role(plan: ActionPlan, role_id: str) -> None:
    # Restated cells (e.g. "represent KCC at multi-agency calls" at L3 and L4) are not duplicated.
    texts = [action.text for action in plan.in_force(role_id, L4)]
    assert len(texts) == len(set(texts))


def test_unknown_role_is_a_value_error_naming_it_and_the_known_roles(plan: ActionPlan) -> None:
    with pytest.raises(ValueError, match="unknown role 'cook'") as info:
        plan.in_force("cook", L3)
    assert "stp_team_manager" in str(info.value)


def test_continues_encoded_per_cell(plan: ActionPlan) -> None:
    assert {role: dict(by_level) for role, by_level in plan.continues.items()} == EXPECTED_CONTINUES


@pytest.mark.parametrize("role_id", list(ROLES))
@pytest.mark.parametrize("level", [L3, L4])
def test_continuation_is_transitive(plan: ActionPlan, role_id: str, level: Level) -> None:
    here = set(ids(plan.in_force(role_id, level)))
    for lower in plan.continues[role_id][level]:
        assert set(ids(plan.in_force(role_id, lower))) <= here


def test_keah_at_four_has_level_two_through_level_three(plan: ActionPlan) -> None:
    assert plan.continues["keah_locality_organisers"][L4] == (L3,)
    assert "keah_locality_organisers.l2.tell_referrer_2h" in ids(
        plan.in_force("keah_locality_organisers", L4)
    )


def test_in_force_is_ordered_by_level(plan: ActionPlan) -> None:
    for role_id in plan.roles:
        for level in (L2, L3, L4):
            levels = [action.level for action in plan.in_force(role_id, level)]
            assert levels == sorted(levels)


def test_notes_record_the_interpretive_decisions(plan: ActionPlan) -> None:
    by_id = {note.id: note for note in plan.notes}
    assert by_id["director_asc_level_4"].applies_to == "continues.director_asc.4"
    assert by_id["kcc_summary_continuation"].applies_to == "continues.kcc_summary"
    assert {
        "stp_team_manager_level_3",
        "community_team_managers_level_3",
        "assistant_director_level_3",
        "senior_practitioner_placements",
    } <= set(by_id)
    assert all(note.confirm_with_plan_owner for note in plan.notes)


# --- changes between levels -----------------------------------------------------------------------


def assert_change_invariants(plan: ActionPlan, before: Level | None, after: Level | None) -> None:
    changes = plan.changes(before, after)
    assert [change.role.id for change in changes] == list(plan.roles)
    for change in changes:
        start, stop, keep = set(ids(change.start)), set(ids(change.stand_down)), set(ids(change.keep))
        assert not start & stop
        assert not start & keep
        assert not stop & keep
        assert start | keep == set(ids(plan.in_force(change.role.id, after)))
        assert stop | keep == set(ids(plan.in_force(change.role.id, before)))
        assert change.changed == bool(start or stop)


@pytest.mark.parametrize("before", ALL_KEYS)
@pytest.mark.parametrize("after", ALL_KEYS)
def test_changes_invariants_for_every_pair(
    plan: ActionPlan, before: Level | None, after: Level | None
) -> None:
    assert_change_invariants(plan, before, after)


def by_role(plan: ActionPlan, before: Level | None, after: Level | None) -> dict[str, tuple[list[str], ...]]:
    return {c.role.id: (ids(c.start), ids(c.stand_down), ids(c.keep)) for c in plan.changes(before, after)}


def test_escalating_two_to_three_keeps_level_two_and_starts_level_three(plan: ActionPlan) -> None:
    start, stop, keep = by_role(plan, L2, L3)["senior_practitioner"]
    assert keep == EXPECTED_IN_FORCE["senior_practitioner"][L2]
    assert start == [
        "senior_practitioner.l3.alert_inhouse",
        "senior_practitioner.l3.off_contract_placements",
        "senior_practitioner.l3.shrewd_twice_daily",
    ]
    assert stop == []


def test_de_escalating_four_to_two_stands_down_levels_three_and_four(plan: ActionPlan) -> None:
    start, stop, keep = by_role(plan, L4, L2)["pascc_ops_manager"]
    assert start == []
    assert stop == ["pascc_ops_manager.l3.off_framework_approval", "pascc_ops_manager.l4.business_continuity"]
    assert keep == EXPECTED_IN_FORCE["pascc_ops_manager"][L2]
    start, stop, keep = by_role(plan, L4, L2)["inhouse_registered_managers"]
    assert (start, keep) == ([], [])
    assert stop == EXPECTED_IN_FORCE["inhouse_registered_managers"][L3]


def test_director_keeps_level_three_actions_at_four(plan: ActionPlan) -> None:
    start, stop, keep = by_role(plan, L3, L4)["director_asc"]
    assert (start, stop) == ([], [])
    assert keep == EXPECTED_IN_FORCE["director_asc"][L3]


@pytest.mark.parametrize("level", [L2, L3, L4])
def test_from_business_as_usual_everything_starts(plan: ActionPlan, level: Level) -> None:
    for before in (None, L1):
        for change in plan.changes(before, level):
            assert change.stand_down == change.keep == ()
            assert ids(change.start) == EXPECTED_IN_FORCE[change.role.id][level]


@given(
    before=st.sampled_from(ALL_KEYS),
    after=st.sampled_from(ALL_KEYS),
)
def test_property_shipped_plan_change_invariants(before: Level | None, after: Level | None) -> None:
    assert_change_invariants(default_action_plan(), before, after)


@st.composite
def generated_plans(draw: st.DrawFn) -> dict[str, Any]:
    role_ids = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4, unique=True))
    actions: list[dict[str, Any]] = []
    continues: dict[str, dict[int, list[int]]] = {}
    for role_id in role_ids:
        for index, level in enumerate(draw(st.lists(st.sampled_from([2, 3, 4]), max_size=6))):
            actions.append(
                {
                    "id": f"{role_id}.l{level}.a{index}",
                    "role": role_id,
                    "level": level,
                    "text": "x",
                    "plan_ref": "8",
                }
            )
        continues[role_id] = {
            3: draw(st.sampled_from([[], [2]])),
            4: draw(st.sampled_from([[], [2], [3], [2, 3]])),
        }
    return {
        "id": "generated",
        "version": "0",
        "plan": {
            "title": "t",
            "version": "0",
            "date": dt.date(2025, 1, 1),
            "approved_by": "nobody",
            "sections": ["8"],
        },
        "roles": {role_id: {"name": role_id.upper(), "plan_ref": "8"} for role_id in role_ids},
        "actions": draw(st.permutations(actions)),
        "continues": continues,
    }


def reachable(continues: dict[int, list[int]], level: int) -> set[int]:
    found = {level}
    for lower in continues.get(level, []):
        found |= reachable(continues, lower)
    return found


@given(data=generated_plans(), before=st.sampled_from(ALL_KEYS), after=st.sampled_from(ALL_KEYS))
def test_property_generated_plans(data: dict[str, Any], before: Level | None, after: Level | None) -> None:
    plan = build_action_plan(data, "generated")
    assert_change_invariants(plan, before, after)
    for role_id, by_level in data["continues"].items():
        for level in (L2, L3, L4):
            levels = reachable(by_level, level)
            expected = [a["id"] for a in data["actions"] if a["role"] == role_id and a["level"] in levels]
            got = plan.in_force(role_id, level)
            assert sorted(ids(got)) == sorted(expected)
            assert [a.level for a in got] == sorted(a.level for a in got)
            # within a level, YAML order is kept
            for lvl in levels:
                same_level = [a["id"] for a in data["actions"] if a["role"] == role_id and a["level"] == lvl]
                assert [a.id for a in got if a.level == lvl] == same_level


# --- validation -----------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(*path: str | int, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _delete(*path: str | int) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _duplicate_id(data: dict[str, Any]) -> None:
    data["actions"][7]["id"] = data["actions"][6]["id"]


def _duplicate_note(data: dict[str, Any]) -> None:
    data["notes"][1]["id"] = data["notes"][0]["id"]


INVALID: list[tuple[str, Mutation, str, str]] = [
    # (case, mutation, expected path, expected fragment of the problem)
    ("missing top key", _delete("continues"), "continues", "is required"),
    ("missing action key", _delete("actions", 7, "text"), "actions[7].text", "is required"),
    ("missing role key", _delete("roles", "director_asc", "name"), "roles.director_asc.name", "is required"),
    ("missing plan key", _delete("plan", "date"), "plan.date", "is required"),
    ("unknown top key", _set("colour", value="red"), "colour", "is not a known key"),
    ("unknown plan key", _set("plan", "author", value="x"), "plan.author", "is not a known key"),
    (
        "unknown role key",
        _set("roles", "director_asc", "email", value="x"),
        "roles.director_asc.email",
        "is not a known key",
    ),
    ("unknown action key", _set("actions", 0, "owner", value="x"), "actions[0].owner", "is not a known key"),
    ("unknown note key", _set("notes", 0, "by", value="x"), "notes[0].by", "is not a known key"),
    ("duplicate action id", _duplicate_id, "actions[7].id", "duplicate action id"),
    ("duplicate note id", _duplicate_note, "notes[1].id", "duplicate note id"),
    (
        "action for unknown role",
        _set("actions", 3, "role", value="cook"),
        "actions[3].role",
        "unknown role 'cook'",
    ),
    ("level 1", _set("actions", 7, "level", value=1), "actions[7].level", "level must be 2, 3 or 4"),
    ("level 5", _set("actions", 7, "level", value=5), "actions[7].level", "level must be 2, 3 or 4"),
    ("level not a number", _set("actions", 7, "level", value="two"), "actions[7].level", "whole number"),
    (
        "id not named after role and level",
        _set("actions", 0, "id", value="inhouse_registered_managers.l2.agency_staff"),
        "actions[0].id",
        "id must be inhouse_registered_managers.l3.",
    ),
    ("empty text", _set("actions", 2, "text", value="   "), "actions[2].text", "must not be empty"),
    (
        "empty role name",
        _set("roles", "assistant_director", "name", value=""),
        "roles.assistant_director.name",
        "empty",
    ),
    ("unquoted version", _set("version", value=1.8), "version", "must be text"),
    (
        "continues a level not below it",
        _set("continues", "keah_locality_organisers", 4, value=[4]),
        "continues.keah_locality_organisers.4",
        "can only continue action levels below it",
    ),
    (
        "continues a higher level",
        _set("continues", "senior_practitioner", 3, value=[2, 4]),
        "continues.senior_practitioner.3",
        "got 4",
    ),
    (
        "continues level 1",
        _set("continues", "keah_locality_organisers", 3, value=[1]),
        "continues.keah_locality_organisers.3",
        "got 1",
    ),
    (
        "continues key for level 2",
        _set("continues", "keah_locality_organisers", 2, value=[]),
        "continues.keah_locality_organisers.2",
        "unknown level",
    ),
    (
        "continues key for level 5",
        _set("continues", "keah_locality_organisers", 5, value=[4]),
        "continues.keah_locality_organisers.5",
        "unknown level",
    ),
    (
        "continues unknown role",
        _set("continues", "cook", value={3: [], 4: []}),
        "continues.cook",
        "unknown role",
    ),
    ("continues missing role", _delete("continues", "director_asc"), "continues.director_asc", "is required"),
    (
        "continues missing level",
        _delete("continues", "director_asc", 4),
        "continues.director_asc.4",
        "is required (use [] for none)",
    ),
    (
        "continues not a list",
        _set("continues", "director_asc", 4, value=3),
        "continues.director_asc.4",
        "must be a list",
    ),
    (
        "role not a mapping",
        _set("roles", "director_asc", value=None),
        "roles.director_asc",
        "must be a mapping",
    ),
]


@pytest.mark.parametrize(("mutate", "path", "problem"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_plan_is_a_catalogue_error(tmp_path: Path, mutate: Mutation, path: str, problem: str) -> None:
    data = copy.deepcopy(shipped_data())
    mutate(data)
    file = tmp_path / "bad-actions.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogueError) as info:
        load_action_plan(str(file))
    error = info.value
    assert error.source == str(file)
    assert error.path == path
    assert problem in error.problem
    message = str(error)
    assert "bad-actions.yaml" in message
    assert path in message
    assert problem in message


def test_unmodified_copy_loads_by_path(tmp_path: Path) -> None:
    file = tmp_path / "copy.yaml"
    file.write_text(yaml.safe_dump(shipped_data(), sort_keys=False, allow_unicode=True), encoding="utf-8")
    assert ids(load_action_plan(str(file)).actions) == ALL_ACTION_IDS


def test_unknown_shipped_name_lists_known_plans() -> None:
    with pytest.raises(CatalogueError, match=re.escape("kcc-asch-actions-v1.8")):
        load_action_plan("no-such-plan")
