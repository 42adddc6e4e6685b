"""docs/openapi.yaml describes exactly the routes the server has, with the schemas callers need."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any, Final

import jsonschema
import pytest
import yaml
from pydantic import BaseModel
from support.demo import audit_entry, demo_statuses, referral_counted

from opel.actions_load import default_action_plan
from opel.alerting.events import keah_told_command
from opel.alerting.outputs import keah_told_audit
from opel.contracts.audit import AuditRecord
from opel.contracts.status import AreaStatus, CountyStatus, IndicatorStatus, SiteStatus, SystemStatus
from opel.feeds import ReferralEvent
from streams.status_view import StatusView
from streams.web.auth import AuthConfig
from streams.web.server import WebServer

REPO: Final = Path(__file__).resolve().parent.parent
SPEC: Final[dict[str, Any]] = yaml.safe_load((REPO / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
HTTP_METHODS: Final = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


async def _no_commands(command: dict[str, Any]) -> None:
    raise AssertionError("not called")


def _server(view: StatusView) -> WebServer:
    """A server over ``view`` that takes no commands: for what the read routes answer."""
    return WebServer(
        host="127.0.0.1",
        port=0,
        view=view,
        send_command=_no_commands,
        auth=AuthConfig(),
        catalogues=list,
        action_plan=default_action_plan(),
    )


def server_routes() -> set[tuple[str, str]]:
    server = _server(StatusView("127.0.0.1:9", use_metrics=False))
    found = set()
    for route in server.app.router.routes():
        # "/status/{scope:.+}" is "/status/{scope}" in OpenAPI terms.
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.resource.canonical if route.resource else "")
        found.add((route.method.upper(), path))
    return found


def spec_routes() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in SPEC["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def test_routes_and_spec_match_exactly() -> None:
    assert server_routes() == spec_routes()


def test_spec_has_the_schemas_callers_need() -> None:
    schemas = SPEC["components"]["schemas"]
    assert {"Status", "StatusList", "OverrideBody", "Problem"} <= set(schemas)
    assert schemas["Problem"]["required"] == ["type", "title", "status", "detail"]
    assert schemas["OverrideBody"]["additionalProperties"] is False
    assert set(schemas["OverrideBody"]["required"]) == {"scope", "level", "reason", "expires_at"}


def test_every_operation_has_an_id_and_writes_need_a_token() -> None:
    ids = []
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            ids.append(operation["operationId"])
            if method in {"post", "delete"}:
                assert operation["security"] == [{"bearerAuth": []}], path
                assert "401" in operation["responses"]
                assert "403" in operation["responses"]
                assert "422" in operation["responses"]
    assert len(ids) == len(set(ids))


STATUS_MODELS: Final[dict[str, type[BaseModel]]] = {
    "IndicatorStatus": IndicatorStatus,
    "AreaStatus": AreaStatus,
    "CountyStatus": CountyStatus,
    "SiteStatus": SiteStatus,
    "SystemStatus": SystemStatus,
    "AuditRecord": AuditRecord,
}


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 to JSON Schema: ``nullable: true`` becomes "or null"; everything else is kept."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def _validate(schema: dict[str, Any], body: Any) -> None:
    """Validate a response body with a route's response schema (which may refer to components)."""
    root = {"components": {"schemas": _json_schema(SPEC["components"]["schemas"])}}
    jsonschema.Draft202012Validator({**root, **_json_schema(schema)}).validate(body)


def openapi_validator(schema_name: str) -> jsonschema.Draft202012Validator:
    root = {"components": {"schemas": _json_schema(SPEC["components"]["schemas"])}}
    return jsonschema.Draft202012Validator({**root, "$ref": f"#/components/schemas/{schema_name}"})


@pytest.mark.parametrize("name", sorted(STATUS_MODELS))
def test_output_schemas_state_exactly_the_contracts_fields(name: str) -> None:
    """The API sends the contract's JSON: every field, always, and no other (``None`` as null)."""
    schema = SPEC["components"]["schemas"][name]
    fields = list(STATUS_MODELS[name].model_fields)
    assert schema["additionalProperties"] is False
    assert list(schema["properties"]) == fields
    assert schema["required"] == fields


def test_status_is_one_of_the_kinds_told_apart_by_kind() -> None:
    status = SPEC["components"]["schemas"]["Status"]
    assert status["discriminator"]["propertyName"] == "kind"
    for kind, ref in status["discriminator"]["mapping"].items():
        assert {"$ref": ref} in status["oneOf"]
        assert SPEC["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]["kind"]["enum"] == [kind]


def test_every_kind_of_status_and_an_audit_record_validate_against_the_spec() -> None:
    now = dt.datetime(2025, 11, 12, 9, 30, tzinfo=dt.UTC)
    statuses = demo_statuses(now)
    assert {status.kind for status in statuses} == {"indicator", "area", "county", "site", "system"}
    assert any(status.held for status in statuses)
    assert any(status.override for status in statuses)
    validator = openapi_validator("Status")
    for status in statuses:
        validator.validate(json.loads(status.to_json()))
    wrong = {**json.loads(statuses[0].to_json()), "points": 3}
    assert not validator.is_valid(wrong)
    record = audit_entry("area/dgs", "transition", now, outcome={"to_level": 3})
    openapi_validator("AuditRecord").validate(json.loads(record.to_json()))


async def test_the_timeline_route_answers_as_the_spec_says() -> None:
    from aiohttp.test_utils import TestClient, TestServer  # noqa: PLC0415

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    view = StatusView("127.0.0.1:9", use_metrics=False)
    for status in demo_statuses(now):
        view.apply_status_record(status.scope, status)
    server = _server(view)
    async with TestClient(TestServer(server.app)) as client:
        response = await client.get("/timeline")
        assert response.status == 200
        body = await response.json()
    schema = SPEC["paths"]["/timeline"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    _validate(schema, body)
    scopes = [entry["scope"] for entry in body["scopes"]]
    assert scopes[0] == "county/kent"
    assert scopes[1:5] == ["area/dgs", "area/east_kent", "area/swale", "area/west_kent"]
    assert all(entry["changes"] for entry in body["scopes"])


async def test_the_open_keah_route_lists_the_referrals_awaiting_referrer_told() -> None:
    from aiohttp.test_utils import TestClient, TestServer  # noqa: PLC0415

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def keah(event_id: str, minutes_ago: int, *, starts: bool = True, service: str = "keah") -> ReferralEvent:
        return ReferralEvent(
            event_id=event_id,
            area="swale",
            kind="received",
            service=service,
            occurred_at=now - dt.timedelta(minutes=minutes_ago),
            ref=f"CASE-{event_id}",
            start_date_within_24h=not starts,
        )

    view = StatusView("127.0.0.1:9", use_metrics=False)
    for event in (
        keah("late", 150),
        keah("waiting", 30),
        keah("told", 20),
        keah("has-a-start", 10, starts=False),
        keah("stp", 10, service="stp"),
    ):
        view.apply_audit_record(referral_counted(event))
    told = keah_told_command({"event_id": "told", "author": "keah-organiser"}, now)
    view.apply_audit_record(keah_told_audit(told, "referrer told", recorded=True).value)
    server = _server(view)
    async with TestClient(TestServer(server.app)) as client:
        response = await client.get("/keah/open")
        assert response.status == 200
        text = await response.text()
    body = json.loads(text)
    schema = SPEC["paths"]["/keah/open"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    _validate(schema, body)
    assert body["within_seconds"] == 7200
    # Oldest first; the confirmed one, one with a start date and an STP referral are not waiting.
    assert [(r["event_id"], r["overdue"]) for r in body["referrals"]] == [("late", True), ("waiting", False)]
    late = body["referrals"][0]
    assert dt.datetime.fromisoformat(late["due_at"]) == now - dt.timedelta(minutes=30)
    assert late["area"] == "swale"
    assert "CASE-" not in text  # a referral's ref names a case in the source system
