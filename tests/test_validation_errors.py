"""One wording for pydantic errors: opel.validation_errors."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from opel.validation_errors import FieldProblem, field_problems, first_problem, join_problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Item(_Strict):
    id: str
    level: int


class Log(_Strict):
    type: Literal["log"]


class Hook(_Strict):
    type: Literal["webhook"]
    url: str


class Doc(_Strict):
    items: list[Item]
    continues: dict[str, dict[int, list[int]]] = Field(default_factory=dict)
    channels: dict[str, Annotated[Log | Hook, Field(discriminator="type")]] = Field(default_factory=dict)

    @field_validator("items")
    @classmethod
    def _some(cls, value: list[Item]) -> list[Item]:
        if not value:
            raise ValueError("OPEL needs at least one item")
        return value


def problems_of(data: dict[str, Any], **options: Any) -> list[FieldProblem]:
    with pytest.raises(ValidationError) as caught:
        Doc.model_validate(data)
    return field_problems(caught.value, model=Doc, data=data, **options)


def test_missing_and_unknown_keys_name_the_place_and_the_known_keys() -> None:
    found = problems_of({"items": [{"id": "a", "level": 2}, {"id": "b", "colour": "red"}]}, noun="key")
    assert [(p.path, p.problem) for p in found] == [
        ("items[1].level", "is required"),
        ("items[1].colour", "is not a known key (value 'red'; known: id, level)"),
    ]


def test_type_errors_say_what_to_write_and_what_was_given() -> None:
    (found,) = problems_of({"items": [{"id": "a", "level": "two"}]})
    assert (found.path, found.problem) == ("items[0].level", "must be a whole number, got 'two'")


def test_integer_mapping_keys_are_keys_not_indexes() -> None:
    (found,) = problems_of({"items": [{"id": "a", "level": 1}], "continues": {"cook": {3: "x"}}})
    assert (found.path, found.problem) == ("continues.cook.3", "must be a list, got 'x'")


def test_the_tag_of_a_discriminated_union_stays_out_of_the_path() -> None:
    (found,) = problems_of({"items": [{"id": "a", "level": 1}], "channels": {"duty": {"type": "webhook"}}})
    assert found.path == "channels.duty.url"
    assert found.problem == "is required"


def test_a_value_error_loses_its_prefix_and_keeps_a_leading_name() -> None:
    (found,) = problems_of({"items": []})
    assert (found.path, found.problem) == ("items", "OPEL needs at least one item")


def test_messages_read_on_after_the_path() -> None:
    class Count(BaseModel):
        count: int = Field(ge=1)

    with pytest.raises(ValidationError) as caught:
        Count.model_validate({"count": 0})
    assert join_problems(field_problems(caught.value)) == (
        "count: input should be greater than or equal to 1, got 0"
    )


def test_first_problem_counts_the_rest() -> None:
    one = FieldProblem(("a",), "a", "is required", "missing")
    assert first_problem([one]) == ("a", "is required")
    assert first_problem([one, one]) == ("a", "is required (and 1 more problem)")
    assert first_problem([one, one, one]) == ("a", "is required (and 2 more problems)")


def test_join_names_the_whole_input_and_the_caller_may_word_an_error() -> None:
    class Pair(BaseModel):
        model_config = ConfigDict(extra="forbid")
        a: int

    with pytest.raises(ValidationError) as caught:
        Pair.model_validate({"b": [1]})
    found = field_problems(
        caught.value, explain=lambda error: "needs a" if error["type"] == "missing" else None
    )
    assert join_problems(found, whole="(message)") == "a: needs a; b: is not a known field"


def test_values_can_be_left_out_of_the_wording() -> None:
    with pytest.raises(ValidationError) as caught:
        Item.model_validate({"id": "a", "level": "secret", "token": "hunter2"})
    found = field_problems(caught.value, show_input=False)
    assert [(p.path, p.problem) for p in found] == [
        ("level", "must be a whole number"),
        ("token", "is not a known field"),
    ]
