"""docs/openapi.yaml describes exactly the routes the server has, with the schemas callers need."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import yaml

from opel.actions import default_action_plan
from streams.status_view import StatusView
from streams.web.auth import AuthConfig
from streams.web.server import WebServer

REPO: Final = Path(__file__).resolve().parent.parent
SPEC: Final[dict[str, Any]] = yaml.safe_load((REPO / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
HTTP_METHODS: Final = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


async def _no_commands(command: dict[str, Any]) -> None:
    raise AssertionError("not called")


def server_routes() -> set[tuple[str, str]]:
    server = WebServer(
        host="127.0.0.1",
        port=0,
        view=StatusView("127.0.0.1:9", use_metrics=False),
        send_command=_no_commands,
        auth=AuthConfig(),
        catalogues=list,
        action_plan=default_action_plan(),
    )
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
