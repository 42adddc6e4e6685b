"""Builders for alerting tests: escalation CloudEvents shaped exactly as docs/topics.md shows.

Unit and integration tests import from here; the tests below keep the builders honest.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from opel.alerting.routing import RoutingConfig, build_routing
from opel.contracts.escalation import EscalationEvent
from opel.contracts.status import STATUS, AreaStatus
from opel.levels import Level

T0 = datetime(2025, 11, 12, 9, 30, tzinfo=UTC)
TYPES = {
    "initial": "uk.gov.kent.opel.initial",
    "escalation": "uk.gov.kent.opel.escalation",
    "de-escalation": "uk.gov.kent.opel.de-escalation",
}


def scope_parts(scope: str) -> dict[str, Any]:
    kind, _, rest = scope.partition("/")
    parts: dict[str, Any] = {"indicator": None, "area": None, "site": None, "system": None, "county": None}
    if kind == "indicator":
        indicator, _, area = rest.partition("/")
        parts.update(indicator=indicator, area=area)
    else:
        parts[kind] = rest
    return {"kind": kind, **parts}


def escalation(
    scope: str,
    from_level: int | None,
    to_level: int,
    at: datetime = T0,
    *,
    exercise: bool = False,
    actions: list[dict[str, Any]] | None = None,
    explanation: str = "Referrals 48 is in the OPEL 3 band (45-59).",
    cause: str = "observation",
) -> dict[str, Any]:
    """A CloudEvent value for ``opel.escalations.v1`` (key: the scope)."""
    if from_level is None:
        direction = "initial"
    elif to_level > from_level:
        direction = "escalation"
    else:
        direction = "de-escalation"
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}|{from_level}|{to_level}|{at.isoformat()}"))
    data: dict[str, Any] = {
        "scope": scope,
        **scope_parts(scope),
        "from_level": from_level,
        "from_colour": Level(from_level).colour if from_level else None,
        "to_level": to_level,
        "to_colour": Level(to_level).colour,
        "direction": direction,
        "cause": cause,
        "at": at.isoformat(),
        "exercise": exercise,
        "evidence": {
            "explanation": explanation,
            "computed_level": to_level,
            "value": 48,
            "driving": ["referrals"],
            "observed_at": at.isoformat(),
            "catalogue": "kcc-asch-2025-26",
            "catalogue_version": "1.8",
        },
        "actions": actions if actions is not None else [],
    }
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "urn:opel:kcc-asch",
        "type": TYPES[direction],
        "subject": scope,
        "time": at.isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }


def stp_actions() -> list[dict[str, Any]]:
    """The Short Term Pathway Team Manager's part of an OPEL 2 -> 3 change (abridged)."""
    return [
        {
            "role": "stp_team_manager",
            "role_name": "Short Term Pathway Team Manager",
            "start": [
                {
                    "id": "stp_team_manager.l3.shrewd_twice_daily",
                    "level": 3,
                    "text": "Make sure SHREWD is updated by 10:30 and again between 14:00 and 15:30.",
                    "plan_ref": "App. 3",
                }
            ],
            "stand_down": [],
        }
    ]


def routing(data: dict[str, Any], env: dict[str, str] | None = None) -> RoutingConfig:
    base: dict[str, Any] = {
        "roles": {"duty": {"contacts": [{"id": "duty-log", "name": "Duty", "channel": "log"}]}}
    }
    base.update(data)
    if "duty" not in base["roles"]:
        base["roles"] = {
            **base["roles"],
            "duty": {"contacts": [{"id": "duty-log", "name": "Duty", "channel": "log"}]},
        }
    return build_routing(base, "<test routing>", env=env or {})


def test_builder_matches_the_documented_shape() -> None:
    value = escalation("area/dgs", 2, 3, actions=stp_actions())
    event = EscalationEvent.model_validate(value)
    assert event.type == "uk.gov.kent.opel.escalation"
    assert event.data.area == "dgs"
    assert event.data.actions[0].start[0].level == 3


def test_builder_indicator_scope() -> None:
    event = EscalationEvent.model_validate(escalation("indicator/referrals/swale", None, 2))
    assert (event.data.kind, event.data.indicator, event.data.area) == ("indicator", "referrals", "swale")
    assert event.type == "uk.gov.kent.opel.initial"


# The worker's own output, copied from docs/topics.md "Examples" (the elided roles left out).
WORKER_ESCALATION = """
{"specversion": "1.0", "id": "331b6093-6a06-5d16-9f97-e3081104c5c2", "source": "urn:opel:kcc-asch",
 "type": "uk.gov.kent.opel.escalation", "subject": "county/kent", "time": "2025-11-17T14:00:00+00:00",
 "datacontenttype": "application/json",
 "data": {"scope": "county/kent", "kind": "county", "area": null, "indicator": null, "site": null,
          "system": null, "county": "kent", "from_level": 2, "from_colour": "amber", "to_level": 3,
          "to_colour": "red", "direction": "escalation", "cause": "override",
          "at": "2025-11-17T14:00:00+00:00", "exercise": false,
          "evidence": {"computed_level": 2,
                       "explanation": "in some areas: 3 of 4 assessed areas at OPEL 2 or above",
                       "areas_assessed": 4, "catalogue": "kcc-asch-2025-26", "catalogue_version": "1.8",
                       "observed_at": "2025-11-17T13:00:00+00:00", "late": null},
          "actions": [{"role": "stp_team_manager", "role_name": "Short Term Pathway Team Manager",
                       "start": [{"id": "stp_team_manager.l3.prioritise_discharge", "level": 3,
                                  "text": "Put work that gets people safely out of hospital first.",
                                  "plan_ref": "8"}],
                       "stand_down": []}]}}
"""
# An area status as the worker writes it: only the area's scope part (tests/test_alerting_duties.py
# has one of every kind, and the refusals of unknown fields).
WORKER_STATUS = """
{"scope": "area/east_kent", "kind": "area", "area": "east_kent", "level": 3, "colour": "red",
 "computed_level": 2, "computed_colour": "amber", "state_level": 3, "held": null, "override": null,
 "explanation": "worst of 5 assessed indicators: health_caseload, keah_capacity at OPEL 2",
 "driving": ["health_caseload", "keah_capacity"], "catalogue": "kcc-asch-2025-26",
 "catalogue_version": "1.8", "observed_at": "2025-11-17T23:00:00+00:00",
 "since": "2025-11-17T11:00:00+00:00", "updated_at": "2025-11-17T23:00:00+00:00"}
"""


def test_the_workers_documented_output_is_accepted() -> None:
    event = EscalationEvent.model_validate_json(WORKER_ESCALATION)
    assert event.data.county == "kent"
    assert event.data.evidence.explanation is not None
    assert event.data.evidence.areas_assessed == 4
    status = STATUS.validate_json(WORKER_STATUS)
    assert isinstance(status, AreaStatus)
    assert status.driving == ["health_caseload", "keah_capacity"]
