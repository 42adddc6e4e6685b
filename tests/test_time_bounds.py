"""Inputs' own times: RFC 3339 text only, not too far ahead of the clock or behind it; overrides
bounded in length. One bad clock must never move any state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from support.stage_context import shipped_context

from opel.destinations import destinations
from opel.errors import InputError
from opel.feeds import Override, ReferralEvent
from opel.models import AcuteSubmission, Reading
from opel.stages.context import Context, InputBounds

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ctx() -> Context:
    return shipped_context(bounds=InputBounds(max_skew=timedelta(minutes=5), max_age=timedelta(days=30)))


def reading_json(observed_at: Any) -> str:
    body = {"indicator": "stp_staffing_pct", "area": "dgs", "value": 65, "observed_at": observed_at}
    return json.dumps(body)


@pytest.mark.parametrize(
    "observed_at",
    [1764666000, 1764666000000, "1764666000", "2026-12-02T09:00:00", "2026-12-02", "yesterday", None],
)
def test_a_time_that_is_not_rfc_3339_text_with_an_offset_is_refused(observed_at: Any) -> None:
    with pytest.raises(ValidationError, match="observed_at"):
        Reading.model_validate_json(reading_json(observed_at))


@pytest.mark.parametrize(
    "observed_at", ["2026-12-02T09:00:00Z", "2026-12-02T09:00:00+00:00", "2026-12-02T09:00:00.123456+01:00"]
)
def test_rfc_3339_text_with_an_offset_is_taken(observed_at: str) -> None:
    assert Reading.model_validate_json(reading_json(observed_at)).observed_at.tzinfo is not None


def test_an_integer_override_expiry_is_refused() -> None:
    body = {
        "type": "override",
        "id": "o-1",
        "scope": "area/dgs",
        "level": 3,
        "author": "group",
        "reason": "test",
        "at": "2026-12-02T09:00:00Z",
        "expires_at": 1764752400,
    }
    with pytest.raises(ValidationError, match="expires_at"):
        Override.model_validate_json(json.dumps(body))


def reading(at: datetime) -> Reading:
    return Reading(indicator="stp_staffing_pct", area="dgs", value=65, observed_at=at)


@pytest.mark.parametrize(
    ("offset", "reason"),
    [
        (timedelta(minutes=5, seconds=1), "future_timestamp"),
        (timedelta(days=365 * 73), "future_timestamp"),
        (-timedelta(days=30, seconds=1), "too_old"),
    ],
)
def test_an_input_outside_the_clock_bounds_is_refused_naming_its_time(
    ctx: Context, offset: timedelta, reason: str
) -> None:
    with pytest.raises(InputError) as caught:
        destinations(reading(NOW + offset), ctx, NOW)
    assert (caught.value.field, caught.value.reason) == ("observed_at", reason)


@pytest.mark.parametrize("offset", [timedelta(minutes=5), timedelta(0), -timedelta(days=30)])
def test_an_input_just_inside_the_bounds_is_routed(ctx: Context, offset: timedelta) -> None:
    assert destinations(reading(NOW + offset), ctx, NOW)


def test_every_input_kind_is_bounded(ctx: Context) -> None:
    late = NOW + timedelta(days=1)
    event = ReferralEvent(event_id="e1", area="dgs", kind="received", occurred_at=late)
    with pytest.raises(InputError, match="occurred_at"):
        destinations(event, ctx, NOW)
    submission = AcuteSubmission.model_validate(
        {"site": "maidstone", "observed_at": late.isoformat(), "parameters": {"nctr_beds_pct": 5}}
    )
    with pytest.raises(InputError, match="observed_at"):
        destinations(submission, ctx, NOW)


def override(days: float) -> Override:
    return Override(
        type="override",
        id="o-1",
        scope="area/dgs",
        level=3,
        author="group",
        reason="test",
        at=NOW,
        expires_at=NOW + timedelta(days=days),
    )


def test_an_override_may_last_the_maximum_but_not_longer(ctx: Context) -> None:
    assert destinations(override(14), ctx, NOW)
    with pytest.raises(InputError, match="expires_at"):
        destinations(override(14.001), ctx, NOW)
    with pytest.raises(InputError, match="expires_at"):
        destinations(override(365 * 7974), ctx, NOW)
