"""The exercise routes without a running exercise or a broker: a bad scenario is 422 naming the key
(nothing starts), stop with none running is 409, no report is 404, the state is ``none``, and a
server without alerting answers 503. A real exercise runs in tests/integration/test_exercise_live.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.local_stack import log_routing

from opel.actions_load import default_action_plan
from opel.cli import main
from opel.contracts.exercise_state import ExerciseState
from streams.exercise.desk import ExerciseDesk
from streams.status_view import StatusView
from streams.web.auth import build_api_config
from streams.web.server import WebServer

ROOT: Final = Path(__file__).resolve().parent.parent
SURGE: Final = (ROOT / "triggers" / "exercises" / "east-kent-winter-surge.yaml").read_text(encoding="utf-8")
GROUP: Final = {"Authorization": "Bearer escalation-group-token-0123"}
SP: Final = {"Authorization": "Bearer senior-practitioner-token-0123"}
CONFIG: Final = {
    "principals": {
        "group": {"roles": ["escalation_group"], "token_env": "T_G"},
        "sp": {"roles": ["senior_practitioner"], "token_env": "T_SP"},
    }
}


async def _no_commands(command: dict[str, Any]) -> None:
    raise AssertionError("not called")


def server(desk: ExerciseDesk | None) -> WebServer:
    env = {"T_G": GROUP["Authorization"][7:], "T_SP": SP["Authorization"][7:]}
    return WebServer(
        host="127.0.0.1",
        port=0,
        view=StatusView("127.0.0.1:9", use_metrics=False),
        send_command=_no_commands,
        auth=build_api_config(CONFIG, env).auth,
        catalogues=list,
        action_plan=default_action_plan(),
        exercise=desk,
    )


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    # Nothing listens on port 9: a start that got as far as Kafka would fail, not pass.
    desk = ExerciseDesk(
        bootstrap="127.0.0.1:9",
        routing_file=Path("<test routing>"),
        app_id="opel-test",
        routing_loader=lambda _: log_routing(["duty"]),
    )
    async with TestClient(TestServer(server(desk).app)) as test_client:
        yield test_client
    await desk.close()


async def test_before_any_exercise(client: TestClient[Any, Any]) -> None:
    response = await client.get("/exercise")
    assert response.status == 200
    assert ExerciseState.model_validate(await response.json()) == ExerciseState(status="none")
    assert (await client.get("/exercise/report.html")).status == 404
    assert (await client.post("/exercise/stop", headers=GROUP)).status == 409
    items = await client.get("/exercise/action-items")
    assert await items.json() == {"now": None, "items": []}
    assert (await client.post("/exercise/action-items/x", json={"state": "done"}, headers=SP)).status == 404


@pytest.mark.parametrize(
    ("scenario", "field", "words"),
    [
        (SURGE.replace("value: 65", "value: lots"), "scenario.injects[1].reading.value", "valid number"),
        (SURGE.replace("duration: PT8H", "duration: soon"), "scenario.duration", "is not an offset"),
        (SURGE.replace("area: east_kent, value: 45", "area: atlantis, value: 45"), "scenario.injects[2]", ""),
        (
            SURGE.replace("senior_practitioner.l2.shrewd_daily", "senior_practitioner.l2.shrewd_dialy"),
            "scenario.expected[0].action",
            "is not in action plan",
        ),
        ("name: [unclosed", "scenario", "line 1, column 16: invalid YAML"),
        ("- a list", "scenario", "top level must be a mapping"),
        (
            SURGE.replace("catalogue: kcc-asch-2025-26", "catalogue: no-such-catalogue"),
            "scenario.catalogue",
            "",
        ),
    ],
)
async def test_a_bad_scenario_is_422_naming_the_key_and_nothing_starts(
    client: TestClient[Any, Any], scenario: str, field: str, words: str
) -> None:
    response = await client.post("/exercise", json={"scenario": scenario, "speed": 60}, headers=GROUP)
    body = await response.json()
    assert response.status == 422, body
    assert body["field"].startswith(field)
    assert words in body["detail"]
    assert body["detail"].startswith(body["field"])
    assert (await (await client.get("/exercise")).json())["status"] == "none"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scenario": SURGE, "speed": 0}, "speed"),
        ({"scenario": SURGE, "speed": 3601}, "speed"),
        ({"scenario": ""}, "scenario"),
        ({"scenario": SURGE, "pace": 2}, "pace"),
    ],
)
async def test_a_bad_body_is_422_naming_the_field(
    client: TestClient[Any, Any], body: dict[str, Any], field: str
) -> None:
    response = await client.post("/exercise", json=body, headers=GROUP)
    assert response.status == 422
    assert (await response.json())["field"] == field


async def test_only_the_escalation_group_starts_and_stops(client: TestClient[Any, Any]) -> None:
    assert (await client.post("/exercise", json={"scenario": SURGE}, headers=SP)).status == 403
    assert (await client.post("/exercise/stop", headers=SP)).status == 403
    assert (await client.post("/exercise", json={"scenario": SURGE})).status == 401


async def test_without_alerting_the_routes_are_503() -> None:
    async with TestClient(TestServer(server(None).app)) as test_client:
        response = await test_client.get("/exercise")
        assert response.status == 503
        assert "routing file" in (await response.json())["detail"]


# --- opel exercise start | stop | status: the CLI against a real server on 127.0.0.1 ---------------


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    desk = ExerciseDesk(
        bootstrap="127.0.0.1:9",
        routing_file=Path("<test routing>"),
        app_id="opel-test",
        routing_loader=lambda _: log_routing(["duty"]),
    )
    web = server(desk)
    await web.start()
    yield web.url
    await web.stop()
    await desk.close()


async def opel(*argv: str) -> int:
    return await asyncio.to_thread(main, ["exercise", *argv])


async def test_cli_status_before_any_exercise(base_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await opel("status", "--url", base_url) == 0
    assert capsys.readouterr().out == "no exercise has run since the worker started\n"
    assert await opel("status", "--url", base_url, "--json") == 0
    assert ExerciseState.model_validate_json(capsys.readouterr().out).status == "none"


async def test_cli_refusals_are_one_line_and_exit_2(
    base_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPEL_API_TOKEN_ESCALATION_GROUP", GROUP["Authorization"][7:])
    bad = tmp_path / "bad.yaml"
    bad.write_text(SURGE.replace("value: 65", "value: lots"), encoding="utf-8")
    assert await opel("start", str(bad), "--speed", "60", "--url", base_url) == 2
    err = capsys.readouterr().err
    assert err == (
        "opel exercise start: 422: scenario.injects[1].reading.value: Input should be a valid number, "
        "unable to parse string as a number (got 'lots')\n"
    )
    assert await opel("stop", "--url", base_url) == 2
    assert capsys.readouterr().err == "opel exercise stop: 409: no exercise is running\n"
    assert await opel("start", str(tmp_path / "missing.yaml"), "--url", base_url) == 2
    assert "missing.yaml: cannot read file" in capsys.readouterr().err
    monkeypatch.delenv("OPEL_API_TOKEN_ESCALATION_GROUP")
    assert await opel("stop", "--url", base_url) == 2
    err = capsys.readouterr().err
    assert err.startswith("opel exercise stop: 401: ")
    assert err.count("\n") == 1


async def test_cli_unreachable_server_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert await opel("status", "--url", "http://127.0.0.1:9") == 1
    err = capsys.readouterr().err
    assert err.startswith("opel exercise status: cannot reach the opel API at http://127.0.0.1:9: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_cli_speed_outside_its_bounds_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["exercise", "start", "s.yaml", "--speed", "0"])
    assert exit_info.value.code == 2
    assert "--speed: must be from 1 to 3600, got 0" in capsys.readouterr().err
