"""Early warnings through alerting's routing (issue 16, point 2): an opened warning goes to its
indicator's owner when a ``kinds: [warning]`` route lists the owner, and nobody else."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.stage_context import shipped_context
from test_alerting_routing import example_env

from opel.alerting.early_warning import warning_notices
from opel.alerting.routing import RoutingConfig, build_routing, load_routing
from opel.contracts.warning import WarningEvent
from opel.models import Reading
from opel.replay import replay

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "routing.example.yaml"
T0 = datetime(2026, 1, 12, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def routing() -> RoutingConfig:
    return load_routing(EXAMPLE, env=example_env())


def ramp(indicator: str, values: Sequence[float]) -> list[WarningEvent]:
    readings = [
        Reading(indicator=indicator, area="east_kent", value=v, observed_at=T0 + timedelta(hours=i))
        for i, v in enumerate(values)
    ]
    return replay(readings, shipped_context()).warnings


@pytest.mark.parametrize(
    ("indicator", "values", "owner"),
    [
        ("stp_staffing_pct", [85 - i for i in range(17)], "stp_team_manager"),
        ("health_caseload", [20 + 2 * i for i in range(12)], "senior_practitioner"),
        ("keah_capacity", [12 - i for i in range(12)], "keah_locality_organisers"),
    ],
)
def test_an_opened_warning_goes_to_the_indicators_owner(
    routing: RoutingConfig, indicator: str, values: list[float], owner: str
) -> None:
    events = ramp(indicator, values)
    opened = next(e for e in events if e.data.status == "open")
    notices = warning_notices(opened, routing)
    assert [(n.role, n.area, n.job) for n in notices] == [(owner, "east_kent", "warning")]
    notice = notices[0]
    assert notice.rendered.subject.startswith("Early warning: ")
    assert "the level has not changed" in notice.rendered.text
    assert notice.level == opened.data.projected_level
    # The same warning makes the same notice: the outbox sends it once.
    assert warning_notices(opened, routing)[0].id == notice.id
    for later in events:
        if later.data.status != "open":
            assert warning_notices(later, routing) == []


def test_no_route_no_notice_and_a_route_must_list_the_owner(routing: RoutingConfig) -> None:
    opened = next(e for e in ramp("stp_staffing_pct", [85 - i for i in range(10)]) if e.data.status == "open")
    contacts = {
        "roles": {
            role: {"contacts": [{"id": role, "name": role, "channel": "log"}]}
            for role in ("duty", "stp_team_manager")
        }
    }
    assert warning_notices(opened, build_routing(contacts, env={})) == []
    others = {
        **contacts,
        "routes": [{"name": "w", "match": {"kinds": ["warning"]}, "roles": ["duty"]}],
    }
    assert warning_notices(opened, build_routing(others, env={})) == []  # the owner is not listed
    owner = {
        **contacts,
        "routes": [
            {"name": "w", "match": {"kinds": ["warning"], "level_at_least": 3}, "roles": ["stp_team_manager"]}
        ],
    }
    assert warning_notices(opened, build_routing(owner, env={})) == []  # projected amber, route from red
    exercise_route = {
        "name": "w",
        "match": {"kinds": ["warning"], "exercise": True},
        "roles": ["stp_team_manager"],
    }
    exercise = {**contacts, "routes": [exercise_route]}
    assert warning_notices(opened, build_routing(exercise, env={})) == []  # live warning, exercise route


def test_a_warning_route_never_matches_an_escalation(routing: RoutingConfig) -> None:
    route = next(r for r in routing.routes if r.name == "early-warnings")
    assert route.match.kinds == ("warning",)
