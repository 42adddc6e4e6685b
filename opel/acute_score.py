"""Score an acute site's OPEL submission: points per parameter, total, level, normalised score."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opel.bands import Band
from opel.catalogue import AcuteCatalogue, CatalogueMeta
from opel.errors import InputError
from opel.levels import Level
from opel.models import PARAMETER_IDS, AcuteSubmission


@dataclass(frozen=True, slots=True)
class ParameterScore:
    parameter: str
    value: float
    points: int
    band: Band


@dataclass(frozen=True, slots=True)
class AcuteAssessment:
    """A site's score with its parts. With parameters missing, ``score`` is a lower bound."""

    site: str
    observed_at: datetime
    parts: tuple[ParameterScore, ...]
    missing: tuple[str, ...]
    score: int
    score_max: int
    level: Level
    level_max: Level
    normalised_score: float
    normalised_level: Level | None
    catalogue: CatalogueMeta

    @property
    def complete(self) -> bool:
        return not self.missing

    def explanation(self) -> str:
        text = f"{self.site} scores {self.score} of 44: {self.level.label} {self.level.colour}"
        if self.missing:
            text += (
                f"; {len(self.missing)} parameter(s) not reported ({', '.join(self.missing)}), "
                f"so the score is at least {self.score} and at most {self.score_max} "
                f"({self.level.label} to {self.level_max.label})"
            )
        return f"{text} ({self.catalogue.ref})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "observed_at": self.observed_at.isoformat(),
            "score": self.score,
            "score_max": self.score_max,
            "complete": self.complete,
            "missing": list(self.missing),
            "level": int(self.level),
            "level_max": int(self.level_max),
            "colour": self.level.colour,
            "normalised_score": round(self.normalised_score, 2),
            "normalised_level": None if self.normalised_level is None else int(self.normalised_level),
            "points": {
                part.parameter: {"value": part.value, "points": part.points, "band": part.band.published}
                for part in self.parts
            },
            "catalogue": self.catalogue.id,
            "catalogue_version": self.catalogue.version,
            "explanation": self.explanation(),
        }


def score_submission(catalogue: AcuteCatalogue, submission: AcuteSubmission) -> AcuteAssessment:
    """Score one submission; an unknown site or an unusable parameter set is an InputError."""
    if submission.site not in catalogue.sites:
        known = ", ".join(catalogue.sites)
        raise InputError("site", f"unknown site {submission.site!r} in {catalogue.meta.id} (known: {known})")
    reported = submission.parameters.reported()
    if not reported:
        raise InputError("parameters", "no parameter has a value; at least one is needed to score")
    missing = tuple(name for name in PARAMETER_IDS if name not in reported)
    if missing and catalogue.missing_parameters == "reject":
        raise InputError(f"parameters.{missing[0]}", "not reported, and this catalogue needs all nine")
    parts = []
    for name, value in reported.items():
        rule = catalogue.parameters[name]
        band = rule.table.band_for(value)
        parts.append(ParameterScore(name, value, band.outcome, band))
    score = sum(part.points for part in parts)
    score_max = score + sum(catalogue.parameters[name].max_points for name in missing)
    normalised = catalogue.normalise(score)
    return AcuteAssessment(
        site=submission.site,
        observed_at=submission.observed_at,
        parts=tuple(parts),
        missing=missing,
        score=score,
        score_max=score_max,
        level=catalogue.level_for_score(score),
        level_max=catalogue.level_for_score(score_max),
        normalised_score=normalised,
        normalised_level=None
        if catalogue.normalised_map is None
        else catalogue.normalised_map.level_for(normalised),
        catalogue=catalogue.meta,
    )
