"""The worker end to end on a real broker: readings in; status, escalations and audit out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams import topics
from streams.broker import EmbeddedBroker

from .service import (
    fresh_broker,
    latest_status,
    produce,
    read_all,
    reading,
    wait_for,
    worker,
    worker_settings,
)

NOW = datetime.now(UTC).replace(microsecond=0)


def at(minutes: float) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = fresh_broker(tmp_path)
    yield broker
    broker.stop()


async def test_readings_to_status_escalations_and_audit(own_broker: EmbeddedBroker, tmp_path: Path) -> None:
    bootstrap = own_broker.bootstrap
    async with worker(worker_settings(own_broker, tmp_path)):
        messages = [
            reading("stp_staffing_pct", area, 80, at(0))
            for area in ("dgs", "east_kent", "swale", "west_kent")
        ]
        messages.append(reading("stp_staffing_pct", "east_kent", 45, at(1)))
        await produce(bootstrap, messages)

        async def escalated() -> Any:
            status = await latest_status(bootstrap)
            return status if status.get("area/east_kent", {}).get("level") == 3 else None

        status = await wait_for(escalated)
        assert status["indicator/stp_staffing_pct/east_kent"]["value"] == 45
        assert status["indicator/stp_staffing_pct/east_kent"]["catalogue_version"] == "1.8"
        assert "45" in status["indicator/stp_staffing_pct/east_kent"]["explanation"]

        # The county merges areas in event-time order: east_kent's 09:01 change waits until the
        # other areas report past it, or until they have been silent for the idle grace (3 s here).
        async def county() -> Any:
            status = (await latest_status(bootstrap)).get("county/kent", {})
            return status if status.get("computed_level") == 2 else None

        county_status = await wait_for(county)
        assert county_status["level"] == 2
        assert "in some areas" in county_status["explanation"]
        events = [v for _, v in await read_all(bootstrap, topics.ESCALATIONS)]
        up = [e for e in events if e["subject"] == "area/east_kent" and e["type"].endswith(".escalation")]
        assert len(up) == 1
        assert up[0]["data"]["to_level"] == 3
        assert up[0]["specversion"] == "1.0"
        assert any(role["start"] for role in up[0]["data"]["actions"])
        audit = [v for _, v in await read_all(bootstrap, topics.AUDIT)]
        assert sum(1 for a in audit if a["decision"] == "assessed") == 5


async def test_bad_messages_are_dead_lettered_and_good_ones_processed(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    bootstrap = own_broker.bootstrap
    async with worker(worker_settings(own_broker, tmp_path)):
        bad = [
            (topics.CAPACITY, b"dgs", b"{not json"),
            (
                topics.CAPACITY,
                b"dgs",
                json.dumps({"indicator": "nope", "area": "dgs", "value": 1, "observed_at": at(0)}).encode(),
            ),
            (
                topics.CAPACITY,
                b"dgs",
                json.dumps(
                    {"indicator": "stp_staffing_pct", "area": "dgs", "value": -3, "observed_at": at(0)}
                ).encode(),
            ),
            (topics.ACUTE, b"x", b"x" * 900_000),
        ]
        await produce(bootstrap, [*bad, reading("health_caseload", "dgs", 10, at(0))])

        async def dead() -> Any:
            letters = [v for _, v in await read_all(bootstrap, topics.DEADLETTER)]
            return letters if len(letters) >= 4 else None

        letters = await wait_for(dead)
        assert sorted(v["reason"] for v in letters) == [
            "bad_json",
            "invalid",
            "too_large",
            "unknown_indicator",
        ]
        status = await wait_for(lambda: _has(bootstrap, "indicator/health_caseload/dgs"))
        assert status["level"] is not None


async def _has(bootstrap: str, scope: str) -> Any:
    return (await latest_status(bootstrap)).get(scope)


def referral(n: int, kind: str, area: str = "dgs", **extra: Any) -> tuple[str, bytes, bytes]:
    body = {"event_id": f"ev-{n}", "area": area, "kind": kind, "occurred_at": at(n / 60), **extra}
    return topics.REFERRAL_EVENTS, area.encode(), json.dumps(body).encode()


async def test_referral_events_are_counted_and_escalate(own_broker: EmbeddedBroker, tmp_path: Path) -> None:
    bootstrap = own_broker.bootstrap
    async with worker(worker_settings(own_broker, tmp_path)):
        events = [referral(0, "snapshot", pending=5, health_caseload=40, social_caseload=30)]
        events += [referral(n, "received", count=2) for n in range(1, 9)]  # 5 + 16 = 21 pending: OPEL 4
        events += [referral(1, "received", count=2)]  # a replay of ev-1 counts once
        events += [referral(n, "accepted", caseload="health") for n in range(9, 12)]  # 18 pending
        await produce(bootstrap, events)

        async def counted() -> Any:
            status = (await latest_status(bootstrap)).get("indicator/referrals/dgs", {})
            return status if status.get("value") == 18 else None

        status = await wait_for(counted)
        assert status["computed_level"] == 3  # DGS referrals 15-19: OPEL 3
        assert status["level"] == 4, "it reached 21 (OPEL 4) and has not held lower for the dwell"
        health = (await latest_status(bootstrap))["indicator/health_caseload/dgs"]
        assert health["value"] == 43
        events_out = [v for _, v in await read_all(bootstrap, topics.ESCALATIONS)]
        assert any(
            e["subject"] == "indicator/referrals/dgs" and e["data"]["to_level"] == 4 for e in events_out
        )


async def test_override_wins_until_it_expires(own_broker: EmbeddedBroker, tmp_path: Path) -> None:
    bootstrap = own_broker.bootstrap
    async with worker(worker_settings(own_broker, tmp_path)):
        await produce(bootstrap, [reading("stp_staffing_pct", "swale", 90, at(0))])
        await wait_for(lambda: _has(bootstrap, "area/swale"))
        now = datetime.now(UTC)
        override = {
            "type": "override",
            "id": "ovr-1",
            "scope": "area/swale",
            "level": 3,
            "author": "escalation-group",
            "reason": "norovirus closes two care homes",
            "at": now.isoformat(),
            "expires_at": (now + timedelta(seconds=6)).isoformat(),
        }
        await produce(bootstrap, [(topics.COMMANDS, b"area/swale", json.dumps(override).encode())])

        async def overridden() -> Any:
            status = await _has(bootstrap, "area/swale")
            return status if status and status["override"] else None

        status = await wait_for(overridden)
        assert (status["level"], status["computed_level"]) == (3, 1)
        assert status["override"]["reason"] == "norovirus closes two care homes"

        async def expired() -> Any:
            status = await _has(bootstrap, "area/swale")
            return status if status and status["override"] is None else None

        status = await wait_for(expired)
        assert status["level"] == 1
        causes = [
            e["data"]["cause"]
            for _, e in await read_all(bootstrap, topics.ESCALATIONS)
            if e["subject"] == "area/swale"
        ]
        assert causes[-2:] == ["override", "override-ended"]
        audit = [a for _, a in await read_all(bootstrap, topics.AUDIT)]
        assert any(a["decision"] == "override" and a["author"] == "escalation-group" for a in audit)
        assert any(a["decision"] == "override_expired" for a in audit)


async def test_catalogue_hot_reload_and_a_refused_catalogue(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    bootstrap = own_broker.bootstrap
    folder = tmp_path / "catalogues"
    folder.mkdir()
    shipped = Path(__file__).resolve().parents[2] / "triggers" / "kcc-asch-2025-26.yaml"
    async with worker(worker_settings(own_broker, tmp_path, catalogue_dir=folder)):
        broken = shipped.read_text().replace('version: "1.8"', 'version: "1.9-bad"', 1)
        broken = broken.replace("{level: 2, range: [10, 14]}", "{level: 2, range: [8, 14]}", 1)  # overlaps
        (folder / "bad.yaml").write_text(broken)

        async def refused() -> Any:
            audit = [a for _, a in await read_all(bootstrap, topics.AUDIT)]
            return [a for a in audit if a["decision"] == "catalogue_refused"]

        (record,) = await wait_for(refused, timeout=30)
        assert "bad.yaml" in record["reason"]
        await produce(bootstrap, [reading("stp_staffing_pct", "dgs", 65, at(0))])
        status = await wait_for(lambda: _has(bootstrap, "indicator/stp_staffing_pct/dgs"))
        assert status["catalogue_version"] == "1.8", "the running catalogue was kept"

        # A new version file with the same id replaces the running catalogue without a restart.
        newer = shipped.read_text().replace('version: "1.8"', 'version: "1.9"', 1)
        (folder / "bad.yaml").unlink()
        (folder / "kcc-asch-2025-26-v1.9.yaml").write_text(newer)

        async def loaded() -> Any:
            audit = [a for _, a in await read_all(bootstrap, topics.AUDIT)]
            return [a for a in audit if a["decision"] == "catalogue_loaded"]

        (record,) = await wait_for(loaded, timeout=30)
        assert record["catalogue_version"] == "1.9"
        await produce(bootstrap, [reading("stp_staffing_pct", "dgs", 66, at(1))])

        async def new_version() -> Any:
            status = await _has(bootstrap, "indicator/stp_staffing_pct/dgs")
            return status if status and status["catalogue_version"] == "1.9" else None

        await wait_for(new_version)

        # Version 1.9 again with other content, and an older version: both refused, 1.9 stays.
        changed = newer.replace("step_down_dwell: P1D", "step_down_dwell: PT12H", 1)
        (folder / "kcc-asch-2025-26-v1.9-changed.yaml").write_text(changed)
        older = shipped.read_text().replace('version: "1.8"', 'version: "1.7"', 1)
        (folder / "kcc-asch-2025-26-v1.7.yaml").write_text(older)

        async def two_more_refusals() -> Any:
            # The first refusal was bad.yaml's. Audit records are spread over the topic's
            # partitions, and a read gives each partition in turn, not the topic in time order
            # (on the embedded broker they happened to come in order): pick by file, not by place.
            found = [r for r in await refused() if "bad.yaml" not in r["reason"]]
            return found if len(found) >= 2 else None

        later = await wait_for(two_more_refusals, timeout=30)
        reasons = sorted(r["reason"] for r in later)
        assert "v1.7.yaml: version 1.7 is lower than version 1.9 in force" in reasons[0]
        assert "v1.9-changed.yaml: same id and version as the catalogue in force" in reasons[1]
        assert all(r["outcome"]["kept"]["version"] == "1.9" for r in later)
        await produce(bootstrap, [reading("stp_staffing_pct", "dgs", 67, at(2))])

        async def still_1_9() -> Any:
            status = await _has(bootstrap, "indicator/stp_staffing_pct/dgs")
            return status if status and status["value"] == 67 else None

        assert (await wait_for(still_1_9))["catalogue_version"] == "1.9"
