"""What every output contract shares: strictness, levels and colours, and the JSON encoder."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

LevelNumber = Annotated[int, Field(ge=1, le=4)]
Colour = Literal["green", "amber", "red", "black"]
ScopeKindName = Literal["indicator", "area", "county", "site", "system"]


class Contract(BaseModel):
    """A message on a topic: frozen, and unknown fields are refused rather than ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON, as every writer puts it on Kafka (``None`` fields included)."""
        return self.__pydantic_serializer__.to_json(self)
