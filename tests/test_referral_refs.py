"""A referral reference is an opaque system id: it must never carry an NHS number or a name
with a date of birth (no personal data on the feeds)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from opel.assess_lines import describe_validation_error
from opel.feeds import ReferralEvent, is_nhs_number

AT = datetime(2025, 11, 12, 9, 30, tzinfo=UTC)


def event(ref: str) -> ReferralEvent:
    return ReferralEvent(event_id="e1", area="dgs", kind="received", occurred_at=AT, ref=ref)


@pytest.mark.parametrize("number", ["9434765919", "4010232137"])
def test_valid_nhs_numbers_pass_the_check(number: str) -> None:
    assert is_nhs_number(number)


@pytest.mark.parametrize("number", ["9434765918", "1234567890", "943476591", "94347659190"])
def test_other_digit_strings_fail_the_check(number: str) -> None:
    assert not is_nhs_number(number)


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("9434765919", "NHS number"),
        ("943-476-5919", "NHS number"),
        ("REF_943_476_5919", "NHS number"),
        ("JSMITH-01031956", "date of birth"),
        ("Smith19560301", "date of birth"),
        ("ann-lee-1970-02-28", "date of birth"),
    ],
)
def test_a_reference_that_identifies_a_person_is_refused_without_echoing_it(ref: str, why: str) -> None:
    with pytest.raises(ValidationError) as caught:
        event(ref)
    message = describe_validation_error(caught.value)  # the wording every refusal uses
    assert why in message
    assert ref not in message


@pytest.mark.parametrize(
    "ref",
    ["KEAH-20251112-0042", "KEAH-12112025-0042", "KEAH-20241112-0042", "9434765918", "REF-0001", "19560301"],
)
def test_system_references_are_taken(ref: str) -> None:
    assert event(ref).ref == ref
