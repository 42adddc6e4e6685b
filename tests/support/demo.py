"""Status and audit values built through the contract models, for the board, the API and their tests.

:func:`status_record` builds one ``opel.status.v1`` value of the kind its scope names, with the
fields the worker writes for that kind (:mod:`opel.contracts.status`); :func:`audit_entry` builds
an ``opel.audit.v1`` record with :func:`opel.contracts.audit.audit_record`, as the worker does.
:func:`demo_statuses` is a plausible winter morning: two areas under pressure, an override
declared on East Kent, a reading held up by the step-down wait in West Kent, a stale reading in
Swale, and the acute sites with their scores (one of them incomplete).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from types import EllipsisType
from typing import Any, Final

from opel.contracts.audit import AuditRecord, Decision, audit_record
from opel.contracts.base import Colour
from opel.contracts.status import (
    AnyStatus,
    AreaStatus,
    CountyStatus,
    Held,
    IndicatorStatus,
    SitePoints,
    SiteStatus,
    SystemStatus,
    Value,
)
from opel.feeds import Override, ReferralEvent
from opel.levels import Level
from opel.models import AREA_IDS

__all__ = [
    "ACUTE_MAX_SCORE",
    "audit_entry",
    "demo_statuses",
    "held",
    "normalised",
    "override",
    "referral_counted",
    "status_record",
]

CATALOGUE: Final = "kcc-asch-2025-26"
ACUTE_CATALOGUE: Final = "nhs-acute-2023-24"
CATALOGUE_VERSION: Final = "1.8"
ACUTE_MAX_SCORE: Final = 44
"""The acute catalogue's highest score (nine parameters); the normalised score is score / 44 × 100."""
DWELL: Final = dt.timedelta(hours=24)

_NORMALISED_LEVELS: Final = ((15.0, 1), (40.0, 2), (70.0, 3))  # nhs-opel-2024-26-levels


_COLOURS: Final[dict[int, Colour]] = {1: "green", 2: "amber", 3: "red", 4: "black"}


def _colour(level: int | None) -> Colour | None:
    return None if level is None else _COLOURS[level]


def normalised(score: float) -> tuple[float, int]:
    """The normalised score (0-100, two decimals, as the worker rounds it) and its level."""
    value = round(score * 100.0 / ACUTE_MAX_SCORE, 2)
    level = next((lv for upper, lv in _NORMALISED_LEVELS if value <= upper), 4)
    return value, level


def override(
    scope: str,
    level: int,
    at: dt.datetime,
    *,
    expires_at: dt.datetime,
    reason: str = "declared at the daily call",
    author: str = "escalation-group",
    id: str = "ovr-1",
    declaration: bool = True,
) -> Override:
    """The override command a status carries while it is in force."""
    return Override(
        type="override",
        id=id,
        scope=scope,
        level=level,
        author=author,
        reason=reason,
        at=at,
        expires_at=expires_at,
        declaration=declaration,
    )


def held(level: int, computed_level: int, lower_since: dt.datetime, *, next_level: int | None = None) -> Held:
    """The step-down wait: ``level`` stays in force for a dwell after the data fell to ``computed_level``."""
    return Held(
        level=level,
        computed_level=computed_level,
        lower_since=lower_since,
        next_level=computed_level if next_level is None else next_level,
        until=lower_since + DWELL,
    )


def status_record(
    scope: str,
    level: int | None,
    *,
    at: dt.datetime,
    computed_level: int | EllipsisType | None = ...,
    observed_at: dt.datetime | None = None,
    since: dt.datetime | None = None,
    value: Value | None = None,
    band: str | None = None,
    override: Override | None = None,
    held: Held | None = None,
    score: float | None = None,
    score_max: float | None = None,
    missing: Sequence[str] = (),
    points: Mapping[str, SitePoints] | None = None,
    driving: Sequence[str] = (),
    areas_assessed: int = 4,
    aggregate_level: int | None = None,
    explanation: str | None = None,
) -> AnyStatus:
    """One status value of the kind ``scope`` names (``indicator/<id>/<area>``, ``area/<id>``, ...).

    ``level`` is the level in force: with an override, the override's; with ``held``, the held
    one. ``computed_level`` defaults to ``level`` (no override, no step-down wait). ``since``
    defaults to three hours before ``at``. ``score_max`` defaults to ``score`` (every parameter
    reported) on a site.
    """
    computed = level if isinstance(computed_level, EllipsisType) else computed_level
    state_level = computed if override is not None and held is None else level
    if override is not None and held is not None:
        state_level = held.level
    kind, _, rest = scope.partition("/")
    shown = computed if computed is not None else level
    common: dict[str, Any] = {
        "scope": scope,
        "level": level,
        "colour": _colour(level),
        "computed_level": computed,
        "computed_colour": _colour(computed),
        "state_level": state_level,
        "held": held,
        "override": override,
        "explanation": explanation
        or (f"{scope} is {Level(shown).label} {_colour(shown)}" if shown else f"{scope} is not assessed"),
        "catalogue": ACUTE_CATALOGUE if kind in ("site", "system") else CATALOGUE,
        "catalogue_version": CATALOGUE_VERSION,
        "observed_at": observed_at or at,
        "since": since or (at - dt.timedelta(hours=3)),
        "updated_at": at,
    }
    if kind == "indicator":
        indicator, _, area = rest.partition("/")
        return IndicatorStatus(
            kind="indicator", area=area, indicator=indicator, value=value, band=band, **common
        )
    if kind == "area":
        return AreaStatus(kind="area", area=rest, driving=list(driving), **common)
    if kind == "county":
        return CountyStatus(kind="county", county=rest, areas_assessed=areas_assessed, late=None, **common)
    normalised_score, normalised_level = normalised(score) if score is not None else (None, None)
    if kind == "site":
        return SiteStatus(
            kind="site",
            site=rest,
            score=score,
            score_scale=44,
            score_max=score if score_max is None else score_max,
            complete=None if score is None else not missing,
            missing=list(missing),
            normalised_score=normalised_score,
            normalised_level=normalised_level,
            points=dict(points or {}),
            **common,
        )
    if kind == "system":
        return SystemStatus(
            kind="system",
            system=rest,
            score=score,
            score_scale=44,
            normalised_score=normalised_score,
            aggregate_level=aggregate_level,
            driving=list(driving),
            missing=list(missing),
            late=None,
            **common,
        )
    raise ValueError(f"unknown scope kind in {scope!r}")


def audit_entry(
    scope: str | None,
    decision: Decision,
    at: dt.datetime,
    *,
    input: Mapping[str, Any] | None = None,
    outcome: Mapping[str, Any] | None = None,
    reason: str | None = None,
    author: str | None = None,
) -> AuditRecord:
    """An ``opel.audit.v1`` record, built and validated as the contract says."""
    built = audit_record(
        decision,
        scope,
        at,
        input=input,
        outcome=outcome,
        reason=reason,
        author=author,
        catalogue=CATALOGUE,
        catalogue_version=CATALOGUE_VERSION,
    )
    return AuditRecord.model_validate(built.model_dump())


def referral_counted(event: ReferralEvent) -> AuditRecord:
    """The worker's audit record of a referral event it counted (opel/stages/area.py): the event
    as it came, ``ref`` included, in its area's history. The API finds KEaH 2-hour clocks by it."""
    return audit_entry(
        f"area/{event.area}",
        "referral_counted",
        event.occurred_at,
        input=event.model_dump(exclude_none=True),
        outcome={"pending": 1, "health": 0, "social": 0, "clamped": False},
    )


# Per area: (indicator, value, band, level). Values sit in the 2025-26 catalogue's bands.
_READINGS: Final[dict[str, list[tuple[str, Value, str, int]]]] = {
    "dgs": [
        ("stp_staffing_pct", 64, "60-69", 2),
        ("health_caseload", 41, "40-49", 2),
        ("social_caseload", 22, "0-24", 1),
        ("referrals", 18, "0-19", 1),
        ("keah_capacity", 85, ">=80", 1),
    ],
    "east_kent": [
        ("stp_staffing_pct", 47, "40-49", 3),
        ("health_caseload", 58, "50-59", 3),
        ("social_caseload", 35, "25-39", 2),
        ("referrals", 44, "40-59", 3),
        ("keah_capacity", 62, "60-79", 2),
    ],
    "swale": [
        ("stp_staffing_pct", 82, ">=70", 1),
        ("health_caseload", 20, "0-39", 1),
        ("social_caseload", 12, "0-24", 1),
        ("referrals", 9, "0-19", 1),
        ("keah_capacity", 70, "60-79", 1),
    ],
    "west_kent": [
        ("stp_staffing_pct", 71, ">=70", 1),
        ("health_caseload", 44, "40-49", 2),
        ("social_caseload", 30, "25-39", 2),
        ("referrals", 26, "20-39", 2),
        ("keah_capacity", 74, "60-79", 1),
    ],
}

# Acute sites: (site, score out of 44, parameters not reported with their most points).
_SITES: Final[list[tuple[str, int, tuple[tuple[str, int], ...]]]] = [
    ("william_harvey", 31, ()),
    ("qeqm", 27, ()),
    ("kent_and_canterbury", 15, ()),
    ("tunbridge_wells", 12, (("bed_occupancy", 4),)),
    ("maidstone", 9, ()),
    ("darent_valley", 22, ()),
    ("medway_maritime", 36, ()),
]
_SYSTEM_WEIGHTS: Final = {site: 1.0 for site, _, _ in _SITES}


def _score_level(score: float) -> int:
    return 1 if score < 12 else 2 if score < 23 else 3 if score < 34 else 4


def demo_statuses(now: dt.datetime) -> list[AnyStatus]:
    """A realistic board.

    DGS amber; East Kent red with OPEL 4 declared by override; West Kent's STP staffing back to
    green two hours ago but held at OPEL 3 by the step-down wait (and the area with it); Swale's
    KEaH capacity 40 hours old (stale); seven acute sites, Kent and Canterbury at 15 of 44 and
    Tunbridge Wells missing one parameter; the Kent and Medway system from their mean score.
    """
    at = now - dt.timedelta(minutes=12)
    lower_since = now - dt.timedelta(hours=2, minutes=10)
    records: list[AnyStatus] = []
    for area in AREA_IDS:
        levels: dict[str, int] = {}
        for indicator, value, band, level in _READINGS[area]:
            observed = at - dt.timedelta(hours=2)
            scope = f"indicator/{indicator}/{area}"
            if area == "swale" and indicator == "keah_capacity":
                observed = now - dt.timedelta(hours=40)  # a feed that stopped: shown as stale
            if area == "west_kent" and indicator == "stp_staffing_pct":
                wait = held(3, level, lower_since)
                records.append(
                    status_record(
                        scope,
                        3,
                        at=at,
                        computed_level=level,
                        held=wait,
                        observed_at=observed,
                        since=now - dt.timedelta(days=2),
                        value=value,
                        band=band,
                    )
                )
                levels[indicator] = level
                continue
            records.append(status_record(scope, level, at=at, observed_at=observed, value=value, band=band))
            levels[indicator] = level
        computed = max(levels.values())
        driving = sorted(name for name, lv in levels.items() if lv == computed)
        scope = f"area/{area}"
        if area == "east_kent":
            declared = override(
                scope,
                4,
                now - dt.timedelta(hours=1),
                expires_at=now + dt.timedelta(hours=23),
                id="ovr-demo-east-kent",
                reason="Two STP teams isolating with norovirus; declared black at the 09:00 call",
            )
            records.append(
                status_record(
                    scope,
                    4,
                    at=at,
                    computed_level=computed,
                    override=declared,
                    since=now - dt.timedelta(hours=1),
                    driving=driving,
                )
            )
        elif area == "west_kent":
            wait = held(3, computed, lower_since)
            records.append(
                status_record(
                    scope,
                    3,
                    at=at,
                    computed_level=computed,
                    held=wait,
                    since=now - dt.timedelta(days=2),
                    driving=driving,
                )
            )
        else:
            records.append(status_record(scope, computed, at=at, driving=driving))
    records.append(
        status_record(
            "county/kent",
            2,
            at=at,
            explanation="in some areas: 3 of 4 assessed areas at OPEL 2 or above (worst OPEL 3, "
            "not county-wide: needs 3 areas)",
        )
    )
    for site, score, absent in _SITES:
        records.append(
            status_record(
                f"site/{site}",
                _score_level(score),
                at=at,
                score=score,
                score_max=score + sum(most for _, most in absent),
                missing=[name for name, _ in absent],
            )
        )
    # Weighted mean of the site scores, lifted to the level of any site at OPEL 3 or above.
    mean = sum(score * _SYSTEM_WEIGHTS[site] for site, score, _ in _SITES) / sum(_SYSTEM_WEIGHTS.values())
    site_levels = {site: _score_level(score) for site, score, _ in _SITES}
    level = max(_score_level(mean), *site_levels.values())
    records.append(
        status_record(
            "system/kent-medway",
            level,
            at=at,
            score=round(mean, 2),
            aggregate_level=_score_level(mean),
            driving=sorted(site for site, lv in site_levels.items() if lv == level),
            explanation=f"weighted mean score {mean:.1f} of 44 over {len(_SITES)} sites: "
            f"OPEL {_score_level(mean)}; enacting OPEL {level} because medway_maritime at OPEL {level}",
        )
    )
    return records
