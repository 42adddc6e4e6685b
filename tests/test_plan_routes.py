"""The shipped routing delivers the plan: every role told its actions at the levels and scopes it acts on.

Plan v1.8, section 7 (intro): actions are triggered by the OPEL status of Kent County Council,
the Area or region, so every role of the section 8 table hears of area and county changes from
the first level where it has actions. Section 5.1 and Appendix 4 name who hears of hospital
pressure: the Operations Manager represents KCC at the Urgent Care Delivery Board (OPEL 2-4);
at OPEL 3 and 4 senior involvement is expected, and the plan's one live invocation (a trust at
OPEL 4) was met by the Team Managers' and community teams' panels.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_alerting_fixtures import escalation

from opel.actions import ActionPlan
from opel.actions_load import default_action_plan
from opel.alerting import engine
from opel.alerting.plan_routes import action_owners, attribute, carriers, unrouted, with_plan_actions
from opel.alerting.records import AlertRecord, GroupRecord
from opel.alerting.routing import (
    DEFAULT_ROUTING_FILE,
    PLAN_ROLES,
    RoutingConfig,
    default_routing_file,
    load_routing,
)
from opel.contracts.escalation import EscalationEvent, PlanAction, RoleActions
from opel.levels import Level

CONFIG = Path(__file__).resolve().parents[1] / "config"
SHIPPED = CONFIG / "routing.yaml"
EXAMPLE = CONFIG / "routing.example.yaml"
PLAN = default_action_plan()
ROUTING = load_routing(SHIPPED, env={})

WEDNESDAY = datetime(2025, 11, 12, 10, 30, tzinfo=UTC)  # office hours, GMT
SATURDAY_NIGHT = datetime(2025, 11, 15, 22, 0, tzinfo=UTC)
CHRISTMAS = datetime(2025, 12, 25, 11, 0, tzinfo=UTC)

# Plan 5.1, App. 4, App. 5: who acts on hospital (site) and system pressure, from which level.
HOSPITAL_ROLES = {
    "pascc_ops_manager": 2,
    "stp_team_manager": 3,
    "community_team_managers": 3,
    "assistant_director": 3,
    "director_asc": 3,
}
SCOPES = {
    "area": "area/dgs",
    "county": "county/kent",
    "site": "site/mtw_maidstone",
    "system": "system/kent_medway",
}


def worker_actions(plan: ActionPlan, kind: str, before: int | None, after: int) -> list[dict[str, Any]]:
    """The actions the worker attaches (opel.stages.outputs): area and county changes only."""
    if kind not in {"area", "county"}:
        return []
    changes = plan.changes(None if before is None else Level(before), Level(after))
    return [
        {
            "role": c.role.id,
            "role_name": c.role.name,
            "start": [
                {"id": a.id, "level": int(a.level), "text": a.text, "plan_ref": a.plan_ref} for a in c.start
            ],
            "stand_down": [
                {"id": a.id, "level": int(a.level), "text": a.text, "plan_ref": a.plan_ref}
                for a in c.stand_down
            ],
        }
        for c in changes
        if c.changed
    ]


def event(kind: str, before: int | None, after: int, at: datetime = WEDNESDAY) -> EscalationEvent:
    raw = escalation(SCOPES[kind], before, after, at, actions=worker_actions(PLAN, kind, before, after))
    return EscalationEvent.model_validate(raw)


def deliver(
    ev: EscalationEvent, config: RoutingConfig = ROUTING, book: dict[str, AlertRecord] | None = None
) -> list[engine.Flush]:
    """Apply a change, then flush once everything is due (group_wait passed)."""
    state = dict(book or {})
    groups: dict[str, GroupRecord] = {}
    now = ev.data.at
    for change in engine.apply_escalation(ev, config, state, groups, now, PLAN):
        state[change.record.key] = change.record
    return engine.plan_flushes(config, state, now + timedelta(hours=1))


def expected_start(role: str, before: int | None, after: int) -> list[str]:
    """The role's own actions to start, plus Appendix 3 actions the routing gives it."""
    own = [a.text for c in PLAN.changes(None, Level(after)) if c.role.id == role for a in c.start]
    summary = [
        a.text
        for c in PLAN.changes(None if before is None else Level(before), Level(after))
        if c.role.id not in PLAN_ROLES
        for a in c.start
        if role in ROUTING.summary_actions[a.id].roles
    ]
    return own + summary


def table() -> Iterator[tuple[str, int, str]]:
    for role in PLAN.roles:
        if role not in PLAN_ROLES:
            continue  # the Appendix 3 pseudo-role: its actions are walked in the next test
        for level in (2, 3, 4):
            if not PLAN.in_force(role, Level(level)):
                continue
            for kind in ("area", "county", "site", "system"):
                if kind in {"site", "system"} and level < HOSPITAL_ROLES.get(role, 5):
                    continue
                yield role, level, kind


@pytest.mark.parametrize(("role", "level", "kind"), list(table()))
def test_each_role_is_told_its_actions_at_each_level_and_scope(role: str, level: int, kind: str) -> None:
    flushes = [f for f in deliver(event(kind, 1, level)) if f.role == role]
    assert flushes, f"{role} is not told of a {kind} at OPEL {level}"
    flush = flushes[0]
    contacts = {c.id for c in ROUTING.contacts(role, None)}
    assert contacts
    assert {d.contact for d in flush.deliveries} == contacts
    texts = expected_start(role, 1, level)
    assert texts
    start = flush.rendered.text.split("Start now:", 1)[1]
    for text in texts:
        assert text in start, f"{role} at OPEL {level} ({kind}) does not read: {text}"


def test_every_action_of_the_plan_has_a_route() -> None:
    assert unrouted(PLAN, ROUTING) == []
    for action in PLAN.actions:
        if action.role in PLAN_ROLES:
            assert carriers(ROUTING, action.role, int(action.level), "area")
            continue
        summary = ROUTING.summary_actions[action.id]  # no pseudo-role action without its owners
        assert summary.plan_ref.startswith("App. 3")


@pytest.mark.parametrize("level", [2, 3, 4])
def test_every_action_in_force_reaches_its_roles_in_a_message(level: int) -> None:
    """Walk every action of the plan (own or Appendix 3) through a real area change and find it."""
    texts = {f.role: f.rendered.text for f in deliver(event("area", 1, level))}
    for action in PLAN.actions:
        if action.level > level:
            continue
        if action not in PLAN.in_force(action.role, Level(level)):
            continue
        owners = action_owners(action.id, action.role, ROUTING)
        assert owners, f"{action.id} has no role to receive it"
        for owner in owners:
            assert action.text in texts.get(owner, ""), f"{action.id} does not reach {owner} at OPEL {level}"


def test_appendix_only_actions_go_to_the_roles_that_do_them() -> None:
    """Rows found only in Appendix 3, whichever way the action plan holds them."""
    expected = {
        "step_down_assessment_beds": {"stp_team_manager"},
        "shrewd_daily": {"senior_practitioner"},
        "escalate_late_chc_dst": {"community_team_managers"},
        "bridge_with_other_providers": {"stp_team_manager"},
        "non_contracted_providers": {"pascc_ops_manager"},
    }
    for slug, roles in expected.items():
        found = [a for a in PLAN.actions if a.id.endswith(f".{slug}")]
        assert found, slug
        owners = {owner for a in found for owner in action_owners(a.id, a.role, ROUTING)}
        assert owners == roles, slug


def test_no_pseudo_role_is_left_in_a_message() -> None:
    data = event("area", 1, 4).data
    folded = attribute(data.actions, ROUTING)
    assert {entry.role for entry in folded} <= set(PLAN_ROLES)
    for flush in deliver(event("area", 1, 4)):
        assert "kcc_summary" not in flush.rendered.text


def test_an_appendix_action_repeating_a_section_8_action_is_not_listed_twice() -> None:
    flush = next(f for f in deliver(event("area", 1, 3)) if f.role == "senior_practitioner")
    text = next(a.text for a in PLAN.actions if a.id == "senior_practitioner.l2.families_throughput")
    assert flush.rendered.text.count(text) == 1


def test_a_site_at_opel_4_alerts_the_roles_the_plan_names() -> None:
    told = {f.role for f in deliver(event("site", 2, 4))}
    assert told == set(HOSPITAL_ROLES)
    director = next(f for f in deliver(event("site", 2, 4)) if f.role == "director_asc")
    assert "Talk to health partners" in director.rendered.text
    assert "site mtw_maidstone" in director.rendered.subject


def test_a_site_at_opel_2_reaches_the_delivery_board_representative() -> None:
    assert {f.role for f in deliver(event("site", 1, 2))} == {"pascc_ops_manager"}


def test_a_county_change_to_opel_2_alerts_someone() -> None:
    told = {f.role for f in deliver(event("county", 1, 2))}
    assert "duty" in told
    assert {"pascc_ops_manager", "assistant_director", "stp_team_manager"} <= told
    assert "director_asc" not in told  # no Director action at OPEL 2


def test_the_director_and_assistant_director_are_told_directly() -> None:
    assert "assistant_director" in {f.role for f in deliver(event("area", 1, 2))}
    director = [f for f in deliver(event("area", 2, 3)) if f.role == "director_asc"]
    assert director
    assert not director[0].rendered.text.startswith("NOT ACKNOWLEDGED")


def test_out_of_hours_routes_follow_the_calendar() -> None:
    weekday = {f.role for f in deliver(event("area", 2, 3))}
    night = {f.role for f in deliver(event("area", 2, 3, SATURDAY_NIGHT))}
    assert not {"out_of_hours_service", "nhs_director_on_call"} & weekday
    assert {"out_of_hours_service", "nhs_director_on_call"} <= night
    christmas = {f.role for f in deliver(event("area", 1, 2, CHRISTMAS))}
    assert "arranging_support_team" in christmas
    assert "arranging_support_team" not in {f.role for f in deliver(event("area", 1, 2))}


def test_a_route_limited_in_time_still_sends_its_resolution() -> None:
    state: dict[str, AlertRecord] = {}
    for change in engine.apply_escalation(
        event("area", 2, 3, SATURDAY_NIGHT), ROUTING, state, {}, SATURDAY_NIGHT
    ):
        state[change.record.key] = change.record
    for flush in engine.plan_flushes(ROUTING, state, SATURDAY_NIGHT + timedelta(hours=1)):
        for record in flush.records:
            state[record.key] = record
    monday = datetime(2025, 11, 17, 10, 0, tzinfo=UTC)
    changes = engine.apply_escalation(event("area", 3, 2, monday), ROUTING, state, {}, monday)
    assert any(c.record.role == "out_of_hours_service" and c.record.status == "resolved" for c in changes)


def example_env() -> dict[str, str]:
    names = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", EXAMPLE.read_text(encoding="utf-8")))
    return {name: "2525" if name.endswith("_PORT") else f"secret-{name.lower()}" for name in names}


def test_the_example_has_the_shipped_routes() -> None:
    shipped = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for section in ("routes", "summary_actions", "calendar", "clock", "escalation_policies", "defaults"):
        assert shipped[section] == example[section], section
    assert set(shipped["roles"]) == set(example["roles"])
    assert unrouted(PLAN, load_routing(EXAMPLE, env=example_env())) == []


def test_the_shipped_routing_needs_no_secrets_and_only_logs() -> None:
    assert default_routing_file() == DEFAULT_ROUTING_FILE == SHIPPED
    assert ROUTING.live_channels() == ["log (log)"]
    assert ROUTING.describe() == f"routing {SHIPPED}: {len(ROUTING.routes)} routes; channels live: log (log)"
    assert all(route.plan_ref for route in ROUTING.routes if not route.match.exercise)


def test_senior_mobiles_at_night_only_for_opel_4() -> None:
    config = load_routing(EXAMPLE, env=example_env())
    ids = {
        f.role: {d.contact for d in f.deliveries}
        for f in deliver(event("area", 2, 3, SATURDAY_NIGHT), config)
    }
    assert ids["director_asc"] == {"director-email"}
    assert ids["assistant_director"] == {"ad-email"}
    black = {
        f.role: {d.contact for d in f.deliveries}
        for f in deliver(event("area", 3, 4, SATURDAY_NIGHT), config)
    }
    assert black["director_asc"] == {"director-email", "director-sms"}
    day = {f.role: {d.contact for d in f.deliveries} for f in deliver(event("area", 2, 3), config)}
    assert day["director_asc"] == {"director-email", "director-sms"}


def test_site_actions_come_from_the_plan_only_when_the_event_has_none() -> None:
    site = event("site", 2, 4).data
    assert site.actions == ()
    enriched = with_plan_actions(site, ROUTING, PLAN)
    assert {entry.role for entry in enriched.actions} >= set(HOSPITAL_ROLES)
    indicator = EscalationEvent.model_validate(escalation("indicator/referrals/dgs", 2, 3)).data
    assert with_plan_actions(indicator, ROUTING, PLAN) is indicator


def test_pseudo_role_actions_are_folded_into_the_roles_that_do_them() -> None:
    """An action plan holding Appendix 3 under a pseudo-role (v1.8 as first encoded)."""

    def act(ident: str, level: int = 2) -> PlanAction:
        return PlanAction(id=ident, level=level, text=f"text of {ident}", plan_ref="App. 3")

    own = RoleActions(role="senior_practitioner", role_name="SP", start=(act("senior_practitioner.l2.x"),))
    summary = RoleActions(
        role="kcc_summary",
        role_name="KCC",
        start=(
            act("kcc_summary.l2.families_throughput"),  # same_as: already the role's own
            act("kcc_summary.l2.escalate_late_chc_dst"),  # roles: community team managers
            act("kcc_summary.l2.unknown"),  # no entry: stays, and unrouted would name it
        ),
        stand_down=(act("kcc_summary.l2.families_safe_discharge"),),
    )
    folded = {entry.role: entry for entry in attribute((own, summary), ROUTING)}
    assert [a.id for a in folded["senior_practitioner"].start] == ["senior_practitioner.l2.x"]
    assert [a.id for a in folded["senior_practitioner"].stand_down] == [
        "kcc_summary.l2.families_safe_discharge"
    ]
    assert [a.id for a in folded["community_team_managers"].start] == ["kcc_summary.l2.escalate_late_chc_dst"]
    assert folded["community_team_managers"].start[0].plan_ref == "App. 3; 7.7"
    assert [a.id for a in folded["kcc_summary"].start] == ["kcc_summary.l2.unknown"]
