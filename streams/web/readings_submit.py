"""``POST /readings``: machine submissions of indicator readings (issue 17, point 2).

A batch (a JSON array, CSV text or an Excel workbook) is checked whole, each item as `opel
assess` checks a line (:mod:`opel.reading_check`), before anything is published: one bad item
and nothing is, and the answer lists every bad item. A good batch goes, reading by reading, on
the input topic its indicator belongs to (``streams.codec.topic_for``: referrals and caseloads on
``opel.referrals.v1``, the others on ``opel.capacity.v1``), keyed by area, by the producer that
puts the API's commands on theirs; the worker assesses them like any feed's. ``?dry_run=true``
answers the levels the values would give and publishes nothing. An ``Idempotency-Key`` makes a
retry safe (:mod:`streams.web.idempotency`).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from aiohttp import web
from pydantic_core import to_jsonable_python

from opel.reading_check import BatchCheck, check_readings
from opel.reading_rows import MAX_ROWS, TableError, TableItems, read_csv_items, read_xlsx_items
from streams.codec import key_for, topic_for
from streams.web.auth import Permission, Principal
from streams.web.context import Context, context
from streams.web.guard import require_principal
from streams.web.idempotency import Answer, IdempotencyStore, request_digest
from streams.web.problems import ProblemError

__all__ = ["CSV_TYPES", "JSON_TYPE", "XLSX_TYPE", "post_readings"]

log = logging.getLogger(__name__)

JSON_TYPE: Final = "application/json"
CSV_TYPES: Final = frozenset({"text/csv", "application/csv"})
XLSX_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_KEY_CHARS: Final = 200
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"


def _invalid(field: str, detail: str, errors: list[dict[str, Any]] | None = None) -> ProblemError:
    return ProblemError(
        422,
        "invalid-request",
        detail,
        title="Invalid request",
        extra={"field": field, "errors": errors or [{"field": field, "message": detail}]},
    )


def _dry_run(request: web.Request) -> bool:
    text = request.query.get("dry_run")
    if text is None or text.lower() in ("false", "0", ""):
        return False
    if text.lower() in ("true", "1"):
        return True
    raise _invalid("dry_run", f"dry_run: must be true or false, got {text!r}")


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not (0 < len(key) <= MAX_KEY_CHARS and key.isascii() and key.isprintable()):
        raise _invalid(
            IDEMPOTENCY_HEADER,
            f"{IDEMPOTENCY_HEADER}: must be 1 to {MAX_KEY_CHARS} printable ASCII characters (e.g. a UUID)",
        )
    return key


def _json_items(raw: bytes) -> TableItems:
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid("body", f"body: not valid JSON ({exc})") from None
    if isinstance(data, dict) and set(data) == {"readings"}:
        data = data["readings"]
    if not isinstance(data, list):
        raise _invalid("body", 'body: must be a JSON array of readings (or {"readings": [...]})')
    if len(data) > MAX_ROWS:
        raise _invalid("body", f"body: {len(data)} readings; at most {MAX_ROWS} in one request")
    return TableItems(list(data), [None] * len(data))


def _items(content_type: str, raw: bytes) -> TableItems:
    """The items of the body, by its content type; a file that is no table is a 422 naming the row."""
    try:
        if content_type == JSON_TYPE:
            return _json_items(raw)
        if content_type in CSV_TYPES:
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise TableError(1, "(file)", f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
            return read_csv_items(text)
        if content_type == XLSX_TYPE:
            return read_xlsx_items(raw)
    except TableError as exc:
        raise _invalid(
            exc.field,
            f"row {exc.row}: {exc.field}: {exc.problem}",
            [{"row": exc.row, "field": exc.field, "message": f"{exc.field}: {exc.problem}"}],
        ) from None
    raise ProblemError(
        415,
        "unsupported-media-type",
        f"Content-Type {content_type!r} is not taken: send {JSON_TYPE}, text/csv or {XLSX_TYPE}",
    )


def _check_areas(principal: Principal, table: TableItems) -> None:
    """403 when an item names an area the principal may not submit for (before anything else)."""
    outside: list[dict[str, Any]] = []
    for index, item in enumerate(table.items):
        area = item.get("area") if isinstance(item, dict) else None
        if isinstance(area, str) and not principal.may_submit_for(area):
            where: dict[str, Any] = {"index": index}
            if table.rows[index] is not None:
                where["row"] = table.rows[index]
            outside.append(where | {"field": "area", "value": area})
    if outside:
        allowed = ", ".join(sorted(principal.areas or ()))
        named = ", ".join(sorted({str(o["value"]) for o in outside}))
        raise ProblemError(
            403,
            "forbidden",
            f"{principal.name} may submit readings for {allowed} only, not {named}; nothing was published",
            extra={"errors": outside},
        )


def _check_authors(principal: Principal, table: TableItems) -> None:
    """422 when an item claims another author: who submitted a reading is the token's, not the body's."""
    claimed: list[dict[str, Any]] = []
    for index, item in enumerate(table.items):
        if isinstance(item, dict) and "submitted_by" in item and item["submitted_by"] != principal.name:
            where: dict[str, Any] = {"index": index}
            if table.rows[index] is not None:
                where["row"] = table.rows[index]
            value = item["submitted_by"]
            message = f"submitted_by: set from the token ({principal.name!r}), got {value!r}; leave it out"
            claimed.append(where | {"field": "submitted_by", "value": value, "message": message})
    if claimed:
        first = claimed[0]
        where_text = f"row {first['row']}" if "row" in first else f"item {first['index']}"
        raise _invalid("submitted_by", f"{where_text}: {first['message']}; nothing was published", claimed)


def _refused(checked: BatchCheck, total: int) -> ProblemError:
    errors = [problem.to_dict() for problem in checked.problems]
    first = checked.problems[0]
    where = f"row {first.row}" if first.row is not None else f"item {first.index}"
    bad = len({problem.index for problem in checked.problems})
    return ProblemError(
        422,
        "invalid-readings",
        f"{bad} of {total} readings invalid, nothing was published; {where}: {first.message}",
        title="Invalid readings",
        extra={"field": first.field, "errors": errors},
    )


def _results(checked: BatchCheck, table: TableItems) -> list[dict[str, Any]]:
    found = []
    for index, (reading, assessment) in enumerate(zip(checked.readings, checked.assessments, strict=True)):
        result: dict[str, Any] = {"index": index}
        if table.rows[index] is not None:
            result["row"] = table.rows[index]
        result["topic"] = topic_for({"indicator": reading.indicator})
        found.append(result | to_jsonable_python(assessment.to_dict()))
    return found


async def _answer(
    request: web.Request, ctx: Context, principal: Principal, *, dry_run: bool, key: str | None, raw: bytes
) -> tuple[int, dict[str, Any]]:
    table = _items(request.content_type, raw)
    if not table.items:
        raise _invalid("body", "body: no readings; nothing was published")
    _check_areas(principal, table)
    _check_authors(principal, table)
    catalogue = ctx.indicators()
    if catalogue is None:
        raise ProblemError(503, "catalogue-unavailable", "the indicator catalogue in force cannot be read")
    checked = check_readings(catalogue, table.items, table.rows)
    if not checked.ok:
        raise _refused(checked, len(table.items))
    results = _results(checked, table)
    if dry_run:
        return 200, {"dry_run": True, "published": 0, "readings": results}
    if ctx.send_readings is None:
        raise ProblemError(
            503, "readings-not-taken", "this server does not publish readings; ?dry_run=true works"
        )
    records = []
    for checked_reading in checked.readings:
        # The worker's audit record of the reading names it as the author.
        reading = checked_reading.model_copy(update={"submitted_by": principal.name})
        value = reading.model_dump(mode="json")
        topic = topic_for(value)
        assert topic is not None  # a reading always has its indicator's topic
        records.append((topic, key_for(topic, value), reading.model_dump_json().encode("utf-8")))
    try:
        await ctx.send_readings(records)
    except Exception as exc:
        log.exception("could not publish %d readings from %s", len(records), principal.name)
        raise ProblemError(
            503,
            "readings-not-published",
            f"the broker did not confirm the readings ({type(exc).__name__}); some may have been "
            "published: retry with the same Idempotency-Key",
            title="Readings not published",
        ) from None
    log.info("%s submitted %d readings (idempotency key %r)", principal.name, len(records), key)
    body = {"dry_run": False, "published": len(records), "author": principal.name, "readings": results}
    return 202, body | ({"idempotency_key": key} if key is not None else {})


async def post_readings(request: web.Request) -> web.Response:
    principal = require_principal(request, Permission.SUBMIT_READINGS)
    ctx = context(request)
    dry_run = _dry_run(request)
    key = _idempotency_key(request)
    raw = await request.read()  # the application's client_max_size bounds it (413)
    if dry_run or key is None:  # a dry run changes nothing, so it is never replayed
        status, body = await _answer(request, ctx, principal, dry_run=dry_run, key=key, raw=raw)
        return web.json_response(body, status=status)
    if ctx.idempotency is None:
        ctx.idempotency = IdempotencyStore(ctx.view.now)
    store = ctx.idempotency
    digest = request_digest(request.content_type, raw)
    earlier = store.get(principal.name, key)
    if earlier is not None:
        if earlier.digest != digest:
            raise _invalid(
                IDEMPOTENCY_HEADER,
                f"{IDEMPOTENCY_HEADER}: {key!r} was used at {earlier.at.isoformat()} for another body; "
                "a new batch needs a new key",
            )
        return web.json_response(earlier.body, status=earlier.status, headers={"Idempotent-Replayed": "true"})
    if not store.begin(principal.name, key):
        raise ProblemError(
            409,
            "request-under-way",
            f"a request with {IDEMPOTENCY_HEADER} {key!r} is still being answered; retry in a moment",
            headers={"Retry-After": "1"},
        )
    answer: Answer | None = None
    try:
        status, body = await _answer(request, ctx, principal, dry_run=dry_run, key=key, raw=raw)
        answer = Answer(digest, status, body, ctx.view.now())
    finally:
        store.end(principal.name, key, answer)
    return web.json_response(body, status=status)
