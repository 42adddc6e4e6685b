"""``POST /readings`` without a broker: validation, all-or-nothing, dry run, idempotency, files, areas."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import Workbook
from support.local_stack import shipped_catalogues
from test_web_openapi import openapi_validator

from opel.actions_load import default_action_plan
from streams.status_view import StatusView
from streams.topics import CAPACITY, REFERRALS
from streams.web.auth import build_api_config
from streams.web.idempotency import IdempotencyStore
from streams.web.readings_submit import XLSX_TYPE
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
AT: Final = "2025-11-12T09:30:00Z"

Record = tuple[str, bytes | None, bytes]


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def reading(**fields: Any) -> dict[str, Any]:
    return {"indicator": "stp_staffing_pct", "area": "dgs", "value": 45, "observed_at": AT} | fields


class Published:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.fail = False

    async def __call__(self, records: Sequence[Record]) -> None:
        if self.fail:
            raise ConnectionError("broker gone")
        self.records.extend(records)


@pytest.fixture
def published() -> Published:
    return Published()


@pytest.fixture
async def client(published: Published) -> AsyncIterator[TestClient[Any, Any]]:
    server = WebServer(
        host="127.0.0.1",
        port=0,
        view=StatusView("127.0.0.1:9", use_metrics=False),
        send_command=published,  # type: ignore[arg-type]  # never called here
        auth=build_api_config(CONFIG, ENV).auth,
        catalogues=shipped_catalogues,
        action_plan=default_action_plan(),
        send_readings=published,
    )
    async with TestClient(TestServer(server.app)) as test_client:
        yield test_client


async def post(
    client: TestClient[Any, Any], body: Any, *, token: str = DGS_TOKEN, query: str = "", **headers: str
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    headers.setdefault("Content-Type", "application/json")
    response = await client.post(f"/readings{query}", data=data, headers=bearer(token, **headers))
    return response.status, await response.json()


async def test_a_batch_is_published_on_its_indicators_topics_keyed_by_area(
    client: TestClient[Any, Any], published: Published
) -> None:
    status, body = await post(
        client, [reading(), reading(indicator="referrals", area="swale", value=30)], token=FEED_TOKEN
    )
    assert status == 202
    assert body["published"] == 2
    assert body["author"] == "county-feed"
    assert [(topic, key) for topic, key, _ in published.records] == [
        (CAPACITY, b"dgs"),
        (REFERRALS, b"swale"),
    ]
    assert json.loads(published.records[0][2]) == reading() | {"submitted_by": "county-feed"}
    first = body["readings"][0]
    assert (first["index"], first["topic"], first["level"], first["colour"]) == (0, CAPACITY, 3, "red")


async def test_the_author_is_the_tokens_and_an_item_may_not_claim_another(
    client: TestClient[Any, Any], published: Published
) -> None:
    status, body = await post(client, [reading(), reading(value=50, submitted_by="county-feed")])
    assert status == 422
    assert body["field"] == "submitted_by"
    assert body["errors"] == [
        {
            "index": 1,
            "field": "submitted_by",
            "value": "county-feed",
            "message": "submitted_by: set from the token ('dgs-submitter'), got 'county-feed'; leave it out",
        }
    ]
    assert "item 1: submitted_by" in body["detail"]
    assert "nothing was published" in body["detail"]
    assert published.records == []
    status, body = await post(client, [reading(submitted_by="dgs-submitter")])
    assert status == 202
    assert json.loads(published.records[0][2])["submitted_by"] == "dgs-submitter"


async def test_one_bad_item_and_nothing_is_published_every_bad_item_listed(
    client: TestClient[Any, Any], published: Published
) -> None:
    status, problem = await post(client, [reading(), reading(value=-3), reading(indicator="beds")])
    assert status == 422
    assert problem["type"] == "urn:opel:problem:invalid-readings"
    assert problem["field"] == "value"
    assert problem["detail"].startswith("2 of 3 readings invalid, nothing was published; item 1: value:")
    assert [(e["index"], e["field"], e["value"]) for e in problem["errors"]] == [
        (1, "value", -3),
        (2, "indicator", "beds"),
    ]
    assert problem["errors"][0]["message"] == "value: must be 0 or more, got -3"
    assert published.records == []


async def test_a_dry_run_gives_the_levels_and_publishes_nothing(
    client: TestClient[Any, Any], published: Published
) -> None:
    status, body = await post(client, {"readings": [reading()]}, query="?dry_run=true")
    assert status == 200
    assert body["dry_run"] is True
    assert body["published"] == 0
    openapi_validator("ReadingsAnswer").validate(body)
    (item,) = body["readings"]
    assert item["level"] == 3
    assert item["explanation"].startswith(
        "stp_staffing_pct = 45 in dgs is in the published band 30-49: OPEL 3 red"
    )
    assert published.records == []


async def test_the_same_key_and_body_is_answered_again_and_published_once(
    client: TestClient[Any, Any], published: Published
) -> None:
    key = {"Idempotency-Key": "batch-0001"}
    first = await post(client, [reading()], **key)
    second = await post(client, [reading()], **key)
    assert first[0] == second[0] == 202
    assert first[1] == second[1]
    assert len(published.records) == 1
    status, problem = await post(client, [reading(value=46)], **key)
    assert status == 422
    assert problem["field"] == "Idempotency-Key"
    assert "another body" in problem["detail"]
    assert len(published.records) == 1
    # Another principal's key of the same name is its own.
    assert (await post(client, [reading()], token=FEED_TOKEN, **key))[0] == 202
    assert len(published.records) == 2


async def test_a_failed_publish_is_not_kept_so_a_retry_publishes(
    client: TestClient[Any, Any], published: Published
) -> None:
    published.fail = True
    status, problem = await post(client, [reading()], **{"Idempotency-Key": "k-1"})
    assert status == 503
    assert problem["type"] == "urn:opel:problem:readings-not-published"
    published.fail = False
    assert (await post(client, [reading()], **{"Idempotency-Key": "k-1"}))[0] == 202
    assert len(published.records) == 1


async def test_a_submitter_limited_to_dgs_cannot_submit_for_swale(
    client: TestClient[Any, Any], published: Published
) -> None:
    status, problem = await post(client, [reading(), reading(area="swale")], query="?dry_run=true")
    assert status == 403
    assert "dgs only, not swale" in problem["detail"]
    assert problem["errors"] == [{"index": 1, "field": "area", "value": "swale"}]
    status, _ = await post(client, [reading()], token=VIEWER_TOKEN)
    assert status == 403
    assert published.records == []


async def test_csv_and_xlsx_uploads_name_the_bad_row(
    client: TestClient[Any, Any], published: Published
) -> None:
    csv = f"observed_at,area,indicator,value\n{AT},dgs,stp_staffing_pct,45\n{AT},dgs,stp_staffing_pct,-1\n"
    status, problem = await post(client, csv, **{"Content-Type": "text/csv"})
    assert status == 422
    assert problem["detail"].startswith("1 of 2 readings invalid, nothing was published; row 3: value:")
    assert problem["errors"][0]["row"] == 3

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (["observed_at", "area", "indicator", "value"], [AT, "dgs", "stp_staffing_pct", 45]):
        sheet.append(row)
    sheet.append([AT, "dgs", "stp_staffing_pct", "plenty"])
    data = io.BytesIO()
    book.save(data)
    status, problem = await post(
        client, data.getvalue(), query="?dry_run=true", **{"Content-Type": XLSX_TYPE}
    )
    assert status == 422
    assert [(e["row"], e["field"], e["value"]) for e in problem["errors"]] == [(3, "value", "plenty")]
    assert published.records == []

    status, body = await post(client, csv.rsplit("\n", 2)[0] + "\n", **{"Content-Type": "text/csv"})
    assert status == 202
    assert body["readings"][0]["row"] == 2
    assert len(published.records) == 1


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"),
    [
        ("{", {}, 422, "body"),
        ({"items": []}, {}, 422, "body"),
        ([], {}, 422, "body"),
        ("observed_at\n", {"Content-Type": "text/csv"}, 422, "(header)"),
        ("x", {"Content-Type": "text/plain"}, 415, None),
        ([reading()], {"Idempotency-Key": ""}, 422, "Idempotency-Key"),
    ],
)
async def test_requests_that_are_not_batches_are_refused(
    client: TestClient[Any, Any],
    published: Published,
    *,
    body: Any,
    headers: dict[str, str],
    status: int,
    field: str | None,
) -> None:
    answer = await post(client, body, **headers)
    assert answer[0] == status
    assert answer[1].get("field") == field
    assert published.records == []


async def test_a_body_over_64_kib_is_413(client: TestClient[Any, Any], published: Published) -> None:
    status, problem = await post(client, [reading()] * 1000)
    assert status == 413
    assert problem["status"] == 413
    assert published.records == []


async def test_dry_run_must_be_true_or_false(client: TestClient[Any, Any]) -> None:
    status, problem = await post(client, [reading()], query="?dry_run=maybe")
    assert (status, problem["field"]) == (422, "dry_run")


def test_keys_are_bounded_in_number_and_time() -> None:
    now = [dt.datetime(2025, 11, 12, 9, tzinfo=dt.UTC)]
    store = IdempotencyStore(lambda: now[0], max_keys=3)
    from streams.web.idempotency import Answer  # noqa: PLC0415

    for n in range(4):
        assert store.begin("p", f"k{n}")
        store.end("p", f"k{n}", Answer("d", 202, {}, now[0]))
    assert len(store) == 3
    assert store.get("p", "k0") is None
    assert store.get("p", "k3") is not None
    assert store.begin("p", "k9")
    assert not store.begin("p", "k9")  # under way
    now[0] += dt.timedelta(hours=24, seconds=1)
    assert store.get("p", "k3") is None
    assert len(store) == 0
