"""Decoding raw record values: every refusal names its reason, its field and the offending value."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from opel.assess_lines import LineAssessor
from opel.catalogue_load import DEFAULT_INDICATOR_CATALOGUE, load_indicator_catalogue
from opel.contracts.deadletter import DEADLETTER_KEEP_BYTES, DeadLetter, Reason, deadletter
from opel.feeds import Acknowledge, Override, ReferralEvent, ReloadCatalogues, Withdraw
from opel.models import AcuteSubmission, Reading
from streams import topics
from streams.codec import (
    MAX_ERROR_CHARS,
    Rejected,
    decode_acute,
    decode_command,
    decode_reading,
    decode_referral_event,
    key_for,
    topic_for,
)

LIMIT = 512 * 1024
AT = "2025-11-12T09:30:00+00:00"
READING: dict[str, Any] = {
    "indicator": "stp_staffing_pct",
    "area": "east_kent",
    "value": 65,
    "observed_at": AT,
}
ACUTE: dict[str, Any] = {
    "site": "maidstone",
    "observed_at": AT,
    "parameters": {"ed_4h_performance_pct": 71.5},
}
EVENT: dict[str, Any] = {"event_id": "e-1", "area": "dgs", "kind": "received", "occurred_at": AT}
OVERRIDE: dict[str, Any] = {
    "type": "override",
    "id": "ovr-1",
    "scope": "county/kent",
    "level": 3,
    "author": "escalation-group",
    "reason": "county-wide pressure",
    "at": AT,
    "expires_at": "2025-11-12T18:00:00+00:00",
}

Decoder = Callable[[bytes | None, int], object]


def encode(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


def with_(base: dict[str, Any], **changes: Any) -> bytes:
    return encode({**base, **changes})


def test_valid_messages_decode_to_the_core_models() -> None:
    assert decode_reading(encode(READING), LIMIT) == Reading.model_validate(READING)
    assert isinstance(decode_acute(encode(ACUTE), LIMIT), AcuteSubmission)
    assert isinstance(decode_referral_event(encode(EVENT), LIMIT), ReferralEvent)
    assert isinstance(decode_command(encode(OVERRIDE), LIMIT), Override)
    withdraw = {
        "type": "withdraw",
        "id": "ovr-1",
        "scope": "county/kent",
        "author": "a",
        "reason": "r",
        "at": AT,
    }
    assert isinstance(decode_command(encode(withdraw), LIMIT), Withdraw)
    ack = {"type": "ack", "alert_id": "alert-7", "author": "duty", "at": AT}
    assert isinstance(decode_command(encode(ack), LIMIT), Acknowledge)
    reload = {"type": "reload_catalogues", "author": "ops", "at": AT}
    assert isinstance(decode_command(encode(reload), LIMIT), ReloadCatalogues)


BIG = (
    b'{"indicator": "stp_staffing_pct", "area": "dgs", "value": 1, "observed_at": "' + b"x" * 900_000 + b'"}'
)

# (decoder, raw, reason, field, text the error must contain)
CASES: list[tuple[Decoder, bytes | None, str, str | None, str]] = [
    (decode_reading, None, "empty", None, "no value"),
    (decode_reading, b"", "empty", None, "no value"),
    (decode_reading, b'{"indicator": "referrals", "area": ', "bad_json", None, '{"indicator": "referrals"'),
    (decode_reading, b"not json at all", "bad_json", None, "not json at all"),
    (decode_reading, b"[65, 70]", "not_an_object", None, "[65, 70]"),
    (decode_reading, b'"staffing 65"', "not_an_object", None, "staffing 65"),
    (decode_reading, b"42", "not_an_object", None, "42"),
    (decode_reading, with_(READING, value="65"), "invalid", "value", "'65'"),
    (decode_reading, with_(READING, value=True), "invalid", "value", "True"),
    (decode_reading, with_(READING, value=-3), "invalid", "value", "-3"),
    (decode_reading, with_(READING, area="East Kent"), "invalid", "area", "'East Kent'"),
    (decode_reading, with_(READING, indicator=7), "invalid", "indicator", "7"),
    (decode_reading, with_(READING, colour="red"), "invalid", "colour", "'red'"),
    (decode_reading, with_(READING, observed_at="2025-11-12T09:30:00"), "invalid", "observed_at", "09:30:00"),
    (decode_reading, with_(READING, observed_at="yesterday"), "invalid", "observed_at", "'yesterday'"),
    (decode_reading, BIG, "too_large", None, str(len(BIG))),
    (decode_reading, b'{"area": "dgs\xff"}', "bad_encoding", None, "0xff"),
    (decode_reading, b"\xfe\xff{}", "bad_encoding", None, "offset 0"),
    (decode_acute, with_(ACUTE, site="Maidstone Hospital"), "invalid", "site", "'Maidstone Hospital'"),
    (
        decode_acute,
        with_(ACUTE, parameters={"ed_4h_performance_pct": -5}),
        "invalid",
        "parameters.ed_4h_performance_pct",
        "-5",
    ),
    (
        decode_acute,
        with_(ACUTE, parameters={"ed_attendances_vs_expected_pct": -150}),
        "invalid",
        "parameters.ed_attendances_vs_expected_pct",
        "-150",
    ),
    (decode_acute, with_(ACUTE, parameters={"beds": 3}), "invalid", "parameters.beds", "3"),
    (
        decode_acute,
        with_(ACUTE, observed_at="2025-11-12 09:30"),
        "invalid",
        "observed_at",
        "2025-11-12 09:30",
    ),
    (decode_acute, b"[]", "not_an_object", None, "[]"),
    (decode_referral_event, with_(EVENT, count=0), "invalid", "count", "0"),
    (decode_referral_event, with_(EVENT, count="2"), "invalid", "count", "'2'"),
    (decode_referral_event, with_(EVENT, kind="lost"), "invalid", "kind", "'lost'"),
    (decode_referral_event, with_(EVENT, ref="Jane Smith"), "invalid", "ref", "'Jane Smith'"),
    (decode_referral_event, with_(EVENT, nhs_number="9434765919"), "invalid", "nhs_number", "9434765919"),
    (decode_referral_event, with_(EVENT, kind="snapshot"), "invalid", None, "snapshot needs pending"),
    (decode_referral_event, with_(EVENT, kind="accepted"), "invalid", None, "needs caseload"),
    (
        decode_referral_event,
        with_(EVENT, occurred_at="2025-11-12T08:00:00"),
        "invalid",
        "occurred_at",
        "08:00",
    ),
    (decode_command, with_(OVERRIDE, level=5), "invalid", "level", "5"),
    (decode_command, with_(OVERRIDE, level="red"), "invalid", "level", "'red'"),
    (decode_command, with_(OVERRIDE, scope="the county"), "invalid", "scope", "'the county'"),
    (decode_command, with_(OVERRIDE, approved=True), "invalid", "approved", "True"),
    (decode_command, with_(OVERRIDE, type="escalate"), "invalid", "type", "'escalate'"),
    (decode_command, with_(OVERRIDE, expires_at=AT), "invalid", None, "expires_at must be after at"),
    (decode_command, with_(OVERRIDE, at="2025-11-12T09:30:00"), "invalid", "at", "09:30:00"),
    (decode_command, encode({"author": "x"}), "invalid", "type", "is required"),
    (decode_command, b"{", "bad_json", None, "'{'"),
    (decode_command, b"null", "not_an_object", None, "null"),
]


@pytest.mark.parametrize(
    ("decoder", "raw", "reason", "field", "names"),
    CASES,
    ids=[f"{case[0].__name__}-{case[2]}-{i}" for i, case in enumerate(CASES)],
)
def test_refusals_say_why_where_and_what(
    decoder: Decoder, raw: bytes | None, reason: str, field: str | None, names: str
) -> None:
    result = decoder(raw, LIMIT)
    assert isinstance(result, Rejected), result
    assert (result.reason, result.field) == (reason, field), result
    assert names in result.error, result.error
    assert len(result.error) <= MAX_ERROR_CHARS
    if field is not None:
        assert result.error.startswith(f"{field}: "), result.error


def test_every_wrong_field_is_named_not_only_the_first() -> None:
    raw = with_(READING, value=-1, observed_at="2025-11-12T09:30:00", extra=1)
    result = decode_reading(raw, LIMIT)
    assert isinstance(result, Rejected)
    assert result.field == "value"
    for part in ("value: must be 0 or more, got -1", "observed_at:", "extra: is not a known field (value 1)"):
        assert part in result.error


def test_the_wording_matches_opel_assess() -> None:
    raw = with_(READING, value=-3)
    catalogue = load_indicator_catalogue(DEFAULT_INDICATOR_CATALOGUE)
    answer = json.loads(next(LineAssessor(catalogue, None).run([raw])))
    result = decode_reading(raw, LIMIT)
    assert isinstance(result, Rejected)
    assert result.error == answer["error"]


def test_the_limit_is_the_callers() -> None:
    raw = encode(READING)
    assert isinstance(decode_reading(raw, len(raw)), Reading)
    small = decode_reading(raw, len(raw) - 1)
    assert isinstance(small, Rejected)
    assert small.reason == "too_large"


def test_a_huge_bad_value_gives_a_bounded_error() -> None:
    raw = with_(READING, area="a b" * 100_000)
    result = decode_reading(raw, 10 * 1024 * 1024)
    assert isinstance(result, Rejected)
    assert (result.reason, result.field) == ("invalid", "area")
    assert len(result.error) <= MAX_ERROR_CHARS


def dead(value: bytes | None, reason: Reason = "invalid", key: bytes | None = b"dgs") -> dict[str, Any]:
    """The dead letter as it is written on the topic."""
    return dict(json.loads(written(value, reason, key)))


def written(value: bytes | None, reason: Reason, key: bytes | None) -> bytes:
    return deadletter(
        topic=topics.CAPACITY,
        partition=2,
        offset=41,
        timestamp_ms=1_762_939_800_123,
        key=key,
        value=value,
        reason=reason,
        error="value: must be 0 or more, got -3",
        field="value",
        at=datetime(2025, 11, 12, 9, 30, 5, tzinfo=UTC),
    ).to_json()


def test_a_deadletter_keeps_the_message_as_text() -> None:
    raw = with_(READING, value=-3)
    out = dead(raw)
    assert json.loads(json.dumps(out)) == out  # JSON-ready as it stands
    assert out["value"] == raw.decode("utf-8")
    assert (out["encoding"], out["size"], out["truncated"]) == ("utf-8", len(raw), False)
    assert (out["topic"], out["partition"], out["offset"], out["key"]) == (topics.CAPACITY, 2, 41, "dgs")
    assert datetime.fromisoformat(out["timestamp"]) == datetime(2025, 11, 12, 9, 30, 0, 123000, tzinfo=UTC)
    assert (out["reason"], out["field"], out["error"]) == (
        "invalid",
        "value",
        "value: must be 0 or more, got -3",
    )
    assert datetime.fromisoformat(out["at"]) == datetime(2025, 11, 12, 9, 30, 5, tzinfo=UTC)


def test_a_deadletter_keeps_bytes_that_are_not_utf8_as_base64() -> None:
    raw = b"\xff\xfe{binary}"
    out = dead(raw, "bad_encoding", key=b"\xc3")
    assert out["encoding"] == "base64"
    assert base64.b64decode(out["value"]) == raw
    assert out["key_encoding"] == "base64"
    assert base64.b64decode(out["key"]) == b"\xc3"


def test_a_deadletter_of_a_huge_message_keeps_its_start_and_full_size() -> None:
    out = dead(BIG, "too_large")
    assert out["truncated"] is True
    assert out["size"] == len(BIG)
    assert out["value"] == BIG[:DEADLETTER_KEEP_BYTES].decode("utf-8")


def test_a_cut_through_a_multibyte_character_stays_text() -> None:
    raw = b"{" + "é".encode() * DEADLETTER_KEEP_BYTES + b"}"
    out = dead(raw, "too_large")
    assert out["encoding"] == "utf-8"
    assert out["truncated"] is True
    assert len(out["value"].encode("utf-8")) <= DEADLETTER_KEEP_BYTES


def test_a_huge_key_is_cut_like_a_huge_value() -> None:
    key = b"k" * (10 * DEADLETTER_KEEP_BYTES)
    out = dead(b"{}", "invalid", key=key)
    assert out["key"] == "k" * DEADLETTER_KEEP_BYTES
    assert out["key_encoding"] == "utf-8"


def test_a_deadletter_is_valid_against_its_contract() -> None:
    raw = written(with_(READING, value=-3), "invalid", b"dgs")
    assert DeadLetter.model_validate_json(raw).reason == "invalid"


def test_a_tombstone_deadletter_has_no_value() -> None:
    out = dead(None, "empty", key=None)
    assert (out["value"], out["key"], out["size"]) == (None, None, 0)


def test_deadletter_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone"):
        deadletter(
            topic="t",
            partition=0,
            offset=0,
            timestamp_ms=None,
            key=None,
            value=b"x",
            reason="bad_json",
            error="e",
            field=None,
            at=datetime(2025, 1, 1),  # naive on purpose
        )


@pytest.mark.parametrize(
    ("value", "topic", "key"),
    [
        (READING, topics.CAPACITY, b"east_kent"),
        ({**READING, "indicator": "referrals"}, topics.REFERRALS, b"east_kent"),
        ({**READING, "indicator": "health_caseload"}, topics.REFERRALS, b"east_kent"),
        ({**READING, "indicator": "social_caseload"}, topics.REFERRALS, b"east_kent"),
        (ACUTE, topics.ACUTE, b"maidstone"),
        (EVENT, topics.REFERRAL_EVENTS, b"dgs"),
        (OVERRIDE, topics.COMMANDS, b"county/kent"),
        ({"type": "ack", "alert_id": "alert-7"}, topics.COMMANDS, b"alert-7"),
        ({"type": "reload_catalogues", "author": "ops", "at": AT}, topics.COMMANDS, None),
    ],
)
def test_topic_and_key_follow_the_contract(value: dict[str, Any], topic: str, key: bytes | None) -> None:
    assert topic_for(value) == topic
    assert key_for(topic, value) == key


def test_a_shape_with_no_topic_is_none() -> None:
    assert topic_for({"hello": "world"}) is None
    assert topic_for({"indicator": 3}) is None
