"""``POST /readings`` on the worker's web API (issue 17, point 2): a submitted reading is assessed
like any feed's and reaches opel.status.v1, the same Idempotency-Key twice counts once, and an
Excel file with one bad row, sent as a dry run, names that row and puts nothing on the topic."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest
import yaml
from openpyxl import Workbook

from streams import topics
from streams.broker import EmbeddedBroker
from streams.run_command import web_extra
from streams.web.readings_submit import XLSX_TYPE
from streams.worker import start, stop

from .service import latest_status, read_all, wait_for, worker_settings

pytestmark = pytest.mark.slow

TOKEN: Final = "dgs-submitter-token-0123456789"
SCOPE: Final = "indicator/stp_staffing_pct/dgs"


async def test_a_posted_reading_reaches_the_status_topic_once_per_idempotency_key(
    broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "api.yaml"
    principal = {"roles": ["area_submitter"], "token_env": "T_DGS_SUBMITTER", "areas": ["dgs"]}
    config.write_text(yaml.safe_dump({"principals": {"dgs-submitter": principal}}), encoding="utf-8")
    monkeypatch.setenv("T_DGS_SUBMITTER", TOKEN)
    observed = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    item = {"indicator": "stp_staffing_pct", "area": "dgs", "value": 45, "observed_at": observed.isoformat()}
    headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": f"dgs-{observed.isoformat()}"}

    running = await start(worker_settings(broker, tmp_path, web_port=0, api_config=config), (web_extra,))
    try:
        base = running.web_url
        assert base is not None
        answers: list[tuple[int, Any]] = []
        async with aiohttp.ClientSession() as session:
            for _ in range(2):
                async with session.post(f"{base}/readings", json=[item], headers=headers) as response:
                    answers.append((response.status, await response.json()))
            async with session.post(
                f"{base}/readings",
                json=[{**item, "area": "swale"}],
                headers={"Authorization": f"Bearer {TOKEN}"},
            ) as response:
                assert response.status == 403
        assert [status for status, _ in answers] == [202, 202]
        assert answers[0][1] == answers[1][1]
        assert answers[0][1]["readings"][0]["level"] == 3

        async def assessed() -> dict[str, Any] | None:
            status: dict[str, Any] | None = (await latest_status(broker.bootstrap)).get(SCOPE)
            if (
                status
                and status.get("value") == 45
                and status.get("observed_at", "").startswith(observed.date().isoformat())
            ):
                return status
            return None

        status = await wait_for(assessed, timeout=60)
        assert status["computed_level"] == 3
        sent = [
            value
            for _, value in await read_all(broker.bootstrap, topics.CAPACITY)
            if isinstance(value, dict)
            and value.get("area") == "dgs"
            and value.get("value") == 45
            and value.get("observed_at", "").startswith(observed.strftime("%Y-%m-%dT%H:%M:%S"))
        ]
        assert len(sent) == 1, json.dumps(sent)

        # An Excel file with one bad row, as a dry run: that row's error, nothing published.
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["observed_at", "area", "indicator", "value"])
        sheet.append([observed.isoformat(), "dgs", "stp_staffing_pct", 31])
        sheet.append([observed.isoformat(), "dgs", "social_caseload", "plenty"])
        data = io.BytesIO()
        book.save(data)
        before = len(await read_all(broker.bootstrap, topics.CAPACITY))
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{base}/readings?dry_run=true",
                data=data.getvalue(),
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": XLSX_TYPE},
            ) as response,
        ):
            assert response.status == 422
            problem = await response.json()
        assert [(e["row"], e["field"], e["value"]) for e in problem["errors"]] == [(3, "value", "plenty")]
        assert len(await read_all(broker.bootstrap, topics.CAPACITY)) == before
    finally:
        await stop(running)
