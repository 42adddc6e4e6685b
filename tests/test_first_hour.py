"""The first hour with opel (issue 14): the small surprises a newcomer met, each pinned down."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.readme import exported as _exported
from support.readme import readme_section as _readme_section
from support.readme import shell_blocks as _shell_blocks

from opel.actions_load import default_action_plan
from opel.alerting.routing import ClockConfig
from opel.assess_lines import LineAssessor
from opel.catalogue_load import (
    DEFAULT_ACUTE_CATALOGUE,
    DEFAULT_INDICATOR_CATALOGUE,
    load_acute_catalogue,
    load_indicator_catalogue,
)
from opel.cli import build_parser, main
from opel.stages.context import InputBounds
from streams.alerting.scheduler import PlanClock
from streams.broker import LOOPBACK
from streams.catalogues import CatalogueStore
from streams.settings import Settings
from streams.status_view import StatusView
from streams.web.auth import Permission, load_api_config
from streams.web.inputs import OverrideBody
from streams.web.server import WebServer

REPO = Path(__file__).resolve().parent.parent


def test_the_data_folder_is_git_ignored() -> None:
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", ".opel-data/broker.url"],
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, ".opel-data/ (OPEL_DATA_DIR's default) must be in .gitignore"


def test_the_plan_clock_does_not_log_every_minute(caplog: pytest.LogCaptureFixture) -> None:
    """APScheduler logs each job run at INFO; the elapsed-time job runs every minute."""

    async def tick() -> None:
        woken = asyncio.Event()
        clock = PlanClock(ClockConfig(), woken.set)
        clock.start()
        try:
            for job in clock._scheduler.get_jobs():
                job.modify(next_run_time=datetime.now(UTC))  # every job due now
            clock._scheduler.wakeup()
            await asyncio.wait_for(woken.wait(), 5)
            await asyncio.sleep(0.1)  # let the executor log the run's end
        finally:
            clock.stop()

    with caplog.at_level(logging.INFO):
        asyncio.run(tick())
    chatter = [r.getMessage() for r in caplog.records if r.name.startswith("apscheduler")]
    assert chatter == []


# --------------------------------------------------------------------------- opel produce checks first


def _recent(minutes_ago: int = 30) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def _lines(path: Path, values: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(v) + "\n" for v in values), encoding="utf-8")
    return path


def _assess_error(value: dict[str, Any]) -> str:
    """What `opel assess` says about one line."""
    assessor = LineAssessor(
        load_indicator_catalogue(DEFAULT_INDICATOR_CATALOGUE), load_acute_catalogue(DEFAULT_ACUTE_CATALOGUE)
    )
    [answer] = assessor.run([json.dumps(value).encode()])
    error: str = json.loads(answer)["error"]
    return error


@pytest.fixture
def no_opel_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("OPEL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPEL_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.usefixtures("no_opel_settings")
def test_produce_refuses_what_assess_refuses_in_the_same_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    at = _recent()
    unknown_indicator = {"indicator": "bed_days", "area": "dgs", "value": 3, "observed_at": at}
    unknown_area = {"indicator": "stp_staffing_pct", "area": "medway", "value": 80, "observed_at": at}
    forty = {"indicator": "stp_staffing_pct", "area": "swale", "value": "forty", "observed_at": at}
    unknown_site = {"site": "guys", "observed_at": at, "parameters": {"ed_4h_performance_pct": 70}}
    event = {"event_id": "e-1", "area": "medway", "kind": "received", "occurred_at": at}
    override = {
        "type": "override",
        "id": "ovr-1",
        "scope": "area/medway",
        "level": 4,
        "author": "escalation-group",
        "reason": "test",
        "at": at,
        "expires_at": _recent(-60),
    }
    path = _lines(
        tmp_path / "in.jsonl", [unknown_indicator, unknown_area, forty, unknown_site, event, override]
    )
    # Nothing listens on port 1: every line is refused, so nothing is sent and the broker is not asked.
    assert main(["produce", str(path), "--broker", "127.0.0.1:1"]) == 1
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert errors[:4] == [
        f"line 1: unknown_indicator: {_assess_error(unknown_indicator)}",
        f"line 2: unknown_area: {_assess_error(unknown_area)}",
        f"line 3: invalid: {_assess_error(forty)}",
        f"line 4: unknown_site: {_assess_error(unknown_site)}",
    ]
    assert errors[2] == "line 3: invalid: value: stp_staffing_pct takes a number, got 'forty'"
    assert errors[4] == "line 5: unknown_area: area: unknown area 'medway' in kcc-asch-2025-26"
    assert errors[5] == "line 6: invalid: scope: unknown area 'medway' in scope 'area/medway'"
    assert len(errors) == 6
    assert "0 sent, 6 invalid" in captured.out


NOISE = ("Unclosed", "Traceback", "Unable connect", "Task exception")


@pytest.mark.usefixtures("no_opel_settings")
@pytest.mark.parametrize("command", ["produce", "tail", "demo"])
def test_without_a_broker_each_command_says_so_in_one_clean_line(command: str, tmp_path: Path) -> None:
    path = _lines(
        tmp_path / "one.jsonl",
        [{"indicator": "referrals", "area": "dgs", "value": 1, "observed_at": _recent()}],
    )
    argv = {
        "produce": ["produce", str(path), "--timeout", "5"],
        "tail": ["tail", "alerts", "--timeout", "1"],
        "demo": ["demo", "--speed", "100"],
    }[command]
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OPEL_")}
    env["OPEL_BROKER_URL"] = "127.0.0.1:1"  # nothing listens there
    done = subprocess.run(
        [sys.executable, "-m", "opel.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3
    lines = done.stderr.splitlines()
    verb = "read from" if command == "tail" else "send to"
    assert lines == [
        f"opel {command}: could not {verb} 127.0.0.1:1: no broker answers there; start `opel run`, "
        "or check --broker and OPEL_BROKER_URL"
    ], done.stderr
    assert not any(noise in done.stderr for noise in NOISE)


# --------------------------------------------------------------------------- opel token create

EXAMPLE_CONFIG = REPO / "config" / "api.example.yaml"


def _opel(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("OPEL_")}
    return subprocess.run(
        [sys.executable, "-m", "opel.cli", *argv],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_token_create_prints_a_new_token_and_the_line_that_enables_it(tmp_path: Path) -> None:
    first, second = (_opel("token", "create", "--role", "escalation_group", cwd=tmp_path) for _ in range(2))
    assert first.returncode == 0, first.stderr
    [line] = first.stdout.splitlines()  # one line, so `> file` then `. file` (or eval) enables it
    variable, token = _exported(line)
    assert variable == "OPEL_API_TOKEN_ESCALATION_GROUP"
    assert len(token) >= 32
    assert _exported(second.stdout.strip())[1] != token
    assert "escalation-group" in first.stderr
    assert "opel run" in first.stderr

    principal = load_api_config(EXAMPLE_CONFIG, {variable: token}).auth.authenticate(token)
    assert principal is not None
    assert principal.name == "escalation-group"
    assert principal.may(Permission.OVERRIDE)


def test_token_create_for_a_role_several_principals_hold_asks_which(tmp_path: Path) -> None:
    done = _opel("token", "create", "--role", "viewer", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "board, prometheus" in done.stderr
    assert "--principal" in done.stderr
    chosen = _opel("token", "create", "--role", "viewer", "--principal", "prometheus", cwd=tmp_path)
    assert chosen.returncode == 0, chosen.stderr
    assert _exported(chosen.stdout.strip())[0] == "OPEL_API_TOKEN_PROMETHEUS"


def test_token_create_for_an_unknown_role_lists_the_roles(tmp_path: Path) -> None:
    done = _opel("token", "create", "--role", "admin", cwd=tmp_path)
    assert done.returncode == 2
    assert "escalation_group, duty_manager, viewer" in done.stderr


def test_token_create_reads_the_configured_api_file(tmp_path: Path) -> None:
    config = tmp_path / "api.yaml"
    config.write_text(
        "principals:\n  on-call:\n    roles: [duty_manager]\n    token_env: MY_ON_CALL_TOKEN\n",
        encoding="utf-8",
    )
    done = _opel(
        "token", "create", "--role", "duty_manager", cwd=tmp_path, env={"OPEL_API_CONFIG": str(config)}
    )
    assert done.returncode == 0, done.stderr
    assert _exported(done.stdout.strip())[0] == "MY_ON_CALL_TOKEN"
    none = _opel(
        "token", "create", "--role", "escalation_group", cwd=tmp_path, env={"OPEL_API_CONFIG": str(config)}
    )
    assert none.returncode == 2
    assert "no principal in api.yaml has the role escalation_group" in none.stderr


# --------------------------------------------------------------------------- README: a change from the API


FAKE_CURL = """
curl() {
    printf '%s\\0' "$@" > "$CURL_ARGS"
    if [ "${1:-}" != "-s" ] || [ "${2:-}" != "-X" ]; then return 0; fi
    cat > "$CURL_BODY"
}
"""


async def test_the_readme_api_example_works_as_copied(tmp_path: Path) -> None:
    """The README's three steps, run by bash as written (curl replaced by a recorder), then the
    recorded request sent to the API with the example config and the catalogues in force.

    Without a demo, port 8080 or a broker, so it runs in every tier and wherever 8080 is taken;
    tests/integration/test_readme_demo.py runs the same steps against `make run ARGS=--demo`."""
    steps = _shell_blocks(_readme_section("Make a change from the API"))
    assert len(steps) == 3, steps
    make_token, _, start_demo = steps[0].partition("\n")
    assert "make run ARGS=--demo" in start_demo
    opel_bin = Path(sys.executable).parent / "opel"
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OPEL_")}
    env |= {"CURL_ARGS": str(tmp_path / "args"), "CURL_BODY": str(tmp_path / "body")}
    made = subprocess.run(
        ["bash", "-euc", make_token.replace(".venv/bin/opel", str(opel_bin))],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    post = subprocess.run(
        ["bash", "-euc", FAKE_CURL + steps[1]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert post.returncode == 0, post.stderr
    args = (tmp_path / "args").read_text(encoding="utf-8").split("\0")[:-1]
    body = (tmp_path / "body").read_bytes()
    assert args[:3] == ["-s", "-X", "POST"]
    url = args[3]
    assert url == "http://127.0.0.1:8080/overrides"
    headers = dict(value.split(": ", 1) for flag, value in itertools.pairwise(args) if flag == "-H")

    # The body as the API reads it: the override request, expiring after now and within the limit.
    now = datetime.now(UTC)
    request = OverrideBody.model_validate_json(body)
    assert request.scope == "area/east_kent"
    assert now < request.expires_at < now + InputBounds().max_override

    # And the request itself, against the API with the example config and the token made in step 1.
    variable, token = _exported(
        (tmp_path / ".opel-data" / "api-token.env").read_text(encoding="utf-8").strip()
    )
    assert headers["Authorization"] == f"Bearer {token}"
    sent: list[dict[str, Any]] = []

    async def record(command: dict[str, Any]) -> None:
        sent.append(command)

    store = CatalogueStore(Settings.load(data_dir=tmp_path / "data"))
    server = WebServer(
        host=LOOPBACK,
        port=0,
        view=StatusView("127.0.0.1:9", use_metrics=False),
        send_command=record,
        auth=load_api_config(EXAMPLE_CONFIG, {variable: token}).auth,
        catalogues=store.versions,
        action_plan=default_action_plan(),
    )
    await server.start()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(url.replace("http://127.0.0.1:8080", server.url), headers=headers, data=body) as answer,
        ):
            assert answer.status == 202, await answer.text()
    finally:
        await server.stop()
    [command] = sent
    assert (command["type"], command["scope"], command["level"]) == ("override", "area/east_kent", 4)
    assert command["author"] == "escalation-group"
    assert datetime.fromisoformat(command["expires_at"]) > datetime.fromisoformat(command["at"])

    look = _shell_blocks(_readme_section("Make a change from the API"))[2]
    assert "http://127.0.0.1:8080/status/area/east_kent" in look


# --------------------------------------------------------------------------- README: restarts, commands


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split()))]


def test_the_readme_says_the_embedded_broker_starts_empty_and_how_to_keep_data() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    restarts = " ".join(_readme_section("Data across restarts").split())
    assert "starts empty every time" in restarts
    assert "--broker" in restarts
    assert "OPEL_BROKER_URL" in restarts
    assert "docs/kafka.md" in restarts
    for sentence in _sentences(readme):
        if re.search(r"nothing is lost|read again (on|when it) restart", sentence):
            assert "external" in sentence, f"promises durability for the embedded default: {sentence!r}"


def test_the_readme_command_table_names_every_command_and_only_real_ones() -> None:
    section = _readme_section("Assess readings without a broker")
    named = set(re.findall(r"^\| `opel ([a-z]+)", section, flags=re.MULTILINE))
    assert {"demo", "produce", "tail", "run", "token", "actions", "catalogue"} <= named
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert named <= set(commands.choices)


async def test_start_up_names_the_roles_that_can_log_in_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No warning per principal without a token (there were four at every start): one info line
    listing the roles that can log in."""

    async def record(command: dict[str, Any]) -> None:
        del command

    variable = "OPEL_API_TOKEN_ESCALATION_GROUP"
    server = WebServer(
        host=LOOPBACK,
        port=0,
        view=StatusView("127.0.0.1:9", use_metrics=False),
        send_command=record,
        auth=load_api_config(EXAMPLE_CONFIG, {variable: "a-token-of-24-characters"}).auth,
        catalogues=CatalogueStore(Settings.load(data_dir=tmp_path / "data")).versions,
        action_plan=default_action_plan(),
    )
    caplog.set_level(logging.INFO, logger="streams.web.server")
    await server.start()
    await server.stop()
    server_lines = [r for r in caplog.records if r.name == "streams.web.server"]
    assert [r.levelno for r in server_lines if r.levelno >= logging.WARNING] == []
    [line] = [r.getMessage() for r in server_lines if "can log in" in r.getMessage()]
    assert line.startswith("API roles that can log in: escalation_group")
