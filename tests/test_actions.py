"""The action plan data (triggers/actions/kcc-asch-actions-v1.8.yaml and -v1.7.yaml), opel.actions
and opel.actions_load.

EXPECTED_IN_FORCE below is the specification: it was written out by hand from the plan v1.8
section 8 "Role / Response" table and Appendix 3, applying the continuation decisions recorded
under `notes` in the YAML. Appendix 3 names no roles: each of its rows is carried by the role
that does it (a row repeating a section 8 item is that item; a row found only in Appendix 3
goes to the role the plan implies, noted in the YAML and docs/semantics.md). Whether each
action's wording matches its plan cell is tests/test_action_traceability.py.
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
}

# Snapshot of every action id, in YAML order. Ids are stable: changing one is a breaking change
# for anything that stored it (acknowledgements, audit logs), so update this list deliberately.
# Issue 13 changed it on purpose: the kcc_summary pseudo-role is gone (its Appendix 3 rows are
# the roles' own actions below), and the Senior Practitioner's merged OPEL 3 placement action
# (off_contract_placements) is the plan's two items again.
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
    "senior_practitioner.l2.shrewd_daily",  # Appendix 3 row 4
    "senior_practitioner.l2.families_safe_discharge",  # Appendix 3 row 5
    "senior_practitioner.l3.alert_inhouse",
    "senior_practitioner.l3.placements_outside_kent_medway",
    "senior_practitioner.l3.placements_other_areas_if_authorised",
    "senior_practitioner.l3.shrewd_twice_daily",
    "senior_practitioner.l4.multi_agency_calls",
    "stp_team_manager.l2.multi_agency_calls",
    "stp_team_manager.l2.los_meetings",
    "stp_team_manager.l2.redeploy_in_area",
    "stp_team_manager.l2.step_down_assessment_beds",  # Appendix 3 row 2
    "stp_team_manager.l3.prioritise_discharge",
    "stp_team_manager.l3.off_contract_placements",
    "stp_team_manager.l3.bridge_with_other_providers",  # Appendix 3 row 16
    "pascc_ops_manager.l2.oversee_redeployment",
    "pascc_ops_manager.l2.multi_agency_calls",
    "pascc_ops_manager.l2.los_meetings",
    "pascc_ops_manager.l2.authorise_purchasing",
    "pascc_ops_manager.l3.off_framework_approval",
    "pascc_ops_manager.l4.business_continuity",
    "pascc_ops_manager.l4.non_contracted_providers",  # Appendix 3 row 26
    "community_team_managers.l2.reallocate_work",
    "community_team_managers.l2.triage_contacts",
    "community_team_managers.l2.escalate_late_chc_dst",  # Appendix 3 row 11 (duty in 7.7)
    "community_team_managers.l3.more_panels",
    "community_team_managers.l3.defer_keah_end_reviews",
    "community_team_managers.l3.defer_scheduled_reviews",
    "community_team_managers.l4.business_continuity",
    "assistant_director.l2.redeploy_community_to_stp",
    "assistant_director.l3.redeploy_across_areas",
    "assistant_director.l3.multi_agency_calls",
    "director_asc.l3.community_hospital_beds",
    "director_asc.l3.joint_funding",
]

SP_L2 = [
    "senior_practitioner.l2.families_throughput",
    "senior_practitioner.l2.bridge_keah_gap",
    "senior_practitioner.l2.refer_to_purchasing",
    "senior_practitioner.l2.los_meetings",
    "senior_practitioner.l2.shrewd_daily",
    "senior_practitioner.l2.families_safe_discharge",
]
SP_L3 = [
    "senior_practitioner.l3.alert_inhouse",
    "senior_practitioner.l3.placements_outside_kent_medway",
    "senior_practitioner.l3.placements_other_areas_if_authorised",
    "senior_practitioner.l3.shrewd_twice_daily",
]
STP_L2 = [
    "stp_team_manager.l2.multi_agency_calls",
    "stp_team_manager.l2.los_meetings",
    "stp_team_manager.l2.redeploy_in_area",
    "stp_team_manager.l2.step_down_assessment_beds",
]
STP_L3 = [
    "stp_team_manager.l3.prioritise_discharge",
    "stp_team_manager.l3.off_contract_placements",
    "stp_team_manager.l3.bridge_with_other_providers",
]
PASCC_L2 = [
    "pascc_ops_manager.l2.oversee_redeployment",
    "pascc_ops_manager.l2.multi_agency_calls",
    "pascc_ops_manager.l2.los_meetings",
    "pascc_ops_manager.l2.authorise_purchasing",
]
CTM_L2 = [
    "community_team_managers.l2.reallocate_work",
    "community_team_managers.l2.triage_contacts",
    "community_team_managers.l2.escalate_late_chc_dst",
]
CTM_L3 = [
    "community_team_managers.l3.more_panels",
    "community_team_managers.l3.defer_keah_end_reviews",
    "community_team_managers.l3.defer_scheduled_reviews",
]
INHOUSE_L3 = [
    "inhouse_registered_managers.l3.agency_staff",
    "inhouse_registered_managers.l3.admission_rate",
    "inhouse_registered_managers.l3.vacant_beds_twice_daily",
    "inhouse_registered_managers.l3.extra_board_rounds",
]
KEAH_L2 = [
    "keah_locality_organisers.l2.tell_referrer_2h",
    "keah_locality_organisers.l2.community_follow_up",
]
AD_L3 = ["assistant_director.l3.redeploy_across_areas", "assistant_director.l3.multi_agency_calls"]
DIRECTOR_L3 = ["director_asc.l3.community_hospital_beds", "director_asc.l3.joint_funding"]

# The spec: for each role and level, exactly the actions in force, in level-then-plan order.
EXPECTED_IN_FORCE: dict[str, dict[Level, list[str]]] = {
    "inhouse_registered_managers": {
        L2: [],  # business as usual
        L3: INHOUSE_L3,
        L4: INHOUSE_L3,  # continue level three
    },
    "keah_locality_organisers": {
        L2: KEAH_L2,
        L3: KEAH_L2,  # continue level two
        L4: KEAH_L2,  # continue level three, which continues level two
    },
    "senior_practitioner": {
        L2: SP_L2,
        L3: SP_L2 + SP_L3,
        L4: [*SP_L2, *SP_L3, "senior_practitioner.l4.multi_agency_calls"],
    },
    "stp_team_manager": {
        L2: STP_L2,
        # the cell is silent on continuation; kept per note stp_team_manager_level_3
        L3: STP_L2 + STP_L3,
        L4: STP_L2 + STP_L3,  # restated multi-agency calls is the level 2 action, not a new one
    },
    "pascc_ops_manager": {
        L2: PASCC_L2,
        L3: [*PASCC_L2, "pascc_ops_manager.l3.off_framework_approval"],
        L4: [
            *PASCC_L2,
            "pascc_ops_manager.l3.off_framework_approval",
            "pascc_ops_manager.l4.business_continuity",
            "pascc_ops_manager.l4.non_contracted_providers",
        ],
    },
    "community_team_managers": {
        L2: CTM_L2,
        # the cell is silent on continuation; kept per note community_team_managers_level_3
        L3: CTM_L2 + CTM_L3,
        L4: [*CTM_L2, *CTM_L3, "community_team_managers.l4.business_continuity"],
    },
    "assistant_director": {
        L2: ["assistant_director.l2.redeploy_community_to_stp"],
        L3: ["assistant_director.l2.redeploy_community_to_stp", *AD_L3],  # silent cell, note
        L4: ["assistant_director.l2.redeploy_community_to_stp", *AD_L3],  # restated calls: the L3 action
    },
    "director_asc": {
        L2: [],  # business as usual
        L3: DIRECTOR_L3,
        L4: DIRECTOR_L3,  # blank cell
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


def test_roles_are_exactly_the_eight_section_8_rows_in_plan_order(plan: ActionPlan) -> None:
    assert list(plan.roles) == list(ROLES)


def test_no_pseudo_role_carries_appendix_3(plan: ActionPlan) -> None:
    # Appendix 3 is a summary of what the roles do, not a role: its rows are carried by roles.
    assert "kcc_summary" not in plan.roles
    assert all(action.role in ROLES for action in plan.actions)


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
    assert {
        "stp_team_manager_level_3",
        "community_team_managers_level_3",
        "assistant_director_level_3",
        "senior_practitioner_placements",
    } <= set(by_id)
    assert all(note.confirm_with_plan_owner for note in plan.notes)


APPENDIX_ONLY = {
    # action carried from an Appendix 3 row section 8 does not list -> its note
    "stp_team_manager.l2.step_down_assessment_beds": "appendix3_step_down_assessment_beds",
    "senior_practitioner.l2.shrewd_daily": "appendix3_shrewd_daily",
    "senior_practitioner.l2.families_safe_discharge": "appendix3_safe_discharge",
    "community_team_managers.l2.escalate_late_chc_dst": "appendix3_late_chc_dst",
    "stp_team_manager.l3.bridge_with_other_providers": "appendix3_bridge_with_other_providers",
    "pascc_ops_manager.l4.non_contracted_providers": "appendix3_non_contracted_providers",
}


def test_each_appendix_only_action_has_a_note_for_the_plan_owner(plan: ActionPlan) -> None:
    by_id = {note.id: note for note in plan.notes}
    for action in plan.actions:
        only_appendix = all(cell.section != "8" for cell in action.source)
        assert only_appendix == (action.id in APPENDIX_ONLY), action.id
    for action_id, note_id in APPENDIX_ONLY.items():
        assert by_id[note_id].applies_to == f"actions.{action_id}"
        assert by_id[note_id].confirm_with_plan_owner


def test_the_issue_13_appendix_actions_reach_named_roles(plan: ActionPlan) -> None:
    # The four actions issue 13 found under the pseudo-role, each now with a role that routes can name.
    texts = {action.id: action.text for action in plan.actions}
    assert "10:30" in texts["senior_practitioner.l2.shrewd_daily"]
    assert "assessment beds" in texts["stp_team_manager.l2.step_down_assessment_beds"]
    assert "Continuing Health Care" in texts["community_team_managers.l2.escalate_late_chc_dst"]
    assert "no contract" in texts["pascc_ops_manager.l4.non_contracted_providers"]


# --- faithful wording (issue 13, point 6) ---------------------------------------------------------


def _text(plan: ActionPlan, action_id: str) -> str:
    return next(action.text for action in plan.actions if action.id == action_id)


@pytest.mark.parametrize("name", ["kcc-asch-actions-v1.8", "kcc-asch-actions-v1.7"])
def test_in_house_agency_staff_is_considered_with_the_infection_caveat(name: str) -> None:
    # Section 8: "Consider the use of agency staff ... if necessary"; 7.6: "whilst limiting all
    # staff movement between settings unless absolutely necessary to help reduce the spread of
    # infection". It is a thing to consider, not to do, and the caveat travels with it.
    text = _text(load_action_plan(name), "inhouse_registered_managers.l3.agency_staff")
    assert text.startswith("Consider agency staff")
    assert "if necessary" in text
    assert "between settings only if absolutely necessary" in text
    assert "infection" in text
    assert "Bring in" not in text


def test_senior_practitioner_keeps_the_two_placement_items_apart(plan: ActionPlan) -> None:
    # Section 8, OPEL Three: one item without authorisation ("outside Kent and Medway"), one
    # "If authorised" ("other areas where capacity is available").
    placements = [a for a in plan.in_force("senior_practitioner", L3) if "placements" in a.id]
    assert [a.id for a in placements] == [
        "senior_practitioner.l3.placements_outside_kent_medway",
        "senior_practitioner.l3.placements_other_areas_if_authorised",
    ]
    plain, authorised = (a.text for a in placements)
    assert "outside Kent and Medway" in plain
    assert "authoris" not in plain
    assert authorised.startswith("If authorised")
    assert "where capacity is available" in authorised
    assert "Kent and Medway" not in authorised


def test_every_action_cites_its_plan_cells(plan: ActionPlan) -> None:
    for action in plan.actions:
        assert action.source, action.id
        assert any(cell.row is not None and cell.opel == action.level for cell in action.source), action.id
        for cell in action.source:
            assert cell.section in {"8", "App. 3"} or re.fullmatch(r"\d\.\d", cell.section), action.id
            assert cell.quote.strip()


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
        "senior_practitioner.l3.placements_outside_kent_medway",
        "senior_practitioner.l3.placements_other_areas_if_authorised",
        "senior_practitioner.l3.shrewd_twice_daily",
    ]
    assert stop == []


def test_de_escalating_four_to_two_stands_down_levels_three_and_four(plan: ActionPlan) -> None:
    start, stop, keep = by_role(plan, L4, L2)["pascc_ops_manager"]
    assert start == []
    assert stop == [
        "pascc_ops_manager.l3.off_framework_approval",
        "pascc_ops_manager.l4.business_continuity",
        "pascc_ops_manager.l4.non_contracted_providers",
    ]
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
                    "source": [{"section": "8", "row": 1, "opel": level, "quote": "x"}],
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
    ("action without source", _delete("actions", 7, "source"), "actions[7].source", "is required"),
    (
        "action citing nothing",
        _set("actions", 7, "source", value=[]),
        "actions[7].source",
        "must cite at least one plan cell",
    ),
    (
        "table row without its column",
        _set("actions", 7, "source", 0, "opel", value=None),
        "actions[7].source[0]",
        "needs both row and opel",
    ),
    ("row 0", _set("actions", 7, "source", 0, "row", value=0), "actions[7].source[0].row", "count from 1"),
    ("column 5", _set("actions", 7, "source", 0, "opel", value=5), "actions[7].source[0].opel", "got 5"),
    (
        "empty quote",
        _set("actions", 7, "source", 0, "quote", value=" "),
        "actions[7].source[0].quote",
        "empty",
    ),
    (
        "unknown cell key",
        _set("actions", 7, "source", 0, "page", value=21),
        "actions[7].source[0].page",
        "is not a known key",
    ),
    (
        "no cell at the action's level",
        _set("actions", 7, "source", value=[{"section": "8", "row": 3, "opel": 4, "quote": "x"}]),
        "actions[7].source",
        "no cited table cell is in the level 2 column",
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


# --- the v1.7 action plan (2024-25 catalogue) -----------------------------------------------------


@pytest.fixture(scope="module")
def v17() -> ActionPlan:
    return load_action_plan("kcc-asch-actions-v1.7")


def test_v17_plan_loads_with_its_plan_version(v17: ActionPlan) -> None:
    assert (v17.id, v17.version) == ("kcc-asch-actions-v1.7", "1.7")
    assert v17.plan is not None
    assert v17.plan.date == dt.date(2024, 8, 1)
    assert v17.plan.sections == ("7", "8", "Appendix 2")


def test_v17_roles_are_its_section_8_rows(v17: ActionPlan) -> None:
    # v1.7 has the Short-Term Pathways Operational Manager where v1.8 has the PASCC Operations Manager.
    assert list(v17.roles) == [
        "inhouse_registered_managers",
        "keah_locality_organisers",
        "senior_practitioner",
        "stp_team_manager",
        "stp_operational_manager",
        "community_team_managers",
        "assistant_director",
        "director_asc",
    ]
    assert v17.roles["stp_operational_manager"].name == "Short-Term Pathways Operational Manager"


def test_v17_differs_from_v18_where_the_plan_does(v17: ActionPlan, plan: ActionPlan) -> None:
    # Senior Practitioner: non-contracted placements in other areas at OPEL 2, no authorisation.
    sp2 = ids(v17.in_force("senior_practitioner", L2))
    assert "senior_practitioner.l2.placements_other_areas" in sp2
    assert "authoris" not in _text(v17, "senior_practitioner.l2.placements_other_areas")
    # Short Term Pathway Team Manager: OPEL 3 placements without "if authorised" (v1.8 has it).
    assert "stp_team_manager.l3.placements_outside_kent_medway" in ids(v17.in_force("stp_team_manager", L3))
    assert "authoris" not in _text(v17, "stp_team_manager.l3.placements_outside_kent_medway")
    assert _text(plan, "stp_team_manager.l3.off_contract_placements").startswith("With authorisation")
    # The operational manager's OPEL Three cell only continues level two.
    assert ids(v17.in_force("stp_operational_manager", L3)) == ids(
        v17.in_force("stp_operational_manager", L2)
    )
    assert "stp_operational_manager.l4.non_contracted_providers" in ids(
        v17.in_force("stp_operational_manager", L4)
    )
    # Community Team Managers progress to Purchasing after a KEaH decline within 4 hours (v1.7 only).
    assert "4 hours" in _text(v17, "community_team_managers.l2.progress_to_purchasing_4h")
    assert "2 hours" in _text(v17, "stp_operational_manager.l2.progress_to_purchasing")
    # Appendix 2's redeployment of PI / SIS staff is the Assistant Director's at OPEL 2.
    assert "assistant_director.l2.redeploy_pi_sis_to_stp" in ids(v17.in_force("assistant_director", L2))


@pytest.mark.parametrize("before", ALL_KEYS)
@pytest.mark.parametrize("after", ALL_KEYS)
def test_v17_changes_invariants_for_every_pair(
    v17: ActionPlan, before: Level | None, after: Level | None
) -> None:
    assert_change_invariants(v17, before, after)


def test_v17_every_note_is_a_question_for_the_plan_owner(v17: ActionPlan) -> None:
    assert v17.notes
    assert all(note.confirm_with_plan_owner for note in v17.notes)
    assert {"director_asc_level_4", "keah_decline_2h_4h", "appendix2_non_contracted_providers"} <= {
        note.id for note in v17.notes
    }
