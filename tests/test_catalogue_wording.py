"""What the KCC catalogues say about the plan where it publishes no trigger table (issue 13).

Plan v1.7 and v1.8 section 4.3, assessment bed availability: "This indicator has been included
to provide at a glance availability information County-wide. Trigger levels have been set in
line with Assessment Bed Occupancy." The levels exist but are not published, so the indicator is
not assessed, and the reason says exactly that, not that the plan sets no triggers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from opel.assess import assess
from opel.catalogue_load import load_indicator_catalogue
from opel.models import Reading

TRIGGERS = Path(__file__).resolve().parent.parent / "triggers"
AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("catalogue", ["kcc-asch-2025-26", "kcc-asch-2024-25"])
@pytest.mark.parametrize("area", ["dgs", "east_kent", "swale", "west_kent"])
def test_assessment_beds_say_the_triggers_exist_but_are_unpublished(catalogue: str, area: str) -> None:
    reading = Reading(indicator="assessment_bed_availability", area=area, value=3, observed_at=AT)
    out = assess(load_indicator_catalogue(catalogue), reading).to_dict()
    assert out["level"] is None
    assert out["status"] == "not_assessed"
    reason = out["reason"]
    assert "trigger levels are set in line with assessment bed occupancy" in reason
    assert "county-wide" in reason
    assert "publishes no triggers" in reason
    assert "sets no triggers" not in reason


def test_v17_staffing_ranges_are_marked_as_a_reading_of_prose() -> None:
    # Plan v1.7 words the staffing triggers as prose ("below 50% and above 35%"), with no table;
    # the catalogue's ranges must not pass for published ones.
    text = (TRIGGERS / "kcc-asch-2024-25.yaml").read_text(encoding="utf-8")
    staffing = text[text.index("  stp_staffing_pct:") : text.index("  health_caseload:")]
    assert "prose only" in staffing
    assert "not published ranges" in staffing
