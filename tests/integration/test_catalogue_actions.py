"""The actions shown and sent follow the catalogue in force (issue 13, point 5), through `opel run`'s
own wiring: after a hot reload to a catalogue naming the v1.7 action plan, the board's /actions
and the alerts people receive carry v1.7's actions and version, with no restart."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from streams.broker import EmbeddedBroker
from streams.run_command import alerting_extra, web_extra
from streams.worker import start, stop

from .service import produce, reading, wait_for, worker_settings
from .test_worker_end_to_end import hook  # noqa: F401  (a fixture)

pytestmark = pytest.mark.slow

TRIGGERS = Path(__file__).resolve().parents[2] / "triggers"
V17_ONLY = "in other areas where capacity is available"
"""Words of the Senior Practitioner's OPEL 2 action in v1.7 only (v1.8 has it at OPEL 3)."""


def routing(path: Path) -> Path:
    data = {
        "defaults": {"group_wait": 1, "group_interval": 1, "repeat_interval": 600, "hold": 5},
        "channels": {"hook": {"type": "webhook", "url": "${OPEL_CATALOGUE_ACTIONS_HOOK}"}},
        "roles": {
            "duty": {"contacts": [{"id": "duty", "name": "Duty manager", "channel": "hook"}]},
            "senior_practitioner": {
                "contacts": [{"id": "sp", "name": "Senior Practitioner", "channel": "hook"}]
            },
        },
        "routes": [
            {
                "name": "areas",
                "match": {"kinds": ["area"], "areas": ["east_kent"], "level_at_least": 2},
                "roles": ["senior_practitioner"],
            }
        ],
    }
    path.write_text(yaml.safe_dump(data))
    return path


async def _plan_served(base: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/actions") as response:
        body = await response.json()
    return str(body["plan"]["id"])


async def test_a_reload_to_another_plan_changes_the_actions_served_and_sent(
    broker: EmbeddedBroker,
    tmp_path: Path,
    hook: tuple[str, list[dict[str, Any]]],  # noqa: F811  (the fixture imported above)
) -> None:
    url, received = hook
    os.environ["OPEL_CATALOGUE_ACTIONS_HOOK"] = url
    folder = tmp_path / "catalogues"
    folder.mkdir()
    settings = worker_settings(
        broker, tmp_path, web_port=0, routing_file=routing(tmp_path / "routing.yaml"), catalogue_dir=folder
    )
    running = await start(settings, (web_extra, alerting_extra))
    try:
        assert running.web_url is not None
        base = running.web_url
        assert await _plan_served(base) == "kcc-asch-actions-v1.8"

        data = yaml.safe_load((TRIGGERS / "kcc-asch-2025-26.yaml").read_text(encoding="utf-8"))
        data["version"] = "1.9"
        data["action_plan"] = "kcc-asch-actions-v1.7"
        (folder / "kcc-asch-2025-26-v1.9.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")

        async def switched() -> bool:
            return await _plan_served(base) == "kcc-asch-actions-v1.7"

        await wait_for(switched, timeout=30)

        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        await produce(broker.bootstrap, [reading("stp_staffing_pct", "east_kent", 65, now)])

        async def alerted() -> list[str]:
            return [str(m["text"]) for m in received if "East Kent" in str(m.get("text"))]

        [text, *_] = await wait_for(alerted, timeout=60)
        assert "Plan v1.7:" in text, text
        assert V17_ONLY in text, text
    finally:
        await stop(running)
        os.environ.pop("OPEL_CATALOGUE_ACTIONS_HOOK", None)
