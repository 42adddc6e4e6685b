"""OPEL levels 1-4 and the colours the plan pairs with them (plan v1.8 section 4.3)."""

from __future__ import annotations

from enum import IntEnum


class Level(IntEnum):
    """An OPEL level. Higher means more pressure; comparisons follow the number."""

    OPEL_1 = 1
    OPEL_2 = 2
    OPEL_3 = 3
    OPEL_4 = 4

    @property
    def colour(self) -> str:
        return COLOURS[self]

    @property
    def label(self) -> str:
        return f"OPEL {int(self)}"

    @classmethod
    def parse(cls, value: object) -> Level:
        """Accept 1-4 (int) or a colour name; anything else is a ValueError naming the value."""
        if isinstance(value, bool):
            raise ValueError(f"level must be 1-4 or a colour, got {value!r}")
        if isinstance(value, int) and 1 <= value <= 4:
            return cls(value)
        if isinstance(value, str) and value.lower() in BY_COLOUR:
            return BY_COLOUR[value.lower()]
        raise ValueError(f"level must be 1-4 or one of {', '.join(BY_COLOUR)}, got {value!r}")


COLOURS: dict[Level, str] = {
    Level.OPEL_1: "green",
    Level.OPEL_2: "amber",
    Level.OPEL_3: "red",
    Level.OPEL_4: "black",
}
BY_COLOUR: dict[str, Level] = {colour: level for level, colour in COLOURS.items()}
ALL_LEVELS: tuple[Level, ...] = tuple(Level)
