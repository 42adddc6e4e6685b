"""Query parameter and label helpers of the API."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from streams.web.inputs import OverrideBody, parse_rfc3339
from streams.web.problems import ProblemError, validation_problem
from streams.web.reads import level_label


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-12T09:30:00Z", dt.datetime(2025, 11, 12, 9, 30, tzinfo=dt.UTC)),
        ("2025-11-12t09:30:00z", dt.datetime(2025, 11, 12, 9, 30, tzinfo=dt.UTC)),
        ("2025-11-12T09:30:00.250+01:00", dt.datetime(2025, 11, 12, 8, 30, 0, 250000, tzinfo=dt.UTC)),
        ("2025-11-12T09:30:00 00:00", dt.datetime(2025, 11, 12, 9, 30, tzinfo=dt.UTC)),  # '+' lost in a URL
        ("2016-12-31T23:59:60Z", dt.datetime(2016, 12, 31, 23, 59, 59, tzinfo=dt.UTC)),  # leap second
    ],
)
def test_rfc3339_accepted(text: str, expected: dt.datetime) -> None:
    assert parse_rfc3339("since", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2025-11-12",
        "2025-11-12T09:30:00",
        "1731403800",
        "2025-13-12T09:30:00Z",
        "2025-11-12T09:30Z",
    ],
)
def test_rfc3339_refused_naming_the_parameter(text: str) -> None:
    with pytest.raises(ProblemError) as caught:
        parse_rfc3339("since", text)
    assert caught.value.status == 422
    assert caught.value.extra["field"] == "since"
    assert caught.value.detail.startswith("since:")


@pytest.mark.parametrize(
    ("level", "label"),
    [
        (1, "OPEL 1 green"),
        (2, "OPEL 2 amber"),
        (3, "OPEL 3 red"),
        (4, "OPEL 4 black"),
        (None, "not assessed"),
        (0, "not assessed"),
        (True, "not assessed"),
    ],
)
def test_level_label_always_has_words(level: object, label: str) -> None:
    assert level_label(level) == label


def test_a_bad_body_is_named_field_by_field_without_echoing_values() -> None:
    body = {"scope": "area/dgs", "level": 9, "reason": "x", "expires_at": "soon", "token": "s3cret-value"}
    with pytest.raises(ValidationError) as caught:
        OverrideBody.model_validate(body)
    problem = validation_problem(caught.value)
    assert problem.status == 422
    assert [e["field"] for e in problem.extra["errors"]] == ["level", "expires_at", "token"]
    assert problem.detail == "level: input should be less than or equal to 4"
    assert problem.extra["errors"][2]["message"].startswith("is not a known field")
    for value in ("9", "soon", "s3cret"):
        assert value not in str(problem.extra), value
