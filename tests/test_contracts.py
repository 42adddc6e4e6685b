"""The output contracts: every model refuses what it does not know, every published schema accepts
what the models build, and the committed schemas are the ones the models generate."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, TypeAdapter, ValidationError

from opel import schemas
from opel.contracts.action_item import ActionItem
from opel.contracts.alert import ALERT_MESSAGE, AlertDelivery, DailySnapshot
from opel.contracts.audit import AuditRecord, audit_record
from opel.contracts.base import Contract
from opel.contracts.deadletter import DeadLetter, deadletter
from opel.contracts.escalation import (
    EscalationData,
    EscalationEvent,
    Evidence,
    PlanAction,
    RoleActions,
)
from opel.contracts.stage import (
    STAGE_MESSAGE,
    AcuteItem,
    AreaChange,
    AreaReport,
    OverrideItem,
    ReadingItem,
    ReferralItem,
    StageMessage,
    TickItem,
    WithdrawItem,
)
from opel.contracts.status import (
    STATUS,
    AreaStatus,
    CountyStatus,
    Held,
    IndicatorStatus,
    SitePoints,
    SiteStatus,
    SystemStatus,
)
from opel.feeds import Override, ReferralEvent, Withdraw
from opel.models import AcuteParameters, AcuteSubmission

T = datetime(2025, 11, 17, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
CATALOGUE = {"catalogue": "kcc-asch-2025-26", "catalogue_version": "1.8"}
OVERRIDE = Override(
    type="override",
    id="demo-20251117-county-ovr",
    scope="county/kent",
    level=3,
    author="asch-escalation-group",
    reason="county OPEL 3 actions until the 20:00 review",
    at=T + 5 * H,
    expires_at=T + 11 * H,
)
LEVELS = {"level": 2, "colour": "amber", "computed_level": 2, "computed_colour": "amber", "state_level": 2}


def statuses() -> dict[str, Contract]:
    """One status of each kind, with the optional parts filled in."""
    return {
        "indicator": IndicatorStatus(
            kind="indicator",
            scope="indicator/stp_staffing_pct/east_kent",
            area="east_kent",
            indicator="stp_staffing_pct",
            value=62,
            band="amber: 60 to 69",
            explanation="stp_staffing_pct 62 is in 60-69: OPEL 2",
            observed_at=T,
            since=T,
            updated_at=T,
            **LEVELS,
            **CATALOGUE,
        ),
        "area": AreaStatus(
            kind="area",
            scope="area/east_kent",
            area="east_kent",
            level=3,
            colour="red",
            computed_level=2,
            computed_colour="amber",
            state_level=3,
            held=Held(level=3, computed_level=2, lower_since=T + 4 * H, next_level=2, until=T + 28 * H),
            driving=["health_caseload", "keah_capacity"],
            explanation="worst of 5 assessed indicators: health_caseload, keah_capacity at OPEL 2",
            observed_at=T + 4 * H,
            since=T + 2 * H,
            updated_at=T + 4 * H,
            **CATALOGUE,
        ),
        "county": CountyStatus(
            kind="county",
            scope="county/kent",
            county="kent",
            level=3,
            colour="red",
            computed_level=2,
            computed_colour="amber",
            state_level=2,
            override=OVERRIDE,
            areas_assessed=4,
            late=False,
            explanation="overridden by asch-escalation-group",
            updated_at=T + 5 * H,
            **CATALOGUE,
        ),
        "site": SiteStatus(
            kind="site",
            scope="site/william_harvey",
            site="william_harvey",
            score=28,
            score_max=44,
            complete=True,
            normalised_score=63.6,
            normalised_level=3,
            points={"ed_4h_performance_pct": SitePoints(value=61.6, points=4, band="< 65")},
            updated_at=T,
            **{**LEVELS, "level": 3, "colour": "red"},
        ),
        "system": SystemStatus(
            kind="system",
            scope="system/kent_and_medway",
            system="kent_and_medway",
            score=24,
            score_scale=44,
            normalised_score=54.5,
            aggregate_level=3,
            driving=["william_harvey"],
            missing=["darent_valley"],
            late=None,
            updated_at=T,
            **LEVELS,
        ),
    }


def escalation() -> EscalationEvent:
    return EscalationEvent(
        specversion="1.0",
        id="331b6093-6a06-5d16-9f97-e3081104c5c2",
        source="urn:opel:kcc-asch",
        type="uk.gov.kent.opel.escalation",
        subject="area/east_kent",
        time=T,
        data=EscalationData(
            scope="area/east_kent",
            kind="area",
            area="east_kent",
            from_level=2,
            from_colour="amber",
            to_level=3,
            to_colour="red",
            direction="escalation",
            cause="observation",
            at=T,
            evidence=Evidence(computed_level=3, explanation="staffing 45", driving=("stp_staffing_pct",)),
            actions=(
                RoleActions(
                    role="stp_team_manager",
                    role_name="Short Term Pathway Team Manager",
                    start=(PlanAction(id="stp.l3.a", level=3, text="Prioritise discharge.", plan_ref="8"),),
                ),
            ),
        ),
    )


def alerts() -> dict[str, Contract]:
    return {
        "delivery": AlertDelivery(
            kind="firing",
            id="d-1",
            notice_id="n-1",
            alert_ids=("a-1",),
            role="stp_team_manager",
            route="area-operational",
            contact="stp-tm-east",
            channel="email",
            state="sent",
            attempts=1,
            reason="sent",
            subject="OPEL 3 RED: East Kent",
            text="East Kent is at OPEL 3.",
            at=T,
        ),
        "snapshot": DailySnapshot(kind="daily_snapshot", at=T + H, statuses=tuple(statuses().values())),
    }


def audit() -> AuditRecord:
    return audit_record(
        "override",
        "county/kent",
        T,
        input=OVERRIDE.model_dump(mode="json"),
        author="asch-escalation-group",
        reason="county OPEL 3",
        outcome={"level": 3, "from_level": 2},
    )


def dead() -> DeadLetter:
    return deadletter(
        topic="opel.capacity.v1",
        partition=2,
        offset=36,
        timestamp_ms=1_763_370_000_000,
        key=b"east_kent",
        value=b'{"indicator":"stp_staffing_pct","area":"east_kent","value":-3}',
        reason="invalid",
        error="value: must be 0 or more, got -3",
        field="value",
        at=T,
    )


def stage() -> StageMessage:
    reading = ReadingItem(indicator="stp_staffing_pct", area="east_kent", value=62, observed_at=T)
    referral = ReferralItem(
        event=ReferralEvent(event_id="e-1", area="east_kent", kind="received", occurred_at=T, service="keah")
    )
    acute = AcuteItem(
        submission=AcuteSubmission(
            site="william_harvey", observed_at=T, parameters=AcuteParameters(ed_4h_performance_pct=61.6)
        ),
        seen=T,
    )
    withdraw = Withdraw(
        type="withdraw", id=OVERRIDE.id, scope="county/kent", author="group", reason="eased", at=T + 9 * H
    )
    report = AreaReport(
        area="east_kent", changes=(AreaChange(at=T, level=3, seq=4),), watermark=T, seen=T + H
    )
    items = (reading, referral, acute, OverrideItem(command=OVERRIDE), WithdrawItem(command=withdraw))
    return StageMessage(items=(*items, TickItem(now=T), report), seen=T + H, ts=1_763_370_000_000)


def action_item() -> ActionItem:
    return ActionItem(
        id="80631e00-cd36-5af2-82fa-e2633995eab2",
        scope="area/dgs",
        area="dgs",
        role="senior_practitioner",
        role_name="Senior Practitioner",
        action_id="senior_practitioner.l2.shrewd_daily",
        text="Make sure SHREWD is updated every day before 10:30.",
        plan_ref="App. 3",
        level=2,
        scope_level=2,
        escalation_id="esc-1",
        opened_at=T,
        due_at=T + H,
        due_rule="App. 3: SHREWD updated daily before 10:30",
        state="not_applicable",
        closed_at=T + H / 2,
        closed_by="sp-dgs",
        note="SHREWD down; figures phoned to the hub",
        updated_at=T + H / 2,
    )


Reader = TypeAdapter[Any]
EXAMPLES: list[tuple[str, str, Contract, Reader]] = [
    *((f"status-{kind}", "status.schema.json", model, STATUS) for kind, model in statuses().items()),
    ("escalation", "escalation.schema.json", escalation(), TypeAdapter(EscalationEvent)),
    *((f"alert-{kind}", "alert.schema.json", model, ALERT_MESSAGE) for kind, model in alerts().items()),
    ("audit", "audit.schema.json", audit(), TypeAdapter(AuditRecord)),
    ("deadletter", "deadletter.schema.json", dead(), TypeAdapter(DeadLetter)),
    ("stage", "stage.schema.json", stage(), STAGE_MESSAGE),
    ("action-item", "action-item.schema.json", action_item(), TypeAdapter(ActionItem)),
]
IDS = [name for name, *_ in EXAMPLES]


def validator(filename: str) -> Draft202012Validator:
    schema = json.loads((schemas.SCHEMA_DIR / filename).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(filename: str, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(filename).iter_errors(instance)
    ]


# --- every published schema accepts what the models build ----------------------------------------


@pytest.mark.parametrize(("name", "filename", "model", "reader"), EXAMPLES, ids=IDS)
def test_the_published_schema_accepts_a_model_built_message(
    name: str, filename: str, model: Contract, reader: Reader
) -> None:
    assert errors(filename, json.loads(model.to_json())) == []


@pytest.mark.parametrize(("name", "filename", "model", "reader"), EXAMPLES, ids=IDS)
def test_the_reader_gets_back_what_the_writer_built(
    name: str, filename: str, model: Contract, reader: Reader
) -> None:
    assert reader.validate_json(model.to_json()) == model


def test_every_output_and_stage_schema_is_published_and_a_valid_2020_12_schema() -> None:
    assert set(schemas.OUTPUTS) == {
        "status.schema.json",
        "escalation.schema.json",
        "alert.schema.json",
        "audit.schema.json",
        "deadletter.schema.json",
        "action-item.schema.json",
        "warning.schema.json",
    }
    assert set(schemas.INTERNAL) == {"stage.schema.json", "partner-delivery.schema.json"}
    for filename in schemas.MODELS:
        schema = json.loads((schemas.SCHEMA_DIR / filename).read_text(encoding="utf-8"))
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].endswith("/" + filename)
        Draft202012Validator.check_schema(schema)
    assert "INTERNAL" in json.loads((schemas.SCHEMA_DIR / "stage.schema.json").read_text())["description"]


def test_each_status_kind_validates_only_as_its_own_kind() -> None:
    for kind, model in statuses().items():
        body = json.loads(model.to_json())
        assert STATUS.validate_python(body).kind == kind
        others = {"indicator", "area", "county", "site", "system"} - {kind}
        for other in others:
            assert errors("status.schema.json", {**body, "kind": other}), f"{kind} passed as {other}"


# --- every contract refuses a field it does not know -----------------------------------------------


@pytest.mark.parametrize(("name", "filename", "model", "reader"), EXAMPLES, ids=IDS)
def test_an_unknown_top_level_field_is_refused_by_reader_and_schema(
    name: str, filename: str, model: Contract, reader: Reader
) -> None:
    body = {**json.loads(model.to_json()), "surprise": 1}
    with pytest.raises(ValidationError, match="surprise"):
        reader.validate_python(body)
    assert any("surprise" in e for e in errors(filename, body))


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        # The fields the worker wrote before the contracts, each on a kind that does not carry it.
        ("area", "band", "amber"),
        ("area", "indicator", None),
        ("county", "aggregate_level", 2),
        ("indicator", "points", {}),
        ("site", "aggregate_level", 3),
        ("system", "normalised_level", 3),
        ("county", "k", "v"),
    ],
)
def test_a_status_with_a_field_its_kind_does_not_have_is_refused(kind: str, field: str, value: Any) -> None:
    body = {**json.loads(statuses()[kind].to_json()), field: value}
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        STATUS.validate_json(json.dumps(body))
    assert errors("status.schema.json", body)


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("status-area", ("held",)),
        ("status-county", ("override",)),
        ("status-site", ("points", "ed_4h_performance_pct")),
        ("escalation", ("data",)),
        ("escalation", ("data", "evidence")),
        ("escalation", ("data", "actions", 0)),
        ("escalation", ("data", "actions", 0, "start", 0)),
        ("alert-snapshot", ("statuses", 1)),
        ("stage", ("items", 0)),
        ("stage", ("items", 2, "submission", "parameters")),
        ("stage", ("items", 6, "changes", 0)),
    ],
)
def test_an_unknown_nested_field_is_refused_by_reader_and_schema(
    name: str, path: tuple[str | int, ...]
) -> None:
    _, filename, model, reader = next(example for example in EXAMPLES if example[0] == name)
    body = json.loads(model.to_json())
    node: Any = body
    for step in path:
        node = node[step]
    node["surprise"] = 1
    with pytest.raises(ValidationError, match="surprise"):
        reader.validate_python(body)
    assert errors(filename, body)


def test_a_daily_snapshot_refuses_a_status_its_reader_would() -> None:
    snapshot = json.loads(alerts()["snapshot"].to_json())
    snapshot["statuses"][0]["band"] = None
    snapshot["statuses"][0]["kind"] = "area"
    with pytest.raises(ValidationError):
        ALERT_MESSAGE.validate_python(snapshot)
    assert errors("alert.schema.json", snapshot)


def test_the_hand_written_audit_shape_of_alerting_is_refused() -> None:
    """Alerting's audit records once put the scope string in ``input``; the contract has an object."""
    body = {**json.loads(audit().to_json()), "input": "county/kent"}
    with pytest.raises(ValidationError):
        TypeAdapter(AuditRecord).validate_python(body)
    assert errors("audit.schema.json", body)


# --- the committed schemas are the generated ones ----------------------------------------------


@pytest.mark.parametrize("filename", list(schemas.MODELS))
def test_the_committed_schema_is_what_the_model_generates(filename: str) -> None:
    committed = (schemas.SCHEMA_DIR / filename).read_text(encoding="utf-8")
    assert committed == schemas.render(filename), f"{filename} is stale: run python -m opel.schemas"


def test_check_passes_on_the_committed_schemas(capsys: pytest.CaptureFixture[str]) -> None:
    assert schemas.main(["--check"]) == 0
    assert capsys.readouterr().err == ""


class _ChangedIndicator(IndicatorStatus):
    """An indicator status as a careless change might leave it: one more field."""

    trend: Literal["up", "down"] | None = None


def test_a_model_change_without_regenerating_fails_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for filename in schemas.MODELS:
        (tmp_path / filename).write_text(schemas.render(filename), encoding="utf-8")
    assert schemas.stale(tmp_path) == []

    changed: TypeAdapter[Any] = TypeAdapter(
        _ChangedIndicator | AreaStatus | CountyStatus | SiteStatus | SystemStatus
    )
    monkeypatch.setitem(schemas.MODELS, "status.schema.json", changed)
    assert schemas.stale(tmp_path) == [tmp_path / "status.schema.json"]

    monkeypatch.setattr(schemas, "SCHEMA_DIR", tmp_path)
    assert schemas.main(["--check"]) == 1
    assert "out of date: " + str(tmp_path / "status.schema.json") in capsys.readouterr().err
    assert schemas.main([]) == 0  # regenerating makes it current again
    assert schemas.main(["--check"]) == 0


def test_a_deleted_schema_fails_the_check(tmp_path: Path) -> None:
    for filename in schemas.MODELS:
        (tmp_path / filename).write_text(schemas.render(filename), encoding="utf-8")
    (tmp_path / "audit.schema.json").unlink()
    assert schemas.stale(tmp_path) == [tmp_path / "audit.schema.json"]


def test_contracts_are_frozen_and_strict() -> None:
    models: list[type[BaseModel]] = [
        IndicatorStatus,
        AreaStatus,
        CountyStatus,
        SiteStatus,
        SystemStatus,
        Held,
        SitePoints,
        EscalationEvent,
        EscalationData,
        Evidence,
        RoleActions,
        PlanAction,
        AlertDelivery,
        DailySnapshot,
        AuditRecord,
        DeadLetter,
        StageMessage,
        AreaReport,
        AreaChange,
    ]
    for model in models:
        assert model.model_config.get("extra") == "forbid", model.__name__
        assert model.model_config.get("frozen") is True, model.__name__


def test_an_audit_id_is_the_same_for_the_same_decision_and_differs_for_another_outcome() -> None:
    # Seen on opel.audit.v1 (tests/integration/test_exactly_once.py): an indicator stepped down
    # after its dwell and back up on a reading at the same instant, two transitions that shared
    # one id while the id left the outcome out.
    at = datetime(2026, 12, 1, 10, 6, 5, tzinfo=UTC)

    def transition(transition_id: str, from_level: int, to_level: int, rule: str) -> AuditRecord:
        outcome = {
            "id": transition_id,
            "from_level": from_level,
            "to_level": to_level,
            "hidden_by_override": False,
        }
        return audit_record("transition", "indicator/social_caseload/dgs", at, rule=rule, outcome=outcome)

    down = transition("235fc37b-f0a7-5646-b2fd-479371ef8b97", 4, 3, "escalation state (dwell)")
    up = transition("d52032fc-43d8-5185-bf9b-ae507ad51500", 3, 4, "escalation state (observation)")
    assert down.id != up.id
    assert transition("235fc37b-f0a7-5646-b2fd-479371ef8b97", 4, 3, "escalation state (dwell)").id == down.id
