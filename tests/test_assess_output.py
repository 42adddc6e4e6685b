"""The output contract of an assessment, and the committed JSON Schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import to_json

from opel.assess import assess
from opel.catalogue import IndicatorCatalogue
from opel.catalogue_load import load_indicator_catalogue
from opel.errors import InputError
from opel.models import AREA_IDS, INDICATOR_IDS, Reading
from opel.schemas import MODELS, SCHEMA_DIR, render

CATALOGUES = [load_indicator_catalogue(n) for n in ("kcc-asch-2025-26", "kcc-asch-2024-25")]

moments = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2030, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5))]),
)
values = st.one_of(
    st.integers(0, 10**6),
    st.floats(0, 10**6, allow_nan=False, allow_infinity=False),
    st.sampled_from(["good", "limited", "very_limited", "none"]),
)


@given(
    catalogue=st.sampled_from(CATALOGUES),
    indicator=st.sampled_from(INDICATOR_IDS),
    area=st.sampled_from(AREA_IDS),
    value=values,
    at=moments,
)
def test_fast_json_is_byte_identical_to_serialising_to_dict(
    catalogue: IndicatorCatalogue, indicator: str, area: str, value: float | str, at: datetime
) -> None:
    reading = Reading(indicator=indicator, area=area, value=value, observed_at=at)
    try:
        result = assess(catalogue, reading)
    except InputError:
        return  # a category for a numeric indicator or the reverse: covered elsewhere
    assert result.to_json() == to_json(result.to_dict())
    decoded = json.loads(result.to_json())
    assert decoded["value"] == value
    assert datetime.fromisoformat(decoded["observed_at"]) == at


def test_output_names_value_band_catalogue_and_version() -> None:
    reading = Reading(
        indicator="referrals", area="dgs", value=12, observed_at=datetime(2025, 11, 12, tzinfo=UTC)
    )
    out = assess(CATALOGUES[0], reading).to_dict()
    assert out["level"] == 2
    assert out["colour"] == "amber"
    assert out["band"] == "10-14"
    assert out["interval"] == "(9, 14]"
    assert (out["catalogue"], out["catalogue_version"], out["plan_section"]) == (
        "kcc-asch-2025-26",
        "1.8",
        "4.3",
    )
    assert out["explanation"] == (
        "referrals = 12 in dgs is in the published band 10-14: OPEL 2 amber (kcc-asch-2025-26@1.8 §4.3)"
    )


def test_committed_schemas_are_current() -> None:
    for filename in MODELS:
        committed = (SCHEMA_DIR / filename).read_text(encoding="utf-8")
        assert committed == render(filename), f"{filename} is stale: run python -m opel.schemas"


def test_schemas_forbid_unknown_fields_and_name_the_contract_ids() -> None:
    reading = json.loads((SCHEMA_DIR / "reading.schema.json").read_text(encoding="utf-8"))
    assert reading["additionalProperties"] is False
    assert reading["properties"]["indicator"]["examples"] == list(INDICATOR_IDS)
    assert reading["properties"]["area"]["examples"] == list(AREA_IDS)
    acute = json.loads((SCHEMA_DIR / "acute-submission.schema.json").read_text(encoding="utf-8"))
    assert acute["additionalProperties"] is False
    assert acute["$defs"]["AcuteParameters"]["additionalProperties"] is False
    assert len(acute["$defs"]["AcuteParameters"]["properties"]) == 9
