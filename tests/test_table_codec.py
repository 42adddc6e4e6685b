"""Table changelogs: the faster codec writes ordinary JSON and reads what Faust's codec wrote."""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs

from streams import table_codec

BOOK: dict[str, Any] = {
    "area": "dgs",
    "readings": {"stp_staffing_pct": {"value": 69.9, "observed_at": "2026-11-23T08:00:00+00:00", "level": 2}},
    "scopes": {"area/dgs": {"state": [2, "2026-11-23T08:00:00+00:00", None, None, None, None]}},
    "ended": [],
    "wm": None,
}


def test_round_trip() -> None:
    codec = codecs.get_codec(table_codec.NAME)
    assert codec.loads(codec.dumps(BOOK)) == BOOK


def test_reads_changelogs_written_by_fausts_json_codec() -> None:
    # A worker upgraded in place recovers its tables from records the old codec wrote.
    old = codecs.get_codec("json").dumps(BOOK)
    assert codecs.get_codec(table_codec.NAME).loads(old) == BOOK
    assert codecs.get_codec("json").loads(codecs.get_codec(table_codec.NAME).dumps(BOOK)) == BOOK
