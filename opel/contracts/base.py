"""What every output contract shares: strictness, levels and colours, and the JSON encoder."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

LevelNumber = Annotated[int, Field(ge=1, le=4)]
Colour = Literal["green", "amber", "red", "black"]
ScopeKindName = Literal["indicator", "area", "county", "site", "system"]


class Contract(BaseModel):
    """A message on a topic: frozen, and unknown fields are refused rather than ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """An instance from values the caller has already checked, every field given.

        For the per-reading hot path only: pydantic's ``model_construct`` walks the fields and
        their defaults on every call, which cost more than the reading's assessment. The
        contract tests validate everything a real worker writes, so a mistake here fails them.
        """
        obj = cls.__new__(cls)
        _set(obj, "__dict__", values)
        _set(obj, "__pydantic_fields_set__", set(values))
        _set(obj, "__pydantic_extra__", None)
        _set(obj, "__pydantic_private__", None)
        return obj

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON, as every writer puts it on Kafka (``None`` fields included)."""
        return self.__pydantic_serializer__.to_json(self)


_set = object.__setattr__
