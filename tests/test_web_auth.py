"""API auth: config loading, token lookup, roles; and 401/403 over a real local HTTP server."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest

from opel.actions_load import default_action_plan
from streams.broker import LOOPBACK
from streams.status_view import StatusView
from streams.web.auth import (
    AuthConfig,
    AuthConfigError,
    Permission,
    build_api_config,
    load_api_config,
)
from streams.web.server import WebServer

REPO: Final = Path(__file__).resolve().parent.parent
TOKEN: Final = "a-long-enough-token-0001"
OTHER: Final = "a-long-enough-token-0002"

CONFIG: Final[dict[str, Any]] = {
    "principals": {
        "group": {"roles": ["escalation_group"], "token_env": "T_GROUP"},
        "duty": {"roles": ["duty_manager", "viewer"], "token_env": "T_DUTY"},
        "idle": {"roles": ["viewer"], "token_env": "T_IDLE"},
    }
}


def test_example_config_loads_and_names_principals_without_tokens() -> None:
    config = load_api_config(REPO / "config" / "api.example.yaml", {"OPEL_API_TOKEN_DUTY_MANAGER": TOKEN})
    assert config.auth.reads_require_token is False
    assert config.board.stale_after == dt.timedelta(hours=26)
    assert "duty-manager" not in config.auth.without_token
    assert "escalation-group" in config.auth.without_token
    principal = config.auth.authenticate(TOKEN)
    assert principal is not None
    assert principal.name == "duty-manager"
    assert principal.may(Permission.ACK)
    assert not principal.may(Permission.OVERRIDE)


def test_tokens_come_only_from_the_environment() -> None:
    auth = build_api_config(CONFIG, {"T_GROUP": TOKEN, "T_DUTY": OTHER}).auth
    group, duty = auth.authenticate(TOKEN), auth.authenticate(OTHER)
    assert group is not None
    assert group.name == "group"
    assert duty is not None
    assert duty.name == "duty"
    assert auth.authenticate("a-long-enough-token-0003") is None
    assert auth.authenticate("") is None
    assert auth.without_token == ("idle",)
    assert TOKEN not in repr(group)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("escalation_group", {Permission.READ, Permission.OVERRIDE, Permission.EXERCISE}),
        ("duty_manager", {Permission.READ, Permission.ACK}),
        ("viewer", {Permission.READ}),
        ("partner", {Permission.READ}),
    ],
)
def test_role_permissions(role: str, allowed: set[Permission]) -> None:
    config = {"principals": {"p": {"roles": [role], "token_env": "T"}}}
    principal = build_api_config(config, {"T": TOKEN}).auth.authenticate(TOKEN)
    assert principal is not None
    assert principal.permissions == allowed


@pytest.mark.parametrize(
    ("config", "environ", "message"),
    [
        ({"principals": {"p": {"roles": ["admin"], "token_env": "T"}}}, {}, "principals.p.roles[0]"),
        (
            {"principals": {"p": {"roles": ["viewer"], "token_env": "T", "token": "x"}}},
            {},
            "principals.p.token",
        ),
        ({"principals": {"p": {"roles": [], "token_env": "T"}}}, {}, "principals.p.roles"),
        ({"principals": {"p": {"roles": ["viewer"], "token_env": "T"}}}, {"T": "short"}, "shorter than 16"),
        (
            {
                "principals": {
                    "p": {"roles": ["viewer"], "token_env": "T"},
                    "q": {"roles": ["viewer"], "token_env": "T"},
                }
            },
            {},
            "already used by p",
        ),
        ({"reads_require_tokens": True}, {}, "reads_require_tokens"),
        ({"board": {"stale_after_hours": 0}}, {}, "board.stale_after_hours"),
    ],
)
def test_bad_config_names_the_key(config: dict[str, Any], environ: dict[str, str], message: str) -> None:
    with pytest.raises(AuthConfigError, match=re.escape(message)):
        build_api_config(config, environ)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="cannot read"):
        load_api_config(tmp_path / "absent.yaml", {})


# --------------------------------------------------------------------------- over HTTP


async def _refuse_commands(command: dict[str, Any]) -> None:
    raise AssertionError(f"no command should be sent here, got {command}")


@pytest.fixture
async def server() -> AsyncIterator[WebServer]:
    auth = build_api_config({**CONFIG, "reads_require_token": True}, {"T_GROUP": TOKEN, "T_DUTY": OTHER}).auth
    # The view is never started: these requests are refused before any data is read.
    view = StatusView("127.0.0.1:9", use_metrics=False)
    web = WebServer(
        host=LOOPBACK,
        port=0,
        view=view,
        send_command=_refuse_commands,
        auth=auth,
        catalogues=list,
        action_plan=default_action_plan(),
    )
    await web.start()
    yield web
    await web.stop()


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/status", {}, 401),
        ("GET", "/status", {"Authorization": "Bearer wrong-token-wrong-token"}, 401),
        ("GET", "/status", {"Authorization": f"Token {TOKEN}"}, 401),
        ("GET", "/status", {"Authorization": "Bearer"}, 401),
        ("POST", "/overrides", {"Authorization": f"Bearer {OTHER}"}, 403),
        ("DELETE", "/overrides/ovr-1", {"Authorization": f"Bearer {OTHER}"}, 403),
        ("POST", "/alerts/a-1/ack", {"Authorization": f"Bearer {TOKEN}"}, 403),
        ("POST", "/alerts/a-1/ack", {}, 401),
    ],
)
async def test_refusals_are_problem_details(
    server: WebServer, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, server.url + path, headers=headers) as response,
    ):
        assert response.status == status
        assert response.content_type == "application/problem+json"
        problem = await response.json()
        assert problem["status"] == status
        assert set(problem) >= {"type", "title", "status", "detail"}
        if status == 401:
            assert response.headers["WWW-Authenticate"].startswith('Bearer realm="opel"')


async def test_server_binds_the_given_host_and_a_free_port(server: WebServer) -> None:
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession() as http, http.get(server.url + "/healthz") as response:
        assert response.status == 503  # the view is not consuming
        assert AuthConfig().authenticate(TOKEN) is None
