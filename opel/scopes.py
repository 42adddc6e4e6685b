"""Scope keys: the names under which a level is tracked, published and overridden.

``indicator/<indicator>/<area>``, ``area/<area>``, ``county/<county>``, ``site/<site>`` and
``system/<system>``. A key is the status topic's message key, so it is part of the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ScopeKind = Literal["indicator", "area", "county", "site", "system"]
KINDS: tuple[ScopeKind, ...] = ("indicator", "area", "county", "site", "system")


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind
    name: str  # area, county, site or system id; for an indicator scope, the area
    indicator: str | None = None

    @property
    def key(self) -> str:
        if self.kind == "indicator":
            return f"indicator/{self.indicator}/{self.name}"
        return f"{self.kind}/{self.name}"

    def parts(self) -> dict[str, str | None]:
        """The scope's named parts as status and escalation events carry them."""
        return {
            "area": self.name if self.kind in ("indicator", "area") else None,
            "indicator": self.indicator,
            "site": self.name if self.kind == "site" else None,
            "system": self.name if self.kind == "system" else None,
            "county": self.name if self.kind == "county" else None,
        }


def indicator_key(indicator: str, area: str) -> str:
    return f"indicator/{indicator}/{area}"


def parse_scope(key: str) -> Scope:
    """The scope a key names; a ValueError names the key when it is malformed."""
    parts = key.split("/")
    kind = parts[0]
    if kind == "indicator" and len(parts) == 3 and all(parts[1:]):
        return Scope("indicator", parts[2], parts[1])
    if kind in ("area", "county", "site", "system") and len(parts) == 2 and parts[1]:
        return Scope(kind, parts[1])  # type: ignore[arg-type]
    raise ValueError(
        f"scope must look like indicator/<indicator>/<area>, area/<area>, county/<county>, "
        f"site/<site> or system/<system>, got {key!r}"
    )
