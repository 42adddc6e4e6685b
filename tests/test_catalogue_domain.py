"""Every numeric table covers its whole domain, and a catalogue's content hash names its content.

Each coverage case edits one table of a shipped catalogue and loads the copy: on one side of
the rule the loader refuses it naming the table and the hole, on the other it loads. The loader
is what both ``opel catalogue validate`` and the worker use, so neither can take a table with a
hole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from opel.assess import assess
from opel.bands import BandError, BandSpec, Domain, Interval, check_coverage
from opel.catalogue import IndicatorCatalogue
from opel.catalogue_load import content_hash, load_catalogue
from opel.errors import CatalogueError
from opel.levels import Level
from opel.models import Reading

TRIGGERS = Path(__file__).resolve().parent.parent / "triggers"
INDICATORS = "kcc-asch-2025-26"
INDICATORS_OLD = "kcc-asch-2024-25"
ACUTE = "nhs-acute-2023-24"
LEVELS = "nhs-opel-2024-26-levels"

Data = dict[str, Any]


def shipped(name: str) -> Data:
    data: Data = yaml.safe_load((TRIGGERS / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def bands(data: Data, indicator: str, area: str = "all") -> list[Data]:
    table: list[Data] = data["indicators"][indicator]["bands"][area]
    return table


def drop_level(indicator: str, level: int, area: str = "all") -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        table = bands(data, indicator, area)
        table[:] = [band for band in table if band["level"] != level]

    return edit


def set_range(indicator: str, level: int, low: int, high: int, area: str = "all") -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        for band in bands(data, indicator, area):
            if band["level"] == level:
                band["range"] = [low, high]

    return edit


def points(parameter: str, index: int, interval: str) -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        data["parameters"][parameter]["points"][index]["interval"] = interval

    return edit


def score_levels(edit_rows: Callable[[list[Data]], None]) -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        edit_rows(data["score_levels"])

    return edit


def level_interval(index: int, interval: str) -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        data["levels"][index]["interval"] = interval

    return edit


def drop_last(rows: list[Data]) -> None:
    rows.pop()


def shorten_last(rows: list[Data]) -> None:
    rows[-1]["range"] = [34, 40]


def lengthen_last(rows: list[Data]) -> None:
    rows[-1]["range"] = [34, 50]


@dataclass(frozen=True)
class Case:
    id: str
    catalogue: str
    edit: Callable[[Data], None]
    path: str | None  # the table refused, or None when the edit is allowed
    hole: str = ""  # the uncovered interval the refusal names


STAFFING = "indicators.stp_staffing_pct.bands.all"
SOCIAL = "indicators.social_caseload.bands.all"
KEAH = "indicators.keah_capacity.bands.all"
HANDOVER = "parameters.ambulance_handover_mean_min.points"
ATTENDANCES = "parameters.ed_attendances_vs_expected_pct.points"

CASES = [
    # percent 0-100, lower is worse: the OPEL 4 band reaches 0, the OPEL 1 band reaches 100
    Case("staffing-without-opel-4", INDICATORS, drop_level("stp_staffing_pct", 4), STAFFING, "[0, 30)"),
    Case("staffing-opel-4-from-1", INDICATORS, set_range("stp_staffing_pct", 4, 1, 29), STAFFING, "[0, 1)"),
    Case("staffing-opel-4-from-0", INDICATORS, set_range("stp_staffing_pct", 4, 0, 29), None),
    Case("staffing-without-opel-1", INDICATORS, drop_level("stp_staffing_pct", 1), STAFFING, "(69, 100]"),
    Case(
        "staffing-opel-1-to-99", INDICATORS, set_range("stp_staffing_pct", 1, 70, 99), STAFFING, "(99, 100]"
    ),
    Case("staffing-opel-1-to-120", INDICATORS, set_range("stp_staffing_pct", 1, 70, 120), None),
    Case(
        "old-staffing-without-opel-4", INDICATORS_OLD, drop_level("stp_staffing_pct", 4), STAFFING, "[0, 35)"
    ),
    # counts, higher is worse: start at 0; past the top only OPEL 4 runs on
    Case("social-without-opel-4", INDICATORS, drop_level("social_caseload", 4), SOCIAL, "(99, inf)"),
    Case("social-opel-4-short", INDICATORS, set_range("social_caseload", 4, 100, 101), None),
    Case("social-without-opel-1", INDICATORS, drop_level("social_caseload", 1), SOCIAL, "[0, 40)"),
    Case("social-opel-1-from-1", INDICATORS, set_range("social_caseload", 1, 1, 39), SOCIAL, "[0, 1)"),
    Case(
        "swale-health-without-opel-4",
        INDICATORS,
        drop_level("health_caseload", 4, "swale"),
        "indicators.health_caseload.bands.swale",
        "(69, inf)",
    ),
    # counts, lower is worse: start at 0; past the top only OPEL 1 runs on
    Case("keah-without-opel-1", INDICATORS, drop_level("keah_capacity", 1), KEAH, "(4, inf)"),
    Case("keah-without-opel-4", INDICATORS, drop_level("keah_capacity", 4), KEAH, "[0, 1)"),
    Case("keah-opel-1-wider", INDICATORS, set_range("keah_capacity", 1, 5, 60), None),
    # acute points: from the parameter's minimum, and an explicit interval up to inf
    Case(
        "handover-capped",
        ACUTE,
        points("ambulance_handover_mean_min", 3, "(60, 240]"),
        HANDOVER,
        "(240, inf)",
    ),
    Case(
        "handover-open-at-0", ACUTE, points("ambulance_handover_mean_min", 0, "(0, 15)"), HANDOVER, "[0, 0]"
    ),
    Case("handover-from-below-0", ACUTE, points("ambulance_handover_mean_min", 0, "[0, 15)"), None),
    Case(
        "attendances-from-minus-50",
        ACUTE,
        points("ed_attendances_vs_expected_pct", 0, "[-50, 2]"),
        ATTENDANCES,
        "[-100, -50)",
    ),
    # acute total score: 0 up to the highest score (44)
    Case("score-without-opel-4", ACUTE, score_levels(drop_last), "score_levels", "(33, 44]"),
    Case("score-opel-4-to-40", ACUTE, score_levels(shorten_last), "score_levels", "(40, 44]"),
    Case("score-opel-4-to-50", ACUTE, score_levels(lengthen_last), None),
    # the normalised level map: 0-100
    Case("levels-to-90", LEVELS, level_interval(3, "(70, 90]"), "levels", "(90, 100]"),
    Case("levels-open-at-0", LEVELS, level_interval(0, "(0, 15]"), "levels", "[0, 0]"),
    Case("levels-to-inf", LEVELS, level_interval(3, "(70, inf)"), None),
]


def write(directory: Path, name: str, data: Data) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_table_must_cover_its_whole_domain(case: Case, tmp_path: Path) -> None:
    data = shipped(case.catalogue)
    case.edit(data)
    path = write(tmp_path, case.catalogue, data)
    if case.path is None:
        assert load_catalogue(str(path)).meta.id == case.catalogue
        return
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(str(path))
    exc = caught.value
    assert (exc.source, exc.path) == (str(path), case.path)
    assert exc.problem.startswith("hole in the domain"), exc.problem
    assert f"no band covers {case.hole}," in exc.problem, exc.problem


def test_the_issue_example_names_the_band_that_would_take_the_hole(tmp_path: Path) -> None:
    """Without the OPEL 4 staffing band, 10 % staffing would have read as OPEL 3 'beyond'."""
    data = shipped(INDICATORS)
    drop_level("stp_staffing_pct", 4)(data)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(str(write(tmp_path, INDICATORS, data)))
    assert caught.value.problem == (
        "hole in the domain (percent [0, 100]): no band covers [0, 30), so those values would "
        "silently take the band '30-49' (OPEL 3); publish a band for them"
    )
    # The shipped table decides 10 % as OPEL 4.
    catalogue = load_catalogue(INDICATORS)
    assert isinstance(catalogue, IndicatorCatalogue)
    reading = Reading(indicator="stp_staffing_pct", area="dgs", value=10, observed_at="2026-01-05T09:00:00Z")
    assert assess(catalogue, reading).level == Level.OPEL_4


def spec(
    low: float, high: float, outcome: int, *, low_closed: bool = True, high_closed: bool = True
) -> BandSpec:
    interval = Interval(low, low_closed, high, high_closed)
    return BandSpec(outcome, interval, interval, f"{low}-{high}", f"t[{outcome}]")


PERCENT = Domain(0.0, 100.0, "percent")
COUNT = Domain(0.0, float("inf"), "count")


@pytest.mark.parametrize(
    ("specs", "domain", "open_top", "hole"),
    [
        ([spec(0, 50, 1), spec(50, 100, 2, low_closed=False)], PERCENT, None, None),
        (
            [spec(0, 50, 1), spec(50, 100, 2, low_closed=False, high_closed=False)],
            PERCENT,
            None,
            "[100, 100]",
        ),
        ([spec(0, 50, 1, low_closed=False), spec(50, 100, 2, low_closed=False)], PERCENT, None, "[0, 0]"),
        ([spec(0, 50, 1), spec(50, float("inf"), 2, low_closed=False, high_closed=False)], COUNT, None, None),
        ([spec(0, 50, 1), spec(50, 60, 2, low_closed=False)], COUNT, None, "(60, inf)"),
        ([spec(0, 50, 1), spec(50, 60, 4, low_closed=False)], COUNT, 4, None),
        ([spec(0, 50, 1), spec(50, 60, 3, low_closed=False)], COUNT, 4, "(60, inf)"),
        ([spec(5, 50, 1), spec(50, 60, 4, low_closed=False)], COUNT, 4, "[0, 5)"),
        ([spec(0, 50, 1), spec(50, 60, 2, low_closed=False)], PERCENT, 2, "(60, 100]"),  # bounded: no run-on
    ],
)
def test_check_coverage(
    specs: list[BandSpec], domain: Domain, open_top: int | None, hole: str | None
) -> None:
    if hole is None:
        check_coverage(specs, domain, "t", open_top_outcome=open_top)
        return
    with pytest.raises(BandError) as caught:
        check_coverage(specs, domain, "t", open_top_outcome=open_top)
    assert caught.value.path == "t"
    assert f"no band covers {hole}," in caught.value.problem


# ---------------------------------------------------------------- content hash


@pytest.mark.parametrize("name", [INDICATORS, INDICATORS_OLD, ACUTE, LEVELS])
def test_layout_comments_and_key_order_do_not_change_the_hash(name: str, tmp_path: Path) -> None:
    text = (TRIGGERS / f"{name}.yaml").read_text(encoding="utf-8")
    original = load_catalogue(name).meta.content_hash
    data = yaml.safe_load(text)
    variants = {
        "commented.yaml": "# a comment of our own\n" + text.replace("\n\n", "\n\n# another\n"),
        "dumped.yaml": yaml.safe_dump(data, sort_keys=False),
        "sorted.yaml": yaml.safe_dump(data, sort_keys=True, default_flow_style=True, width=1000),
        "reversed.yaml": yaml.safe_dump(dict(reversed(list(data.items()))), sort_keys=False),
    }
    for file_name, variant in variants.items():
        path = tmp_path / file_name
        path.write_text(variant, encoding="utf-8")
        assert load_catalogue(str(path)).meta.content_hash == original, file_name


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(title=d["title"] + "."),
        lambda d: d["approval"].update(body="someone else"),
        lambda d: d["escalation"].update(step_down_dwell="PT12H"),
        lambda d: d["indicators"]["referrals"]["bands"]["dgs"][3].update(range=[20, 30]),
        lambda d: d["areas"]["swale"].update(name="Swale and Sheppey"),
        lambda d: d.update(status="draft"),
    ],
    ids=["title", "approval", "dwell", "band", "area-name", "status"],
)
def test_any_change_of_content_changes_the_hash(edit: Callable[[Data], None]) -> None:
    data = shipped(INDICATORS)
    before = content_hash(data)
    edit(data)
    assert content_hash(data) != before


def test_the_hash_is_sha256_of_canonical_json() -> None:
    assert content_hash({"b": [1, 2.5], "a": "é"}) == content_hash({"a": "é", "b": [1, 2.5]})
    assert content_hash({"a": [1, 2]}) != content_hash({"a": [2, 1]})
    digest = content_hash({"a": 1})
    assert digest == "sha256:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
