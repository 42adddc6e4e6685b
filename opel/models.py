"""Input contracts at the edge of the core: an indicator reading and an acute site submission.

These are the public shapes feed producers write (JSON Schema in docs/schemas/). They carry
counts, percentages and capacities only, never people, and refuse fields they do not know.
Whether an indicator or area exists is decided by the catalogue, not here, so a catalogue
can add one without a schema change.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    field_validator,
)
from pydantic_core import SchemaValidator, core_schema

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN, min_length=1, max_length=64)]
# An API principal's name (streams.web.auth): a team's or a system's account, never a person's details.
Submitter = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]
SiteId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", min_length=1, max_length=64),
]
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: Any) -> Any:
    # pydantic alone would also take a number of seconds (or a numeric string) as a time; a feed
    # that sends one has a bug, and a reading stamped 1970 or 2099 by it must not move a level.
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and RFC3339.fullmatch(value):
        return value
    raise ValueError(
        "must be an RFC 3339 date-time text with a timezone offset, e.g. 2025-11-12T09:30:00+00:00, "
        f"got {value!r}"
    )


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
"""A timezone-aware instant written as RFC 3339 text (never a number)."""

CATEGORY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}")
Category = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)]
# The constraints repeat what check_number enforces so the published JSON Schema states them.
Count = Annotated[int, Strict(), Field(ge=0)]
Amount = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]

# The ids feed producers may rely on (the public contract); catalogues decide how each is judged.
AREA_IDS: tuple[str, ...] = ("dgs", "east_kent", "swale", "west_kent")
INDICATOR_IDS: tuple[str, ...] = (
    "stp_staffing_pct",
    "health_caseload",
    "social_caseload",
    "referrals",
    "keah_capacity",
    "d2a_p1_weekly_availability",
    "d2a_p1_discharged_yesterday",
    "assessment_bed_availability",
    "dementia_bed_availability",
)


def check_number(value: Any, *, minimum: float = 0.0) -> float | int:
    """A finite number at or above ``minimum``; booleans and numeric strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    if value < minimum:
        raise ValueError(f"must be {_fmt(minimum)} or more, got {value!r}")
    return value


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


class Reading(BaseModel):
    """One indicator value for one area at one time, e.g. staffing 65 % in East Kent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    indicator: Identifier = Field(
        description="Indicator id, e.g. stp_staffing_pct.", examples=list(INDICATOR_IDS)
    )
    area: Identifier = Field(description="Area id.", examples=list(AREA_IDS))
    value: Count | Amount | Category = Field(
        description=(
            "A finite number >= 0 for numeric indicators, or a category name for categorical "
            "ones (keah_capacity in the 2024-25 catalogue: good, limited, very_limited, none)."
        )
    )
    observed_at: Timestamp = Field(description="When the value was true; must carry a timezone.")
    submitted_by: Submitter | None = Field(
        default=None,
        description=(
            "The API principal that submitted it through POST /readings, set by the server from the "
            "token (a feed leaves it out); the worker's audit record of the reading names it as author."
        ),
        examples=["dgs-submitter"],
    )

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, value: Any) -> Any:
        # Checked here, not left to the union: pydantic's lax mode would turn "65" into 65.
        if isinstance(value, str):
            if not CATEGORY_PATTERN.fullmatch(value):
                raise ValueError(f"must be a number or a category name such as 'limited', got {value!r}")
            return value
        return check_number(value)


def _reading_fields() -> core_schema.TypedDictSchema:
    """Reading's checks restated for pydantic-core alone, giving a dict of the same field values.

    Plus ``observed_at_text``, the time as the line wrote it.

    Reading runs two Python validators per reading (the value's and the time's); this states the
    same checks without them, so `opel assess` validates a whole batch of lines in one call into
    Rust (about a quarter of Reading's cost per line). It must refuse at least what Reading
    refuses and give the same values for the rest ([0-9] for \\d is the one place it refuses
    more); tests/test_reading_batch.py checks that on generated lines. A line it refuses is
    validated again by Reading, whose message names the problem. ``submitted_by`` (set by the
    API, never by a feed) is refused here, so a line carrying it takes Reading's path too.
    """
    identifier = core_schema.str_schema(pattern=ID_PATTERN, min_length=1, max_length=64, strict=True)
    value = core_schema.union_schema(
        [
            core_schema.int_schema(strict=True, ge=0),
            core_schema.float_schema(strict=True, ge=0, allow_inf_nan=False),
            core_schema.str_schema(strict=True, pattern=f"^{CATEGORY_PATTERN.pattern}$"),
        ]
    )
    rfc3339 = "^" + RFC3339.pattern.replace(r"\d", "[0-9]") + "$"
    instant = core_schema.chain_schema(
        [
            core_schema.str_schema(strict=True, pattern=rfc3339),
            core_schema.datetime_schema(tz_constraint="aware"),
        ]
    )
    fields = {"indicator": identifier, "area": identifier, "value": value, "observed_at": instant}
    return core_schema.typed_dict_schema(
        {
            **{name: core_schema.typed_dict_field(schema) for name, schema in fields.items()},
            # The time as written too: most feeds write it as pydantic would, and copying the
            # text costs far less than writing a datetime out again.
            "observed_at_text": core_schema.typed_dict_field(
                core_schema.str_schema(), validation_alias="observed_at"
            ),
        },
        extra_behavior="forbid",
        total=True,
    )


READING_FIELDS = SchemaValidator(_reading_fields())
"""One JSON reading to a dict of Reading's field values (and the time's text), or ValidationError."""
READING_BATCH = SchemaValidator(core_schema.list_schema(_reading_fields()))
"""A JSON array of readings to a list of such dicts, in one call."""


PARAMETER_IDS: tuple[str, ...] = (
    "ambulance_handover_mean_min",
    "ed_4h_performance_pct",
    "ed_attendances_vs_expected_pct",
    "majors_resus_occupancy_pct",
    "time_to_treatment_median_min",
    "ed_over_12h_pct",
    "ga_bed_occupancy_pct",
    "escalation_beds_pct",
    "nctr_beds_pct",
)

Measure = Annotated[float, Field(ge=0, allow_inf_nan=False)] | None
RelativeMeasure = Annotated[float, Field(ge=-100, allow_inf_nan=False)] | None


class AcuteParameters(BaseModel):
    """The nine core parameters of the NHS OPEL framework 2023/24 for one acute site.

    A parameter that is absent or null was not reported: see docs/semantics.md for how a
    partial submission is scored.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ambulance_handover_mean_min: Measure = Field(
        default=None, description="Mean ambulance arrival-to-handover time, minutes."
    )
    ed_4h_performance_pct: Measure = Field(
        default=None, description="ED all-type 4-hour performance since midnight, percent."
    )
    ed_attendances_vs_expected_pct: RelativeMeasure = Field(
        default=None,
        description=(
            "ED all-type attendances in the past hour above the locally expected number, as a "
            "percent of expected; negative when fewer came than expected (minimum -100)."
        ),
    )
    majors_resus_occupancy_pct: Measure = Field(
        default=None, description="Adult majors and resus occupancy, percent (may exceed 100)."
    )
    time_to_treatment_median_min: Measure = Field(
        default=None, description="Median arrival-to-clinical-decision-maker time, minutes."
    )
    ed_over_12h_pct: Measure = Field(
        default=None, description="Patients in ED for more than 12 hours, percent of those in ED."
    )
    ga_bed_occupancy_pct: Measure = Field(
        default=None, description="General and acute bed occupancy, percent."
    )
    escalation_beds_pct: Measure = Field(
        default=None, description="Open G&A beds that are escalation beds, percent."
    )
    nctr_beds_pct: Measure = Field(
        default=None, description="Beds occupied by patients no longer meeting criteria to reside, percent."
    )

    @field_validator(*[p for p in PARAMETER_IDS if p != "ed_attendances_vs_expected_pct"], mode="before")
    @classmethod
    def _non_negative(cls, value: Any) -> Any:
        return None if value is None else check_number(value)

    @field_validator("ed_attendances_vs_expected_pct", mode="before")
    @classmethod
    def _relative(cls, value: Any) -> Any:
        return None if value is None else check_number(value, minimum=-100.0)

    def reported(self) -> dict[str, float]:
        """The parameters that carry a value, by id."""
        return {name: value for name in PARAMETER_IDS if (value := getattr(self, name)) is not None}


class AcuteSubmission(BaseModel):
    """An acute hospital site's OPEL parameter return."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: SiteId = Field(
        description="Acute site id, e.g. maidstone.", examples=["maidstone", "darent_valley"]
    )
    observed_at: Timestamp = Field(description="Time of the assessment; must carry a timezone.")
    parameters: AcuteParameters
