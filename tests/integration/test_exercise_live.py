"""A live exercise through the running worker (issue 16, point 5 and its acceptance).

The East Kent winter surge is started through ``POST /exercise`` at a speed that plays its eight
hours in some forty seconds. While it runs, the KEaH organisers mark their "tell the referrer"
item done on time and the senior practitioner marks the SHREWD update late, both through the
API in scenario time, and one live reading escalates West Kent. Afterwards: the exercise's
webhook got only EXERCISE messages and the live one none of them (but the live escalation, as
normal); the live statuses are those from before, bar the live reading's scopes; and the report
has the on-time, late and never-done items.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest
import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from opel.cli import main
from opel.contracts.exercise_report import ExerciseReport
from opel.contracts.exercise_state import ExerciseState
from streams import topics
from streams.broker import EmbeddedBroker
from streams.run_command import alerting_extra, web_extra
from streams.worker import start, stop

from .service import fresh_broker, latest_status, produce, read_all, reading, wait_for, worker_settings

pytestmark = pytest.mark.slow

ROOT: Final = Path(__file__).resolve().parents[2]
SCENARIO: Final = ROOT / "triggers" / "exercises" / "east-kent-winter-surge.yaml"
SPEED: Final = 720  # 8 scenario hours in 40 s
TOKENS: Final = {
    "T_EX_GROUP": "escalation-group-token-0123456789",
    "T_EX_SP": "senior-practitioner-token-0123456789",
    "T_EX_KEAH": "keah-organisers-token-0123456789ab",
    "T_EX_DUTY": "duty-manager-token-0123456789abcdef",
}
KEAH_TOLD: Final = "keah_locality_organisers.l2.tell_referrer_2h"
SHREWD_DAILY: Final = "senior_practitioner.l2.shrewd_daily"
EAST_KENT: Final = "area/east_kent"
# The live reading's own scopes: the only live statuses the test lets change.
LIVE_CHANGED: Final = {"indicator/stp_staffing_pct/west_kent", "area/west_kent", "county/kent"}


class Hook:
    """A webhook receiver on 127.0.0.1 that keeps every message's title (Teams style)."""

    def __init__(self) -> None:
        self.titles: list[str] = []
        self.alert_ids: list[str] = []
        self.url = ""


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = fresh_broker(tmp_path)
    yield broker
    broker.stop()


@pytest.fixture
async def hooks() -> AsyncIterator[tuple[Hook, Hook]]:
    live, exercise = Hook(), Hook()

    def handler(hook: Hook) -> Any:
        async def handle(request: web.Request) -> web.Response:
            body = await request.json()
            hook.titles.append(body["title"])
            if "overdue" not in body["title"]:  # a reminder's ids are its notice's, not alerts'
                hook.alert_ids += body["opel"]["alert_ids"]
            return web.Response(text="ok")

        return handle

    app = web.Application()
    app.router.add_post("/live", handler(live))
    app.router.add_post("/exercise", handler(exercise))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    live.url, exercise.url = f"http://127.0.0.1:{port}/live", f"http://127.0.0.1:{port}/exercise"
    yield live, exercise
    await runner.cleanup()


def write_routing(path: Path) -> Path:
    """A live route to webhook A (the duty line) and the exercise route to webhook B (a role the
    live routes never name stands for exercise control: routing roles are the plan's)."""
    data = {
        "defaults": {"group_wait": 1, "group_interval": 1, "repeat_interval": 36000, "hold": 5},
        "retry": {"initial": 0.2, "maximum": 1, "factor": 2, "jitter": 0.1, "attempts": 5},
        "channel_timeout": 5,
        "channels": {
            "live": {"type": "webhook", "url": "${OPEL_EX_HOOK_LIVE}", "style": "teams"},
            "exercise": {"type": "webhook", "url": "${OPEL_EX_HOOK_EXERCISE}", "style": "teams"},
        },
        "roles": {
            "duty": {"contacts": [{"id": "duty", "name": "Duty manager", "channel": "live"}]},
            "out_of_hours_service": {
                "contacts": [{"id": "control", "name": "Exercise control", "channel": "exercise"}]
            },
        },
        "routes": [
            {"name": "areas", "match": {"kinds": ["area"], "level_at_least": 2}, "roles": ["duty"]},
            {
                "name": "exercise",
                "match": {"exercise": True, "level_at_least": 2},
                "roles": ["out_of_hours_service"],
            },
        ],
    }
    path.write_text(yaml.safe_dump(data))
    return path


def write_api_config(path: Path) -> Path:
    data = {
        "principals": {
            "group": {"roles": ["escalation_group"], "token_env": "T_EX_GROUP"},
            "sp-east-kent": {"roles": ["senior_practitioner"], "token_env": "T_EX_SP"},
            "keah-east-kent": {"roles": ["keah_locality_organisers"], "token_env": "T_EX_KEAH"},
            "duty": {"roles": ["duty_manager"], "token_env": "T_EX_DUTY"},
        }
    }
    path.write_text(yaml.safe_dump(data))
    return path


def bearer(env: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[env]}"}


async def exercise_state(session: aiohttp.ClientSession, base: str) -> ExerciseState:
    async with session.get(f"{base}/exercise") as response:
        assert response.status == 200
        return ExerciseState.model_validate(await response.json())


async def open_item(session: aiohttp.ClientSession, base: str, action: str) -> dict[str, Any] | None:
    async with session.get(f"{base}/exercise/action-items") as response:
        items = (await response.json())["items"]
    return next(
        (i for i in items if i["action_id"] == action and i["scope"] == EAST_KENT and i["state"] == "open"),
        None,
    )


async def mark_done(session: aiohttp.ClientSession, base: str, item: dict[str, Any], token: str) -> None:
    async with session.post(
        f"{base}/exercise/action-items/{item['id']}", json={"state": "done"}, headers=bearer(token)
    ) as response:
        assert response.status == 202, await response.text()


async def test_exercise_pages_only_exercise_contacts_and_leaves_live_alone(
    own_broker: EmbeddedBroker, tmp_path: Path, hooks: tuple[Hook, Hook], monkeypatch: pytest.MonkeyPatch
) -> None:
    live_hook, exercise_hook = hooks
    monkeypatch.setenv("OPEL_EX_HOOK_LIVE", live_hook.url)
    monkeypatch.setenv("OPEL_EX_HOOK_EXERCISE", exercise_hook.url)
    for env, token in TOKENS.items():
        monkeypatch.setenv(env, token)
    settings = worker_settings(
        own_broker,
        tmp_path,
        web_port=0,
        routing_file=write_routing(tmp_path / "routing.yaml"),
        api_config=write_api_config(tmp_path / "api.yaml"),
    )
    running = await start(settings, (web_extra, alerting_extra))
    try:
        assert running.web_url is not None
        base = running.web_url
        now = datetime.now(UTC).replace(microsecond=0)
        areas = ("dgs", "east_kent", "swale", "west_kent")
        await produce(
            own_broker.bootstrap, [reading("stp_staffing_pct", a, 90, now.isoformat()) for a in areas]
        )

        async def all_green() -> dict[str, Any] | None:
            found = await latest_status(own_broker.bootstrap)
            wanted = [f"area/{a}" for a in areas] + ["county/kent"]
            return found if all(found.get(s, {}).get("level") == 1 for s in wanted) else None

        # 1. The live statuses (the topic, and what the API shows) before the exercise.
        before = await wait_for(all_green)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/status") as response:
                shown_before = {s["scope"]: s["level"] for s in (await response.json())["statuses"]}
            assert shown_before[EAST_KENT] == 1
            assert (await exercise_state(session, base)).status == "none"
            async with session.get(f"{base}/exercise/report.html") as response:
                assert response.status == 404

            # 2. Start it; a second start is refused while it runs, as is a caller without the role.
            body = {"scenario": SCENARIO.read_text(encoding="utf-8"), "speed": SPEED}
            async with session.post(f"{base}/exercise", json=body, headers=bearer("T_EX_SP")) as response:
                assert response.status == 403
            async with session.post(f"{base}/exercise", json=body, headers=bearer("T_EX_GROUP")) as response:
                assert response.status == 202, await response.text()
                started = ExerciseState.model_validate(await response.json())
            assert (started.status, started.name, started.speed) == (
                "running",
                "east-kent-winter-surge",
                SPEED,
            )
            async with session.post(f"{base}/exercise", json=body, headers=bearer("T_EX_GROUP")) as response:
                assert response.status == 409
            assert await metric(session, base, "opel_exercise_running") == 1.0

            # 3a. On time: the referrer told as soon as the item opens (due two hours after 08:00).
            keah = await wait_for(lambda: open_item(session, base, KEAH_TOLD), timeout=30, every=0.2)
            marked_at = (await exercise_state(session, base)).scenario_now
            await mark_done(session, base, keah, "T_EX_KEAH")
            assert marked_at is not None
            assert marked_at < datetime(2026, 1, 5, 9, 30, tzinfo=UTC)

            # 3c. The exercise control acknowledges the first EXERCISE alert it was sent.
            await wait_for(lambda: _async(exercise_hook.alert_ids), timeout=30, every=0.2)
            async with session.post(
                f"{base}/exercise/alerts/{exercise_hook.alert_ids[0]}/ack",
                json={"note": "seen"},
                headers=bearer("T_EX_DUTY"),
            ) as response:
                assert response.status == 202, await response.text()
                assert (await response.json())["type"] == "ack"

            # 4. A live reading during the exercise escalates West Kent for real.
            later = (now + timedelta(minutes=1)).isoformat()
            await produce(own_broker.bootstrap, [reading("stp_staffing_pct", "west_kent", 45, later)])

            # 3b. Late: SHREWD updated only after its 10:30 deadline (the item opened at 08:00).
            async def past_deadline() -> ExerciseState | None:
                state = await exercise_state(session, base)
                due = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
                return state if state.scenario_now is not None and state.scenario_now >= due else None

            await wait_for(past_deadline, timeout=60, every=0.2)
            shrewd = await open_item(session, base, SHREWD_DAILY)
            assert shrewd is not None
            await mark_done(session, base, shrewd, "T_EX_SP")

            # 5. It ends by itself when its eight hours have passed.
            async def ended() -> ExerciseState | None:
                state = await exercise_state(session, base)
                return state if state.status == "finished" else None

            final = await wait_for(ended, timeout=90)
            assert final.injects_played == final.injects_total > 0
            assert final.scenario_now == datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
            report = final.report
            assert report is not None
            outcomes = {(r.action_id, r.scope): (r.outcome, r.late_by_minutes) for r in report.expected}
            assert outcomes[(KEAH_TOLD, EAST_KENT)] == ("on_time", None)
            late = outcomes[(SHREWD_DAILY, EAST_KENT)]
            assert late[0] == "late"
            assert late[1] is not None
            assert late[1] >= 30
            never = {action for (action, _), (outcome, _) in outcomes.items() if outcome == "never_done"}
            assert never == {
                "senior_practitioner.l3.shrewd_twice_daily",
                "senior_practitioner.l4.multi_agency_calls",
                "community_team_managers.l4.business_continuity",
            }
            assert report.counts == {"on_time": 1, "late": 1, "never_done": 3, "not_triggered": 0}
            responses = [e for e in report.timeline if e.kind == "response"]
            assert {(e.role, e.text.split()[0]) for e in responses} == {
                ("keah_locality_organisers", "referrer"),
                ("senior_practitioner", "done"),
                ("out_of_hours_service", "acknowledged"),
            }
            async with session.get(f"{base}/exercise/report.html") as response:
                assert response.status == 200
                page = await response.text()
            assert "EXERCISE" in page
            assert "east-kent-winter-surge" in page
            assert await metric(session, base, "opel_exercise_running") == 0.0

            async def west_kent_shown() -> dict[str, int] | None:
                async with session.get(f"{base}/status") as response:
                    shown = {s["scope"]: s["level"] for s in (await response.json())["statuses"]}
                return shown if shown.get("area/west_kent") == 3 else None

            shown_after = await wait_for(west_kent_shown)

        # The live webhook had the live escalation as normal, and no exercise message.
        await wait_for(lambda: _async([t for t in live_hook.titles if "West Kent" in t]), timeout=30)
        assert exercise_hook.titles, "the exercise route got nothing"
        assert all(t.startswith("EXERCISE") for t in exercise_hook.titles), exercise_hook.titles
        assert not [t for t in live_hook.titles if "EXERCISE" in t], live_hook.titles
        assert any("East Kent" in t for t in exercise_hook.titles)

        # Live statuses: exactly as before but for the live reading's scopes.
        after = await latest_status(own_broker.bootstrap)
        assert {k: v for k, v in after.items() if k not in LIVE_CHANGED} == {
            k: v for k, v in before.items() if k not in LIVE_CHANGED
        }
        assert after["area/west_kent"]["level"] == 3
        assert shown_after[EAST_KENT] == 1
        assert {k: v for k, v in shown_after.items() if k not in LIVE_CHANGED} == {
            k: v for k, v in shown_before.items() if k not in LIVE_CHANGED
        }
        # Nothing of the exercise on the live topics partners and the board read.
        live_escalations = await read_all(own_broker.bootstrap, topics.ESCALATIONS)
        assert live_escalations
        assert not [v for _, v in live_escalations if v["data"]["exercise"]]
        live_items = await read_all(own_broker.bootstrap, topics.ACTION_ITEMS)
        assert not [v for _, v in live_items if v["scope"] == EAST_KENT]
        exercise_escalations = await read_all(own_broker.bootstrap, topics.EXERCISE_ESCALATIONS)
        assert len(exercise_escalations) == final.injects_total
        assert all(v["data"]["exercise"] for _, v in exercise_escalations)
    finally:
        await stop(running)
        os.environ.pop("OPEL_EX_HOOK_LIVE", None)


async def _async(value: Any) -> Any:
    return value


async def metric(session: aiohttp.ClientSession, base: str, name: str) -> float | None:
    async with session.get(f"{base}/metrics") as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return family.samples[0].value
    return None


async def test_cli_starts_and_stops_an_exercise_and_writes_its_report(
    own_broker: EmbeddedBroker,
    tmp_path: Path,
    hooks: tuple[Hook, Hook],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``opel exercise start`` / ``status`` / ``stop --out`` against the real worker's API."""
    _, exercise_hook = hooks
    monkeypatch.setenv("OPEL_EX_HOOK_LIVE", "http://127.0.0.1:9/nobody")
    monkeypatch.setenv("OPEL_EX_HOOK_EXERCISE", exercise_hook.url)
    monkeypatch.setenv("OPEL_API_TOKEN_ESCALATION_GROUP", TOKENS["T_EX_GROUP"])
    for env, token in TOKENS.items():
        monkeypatch.setenv(env, token)
    settings = worker_settings(
        own_broker,
        tmp_path,
        web_port=0,
        routing_file=write_routing(tmp_path / "routing.yaml"),
        api_config=write_api_config(tmp_path / "api.yaml"),
    )
    running = await start(settings, (web_extra,))
    try:
        assert running.web_url is not None
        base = running.web_url

        async def opel(*argv: str) -> int:
            return await asyncio.to_thread(main, ["exercise", *argv, "--url", base])

        assert await opel("start", str(SCENARIO), "--speed", "120") == 0
        assert capsys.readouterr().out.startswith("EXERCISE east-kent-winter-surge: running at 120x")
        assert await opel("start", str(SCENARIO)) == 2
        assert "409: exercise 'east-kent-winter-surge' is running; stop it first" in capsys.readouterr().err

        async with aiohttp.ClientSession() as session:

            async def two_published() -> ExerciseState | None:
                state = await exercise_state(session, base)
                return state if state.injects_played >= 4 else None  # the fourth: East Kent at OPEL 2

            await wait_for(two_published, timeout=60)
        out = tmp_path / "report"
        assert await opel("stop", "--out", str(out)) == 0
        line = capsys.readouterr().out
        assert line.startswith(
            "EXERCISE east-kent-winter-surge: 0 on time, 0 late, 2 never done, 3 not triggered"
        )
        assert ExerciseReport.model_validate_json((out / "report.json").read_text()).counts["never_done"] == 2
        assert "EXERCISE" in (out / "report.html").read_text()
        assert await opel("status", "--json") == 0
        assert ExerciseState.model_validate_json(capsys.readouterr().out).status == "stopped"
        assert await opel("stop") == 2
        assert capsys.readouterr().err == "opel exercise stop: 409: no exercise is running\n"
        await wait_for(lambda: _async(exercise_hook.titles), timeout=30)
        assert all(t.startswith("EXERCISE") for t in exercise_hook.titles)
    finally:
        await stop(running)
