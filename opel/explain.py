"""The words and fields that explain a verdict, built once per verdict when a catalogue loads.

Only the value, its time and where it sits in the band change from reading to reading, so
everything else about an explanation is prepared here ahead of time.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from pydantic_core import to_json

from opel.bands import Placement
from opel.catalogue import Verdict


def fixed_fields(verdict: Verdict) -> MappingProxyType[str, Any]:
    """The output fields that depend on the verdict alone, in output order."""
    level, band = verdict.level, verdict.band
    return MappingProxyType(
        {
            "level": None if level is None else int(level),
            "colour": None if level is None else level.colour,
            "status": "assessed" if level is not None else "not_assessed",
            "reason": verdict.reason,
            "band": None if band is None else band.published,
            "interval": None if band is None else str(band.exact),
            "category": verdict.category,
            "catalogue": verdict.catalogue.id,
            "catalogue_version": verdict.catalogue.version,
            "plan_section": verdict.plan_section,
        }
    )


def sentence_parts(verdict: Verdict) -> MappingProxyType[Placement, tuple[str, str]]:
    """Per placement, the text before and after the value in the explanation sentence."""
    source = f"({verdict.catalogue.ref} §{verdict.plan_section})"
    subject = f"{verdict.indicator} in {verdict.area}"
    level = verdict.level
    if level is None:
        text = f"{subject} is not assessed: {verdict.reason} {source}"
        return MappingProxyType(dict.fromkeys(Placement, (text, "")))
    outcome = f"{level.label} {level.colour} {source}"
    if verdict.category is not None or verdict.band is None:
        text = f"{subject} is '{verdict.category}': {outcome}"
        return MappingProxyType(dict.fromkeys(Placement, (text, "")))
    band = verdict.band
    where = {
        Placement.INSIDE: f"in the published band {band.published}",
        Placement.BETWEEN: f"between published bands; exact band {band.exact} ({band.published})",
        Placement.BEYOND: f"beyond the published range; takes the extreme band {band.published}",
    }
    before = f"{verdict.indicator} = "
    return MappingProxyType(
        {placement: (before, f" in {verdict.area} is {text}: {outcome}") for placement, text in where.items()}
    )


def json_parts(verdict: Verdict) -> tuple[bytes, bytes]:
    """The constant JSON text around a reading's value and time, for fast serialisation.

    Assessment.to_json() joins these with the per-reading values; a test checks the result is
    byte-for-byte what serialising Assessment.to_dict() gives.
    """
    head = to_json({"indicator": verdict.indicator, "area": verdict.area})[:-1] + b',"value":'
    fixed = b"," + to_json(dict(fixed_fields(verdict)))[1:-1] + b',"placement":'
    return head, fixed
