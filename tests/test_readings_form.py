"""``GET /readings/form`` and ``GET /submit`` without a broker: a submitter's indicators, their last
values, and who may read them."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any, Final

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.demo import status_record
from support.local_stack import shipped_catalogues
from test_web_openapi import openapi_validator

from opel.actions_load import default_action_plan
from streams.status_view import StatusView
from streams.web.auth import build_api_config
from streams.web.server import WebServer

DGS_TOKEN: Final = "dgs-submitter-token-0123456789"
FEED_TOKEN: Final = "county-feed-token-0123456789"
VIEWER_TOKEN: Final = "viewer-token-0123456789abcd"
CONFIG: Final = {
    "principals": {
        "dgs-submitter": {"roles": ["area_submitter"], "token_env": "T_DGS", "areas": ["dgs"]},
        "county-feed": {"roles": ["area_submitter"], "token_env": "T_FEED"},
        "board": {"roles": ["viewer"], "token_env": "T_VIEW"},
    }
}
ENV: Final = {"T_DGS": DGS_TOKEN, "T_FEED": FEED_TOKEN, "T_VIEW": VIEWER_TOKEN}
NOW: Final = dt.datetime(2025, 11, 12, 9, 30, tzinfo=dt.UTC)


class Recorder:
    async def __call__(self, records: Any) -> None:  # never called here
        raise AssertionError("nothing is sent by these reads")


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    view = StatusView("127.0.0.1:9", use_metrics=False, clock=lambda: NOW)
    observed = NOW - dt.timedelta(hours=3)
    view.apply_status_record(
        "indicator/stp_staffing_pct/dgs",
        status_record("indicator/stp_staffing_pct/dgs", 2, at=observed, observed_at=observed, value=60),
    )
    server = WebServer(
        host="127.0.0.1",
        port=0,
        view=view,
        send_command=Recorder(),
        auth=build_api_config(CONFIG, ENV).auth,
        catalogues=shipped_catalogues,
        action_plan=default_action_plan(),
    )
    async with TestClient(TestServer(server.app)) as test_client:
        yield test_client


async def form(client: TestClient[Any, Any], token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.get("/readings/form", headers=headers)
    return response.status, await response.json()


async def test_a_submitter_sees_its_areas_indicators_with_the_last_value_its_age_and_level(
    client: TestClient[Any, Any],
) -> None:
    status, body = await form(client, DGS_TOKEN)
    assert status == 200
    openapi_validator("ReadingsForm").validate(body)
    assert body["author"] == "dgs-submitter"
    assert [area["area"] for area in body["areas"]] == ["dgs"]  # never swale
    fields = {field["indicator"]: field for field in body["areas"][0]["indicators"]}
    staffing = fields["stp_staffing_pct"]
    assert (staffing["kind"], staffing["unit"]) == ("numeric", "percent")
    assert staffing["last"] == {
        "value": 60,
        "observed_at": (NOW - dt.timedelta(hours=3)).isoformat(),
        "age_seconds": 3 * 3600,
        "level": 2,
        "label": "OPEL 2 amber",
    }
    assert all(field["last"] is None for name, field in fields.items() if name != "stp_staffing_pct")


async def test_a_submitter_without_areas_sees_every_area(client: TestClient[Any, Any]) -> None:
    status, body = await form(client, FEED_TOKEN)
    assert status == 200
    assert {"dgs", "swale", "east_kent", "west_kent"} <= {area["area"] for area in body["areas"]}


async def test_no_token_is_401_and_a_viewer_is_403_naming_the_role_needed(
    client: TestClient[Any, Any],
) -> None:
    assert (await form(client, None))[0] == 401
    status, body = await form(client, VIEWER_TOKEN)
    assert status == 403
    assert "area_submitter" in body["detail"]


async def test_the_page_and_its_files_are_served_under_the_boards_policy(
    client: TestClient[Any, Any],
) -> None:
    page = await client.get("/submit")
    assert page.status == 200
    assert page.content_type == "text/html"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    text = await page.text()
    assert '<script src="/static/submit.js" defer></script>' in text
    for name, kind in (("submit.js", "text/javascript"), ("submit.css", "text/css")):
        response = await client.get(f"/static/{name}")
        assert (response.status, response.content_type) == (200, kind)
    board = await (await client.get("/")).text()
    assert '<a href="/submit">' in board
