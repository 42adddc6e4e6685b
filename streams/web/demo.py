"""Status records in the ``opel.status.v1`` shape, for the board screenshot and browser tests.

:func:`status_record` builds one value the way docs/topics.md describes it; :func:`demo_statuses`
builds a plausible winter morning: two areas under pressure, an override declared on East Kent,
a stale reading, and the acute sites with their scores. Not used by the running service.
"""

from __future__ import annotations

import datetime as dt
from types import EllipsisType
from typing import Any

from opel.levels import Level
from opel.models import AREA_IDS

__all__ = ["demo_statuses", "status_record"]

CATALOGUE = "kcc-asch-2025-26"
ACUTE_CATALOGUE = "nhs-acute-2023-24"


def _colour(level: int | None) -> str | None:
    return Level(level).colour if level is not None else None


def _parts(scope: str) -> dict[str, Any]:
    kind, _, rest = scope.partition("/")
    parts: dict[str, Any] = {
        "kind": kind,
        "area": None,
        "indicator": None,
        "site": None,
        "system": None,
        "county": None,
    }
    if kind == "indicator":
        parts["indicator"], _, parts["area"] = rest.partition("/")
    else:
        parts[kind] = rest
    return parts


def status_record(
    scope: str,
    level: int | None,
    *,
    at: dt.datetime,
    computed_level: int | EllipsisType | None = ...,
    observed_at: dt.datetime | None = None,
    value: Any = None,
    override: dict[str, Any] | None = None,
    score: float | None = None,
    score_max: float | None = None,
    explanation: str | None = None,
) -> dict[str, Any]:
    """One status value. ``level`` is the level in force; with an override it is the override's.

    ``computed_level`` defaults to ``level`` (no override, no dwell).
    """
    computed = level if isinstance(computed_level, EllipsisType) else computed_level
    state_level = computed if override is not None else level
    record: dict[str, Any] = {
        "scope": scope,
        **_parts(scope),
        "level": level,
        "colour": _colour(level),
        "computed_level": computed,
        "computed_colour": _colour(computed),
        "state_level": state_level,
        "override": override,
        "value": value,
        "score": score,
        "normalised_score": round(100 * score / score_max, 1) if score is not None and score_max else None,
        "score_max": score_max,
        "complete": True if score is not None else None,
        "missing": [] if score is not None else None,
        "explanation": explanation
        or (f"{scope} is {Level(level).label} {_colour(level)}" if level else f"{scope} is not assessed"),
        "catalogue": ACUTE_CATALOGUE if scope.startswith(("site/", "system/")) else CATALOGUE,
        "catalogue_version": "1.8",
        "observed_at": (observed_at or at).isoformat(),
        "since": (at - dt.timedelta(hours=3)).isoformat(),
        "updated_at": at.isoformat(),
    }
    return record


# Per area: (indicator, value, level). Values sit in the 2025-26 catalogue's bands.
_READINGS: dict[str, list[tuple[str, Any, int | None]]] = {
    "dgs": [
        ("stp_staffing_pct", 64, 2),
        ("health_caseload", 41, 2),
        ("social_caseload", 22, 1),
        ("referrals", 18, 1),
        ("keah_capacity", 85, 1),
    ],
    "east_kent": [
        ("stp_staffing_pct", 47, 3),
        ("health_caseload", 58, 3),
        ("social_caseload", 35, 2),
        ("referrals", 44, 3),
        ("keah_capacity", 62, 2),
    ],
    "swale": [
        ("stp_staffing_pct", 82, 1),
        ("health_caseload", 20, 1),
        ("social_caseload", 12, 1),
        ("referrals", 9, 1),
        ("keah_capacity", 70, 1),
    ],
    "west_kent": [
        ("stp_staffing_pct", 71, 1),
        ("health_caseload", 44, 2),
        ("social_caseload", 30, 2),
        ("referrals", 26, 2),
        ("keah_capacity", 74, 1),
    ],
}

# Acute sites: (site, score out of 44, level).
_SITES: list[tuple[str, int, int]] = [
    ("william_harvey", 31, 3),
    ("qeqm", 27, 3),
    ("kent_and_canterbury", 14, 2),
    ("tunbridge_wells", 12, 2),
    ("maidstone", 9, 1),
    ("darent_valley", 22, 2),
    ("medway_maritime", 36, 4),
]


def demo_statuses(now: dt.datetime) -> list[dict[str, Any]]:
    """A realistic board: DGS amber, East Kent red with a declared override, stale KEaH in Swale."""
    at = now - dt.timedelta(minutes=12)
    records: list[dict[str, Any]] = []
    for area in AREA_IDS:
        levels: list[int] = []
        for indicator, value, level in _READINGS[area]:
            observed = at - dt.timedelta(hours=2)
            if area == "swale" and indicator == "keah_capacity":
                observed = now - dt.timedelta(hours=40)  # a feed that stopped: shown as stale
            records.append(
                status_record(
                    f"indicator/{indicator}/{area}", level, at=at, observed_at=observed, value=value
                )
            )
            if level is not None:
                levels.append(level)
        area_level = max(levels) if levels else None
        override = None
        computed: int | None = area_level
        if area == "east_kent":
            override = {
                "id": "ovr-demo-east-kent",
                "level": 4,
                "author": "escalation-group",
                "reason": "Two STP teams isolating with norovirus; declared black at the 09:00 call",
                "at": (now - dt.timedelta(hours=1)).isoformat(),
                "expires_at": (now + dt.timedelta(hours=23)).isoformat(),
                "declaration": True,
            }
            area_level = 4
        records.append(
            status_record(f"area/{area}", area_level, at=at, computed_level=computed, override=override)
        )
    records.append(status_record("county/kent", 2, at=at, explanation="Pressure in some areas: OPEL 2 amber"))
    for site, score, level in _SITES:
        records.append(status_record(f"site/{site}", level, at=at, score=score, score_max=44))
    records.append(status_record("system/kent-medway", 3, at=at, score=151, score_max=308))
    return records
