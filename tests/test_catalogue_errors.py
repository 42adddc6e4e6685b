"""A catalogue that is wrong is refused with a CatalogueError naming the file, the path and the problem.

Each case starts from the text of a shipped catalogue, breaks one thing, writes the result to a
temporary file and loads it by path.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from opel import sources
from opel.catalogue import AcuteCatalogue, IndicatorCatalogue, Kind, LevelMap
from opel.catalogue_load import _load_shipped, load_catalogue, load_indicator_catalogue
from opel.cli import main
from opel.errors import CatalogueError

TRIGGERS = Path(__file__).resolve().parent.parent / "triggers"
INDICATORS = "kcc-asch-2025-26.yaml"
INDICATORS_OLD = "kcc-asch-2024-25.yaml"
ACUTE = "nhs-acute-2023-24.yaml"
LEVELS = "nhs-opel-2024-26-levels.yaml"
SHIPPED = ("kcc-asch-2024-25", "kcc-asch-2025-26", "nhs-acute-2023-24", "nhs-opel-2024-26-levels")

Data = dict[str, Any]


def shipped_text(file_name: str) -> str:
    return (TRIGGERS / file_name).read_text(encoding="utf-8")


def line_number(file_name: str, line: str) -> int:
    """1-based number of the line of a shipped file that equals ``line``."""
    return shipped_text(file_name).splitlines().index(line) + 1


# ---------------------------------------------------------------- mutations


def replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, f"mutation target {old!r} not in the shipped file"
        return text.replace(old, new, 1)

    return edit


def referrals(data: Data) -> Data:
    bands: Data = data["indicators"]["referrals"]["bands"]
    return bands


def points(data: Data, parameter: str) -> list[Data]:
    result: list[Data] = data["parameters"][parameter]["points"]
    return result


def kent_medway_sites(data: Data) -> Data:
    sites: Data = data["systems"]["kent-medway"]["sites"]
    return sites


def overlap(data: Data) -> None:
    referrals(data)["dgs"][2]["range"] = [14, 19]


def gap(data: Data) -> None:
    referrals(data)["dgs"][2]["range"] = [16, 19]


def backwards(data: Data) -> None:
    referrals(data)["dgs"][2]["range"] = [19, 15]


def swap_levels(data: Data) -> None:
    dgs = referrals(data)["dgs"]
    dgs[1]["level"], dgs[2]["level"] = dgs[2]["level"], dgs[1]["level"]


def swap_levels_lower_is_worse(data: Data) -> None:
    # 70-100 green, 50-69 red, 30-49 amber, 0-29 black: amber sits below red.
    staffing = data["indicators"]["stp_staffing_pct"]["bands"]["all"]
    staffing[1]["level"], staffing[2]["level"] = staffing[2]["level"], staffing[1]["level"]


def unknown_area(data: Data) -> None:
    referrals(data)["medway"] = [{"level": 1, "range": [0, 9]}]


def all_with_other_keys(data: Data) -> None:
    data["indicators"]["social_caseload"]["bands"]["swale"] = [{"level": 1, "range": [0, 100]}]


def area_not_covered(data: Data) -> None:
    del data["indicators"]["d2a_p1_weekly_availability"]["bands"]["otherwise"]


def bands_and_categories(data: Data) -> None:
    data["indicators"]["referrals"]["categories"] = {"all": {"good": 1, "bad": 4}}


def neither_bands_nor_categories(data: Data) -> None:
    del data["indicators"]["dementia_bed_availability"]["bands"]


def no_direction(data: Data) -> None:
    del data["indicators"]["referrals"]["direction"]


def level(value: int) -> Callable[[Data], None]:
    def mutate(data: Data) -> None:
        referrals(data)["dgs"][3]["level"] = value

    return mutate


def category_level_5(data: Data) -> None:
    data["indicators"]["keah_capacity"]["categories"]["all"]["none"] = 5


def empty_band_list(data: Data) -> None:
    referrals(data)["dgs"] = []


def empty_reason(data: Data) -> None:
    referrals(data)["swale"] = {"not_assessed": ""}


def unknown_top_level_key(data: Data) -> None:
    data["colour"] = "red"


def unknown_band_key(data: Data) -> None:
    referrals(data)["dgs"][1]["colour"] = "amber"


def no_approval(data: Data) -> None:
    del data["approval"]


def no_areas_key(data: Data) -> None:
    del data["areas"]


def unknown_kind(data: Data) -> None:
    data["kind"] = "hospital"


def bad_status(data: Data) -> None:
    data["status"] = "live"


def bad_id(data: Data) -> None:
    data["id"] = "KCC ASCH"


def bad_dwell(data: Data) -> None:
    data["escalation"]["step_down_dwell"] = "a day"


def acute_overlap(data: Data) -> None:
    points(data, "time_to_treatment_median_min")[2]["interval"] = "[90, 120]"


def acute_bad_interval(data: Data) -> None:
    points(data, "time_to_treatment_median_min")[2]["interval"] = "90-120"


def acute_closed_infinity(data: Data) -> None:
    points(data, "time_to_treatment_median_min")[3]["interval"] = "(120, inf]"


def acute_empty_interval(data: Data) -> None:
    points(data, "time_to_treatment_median_min")[2]["interval"] = "(90, 90)"


def acute_unknown_parameter(data: Data) -> None:
    data["parameters"]["bed_days"] = data["parameters"]["nctr_beds_pct"]


def acute_missing_parameter(data: Data) -> None:
    del data["parameters"]["nctr_beds_pct"]


def acute_unknown_site(data: Data) -> None:
    kent_medway_sites(data)["folkestone"] = 1


def acute_weight(value: float) -> Callable[[Data], None]:
    def mutate(data: Data) -> None:
        kent_medway_sites(data)["maidstone"] = value

    return mutate


def acute_score_gap(data: Data) -> None:
    data["score_levels"][1]["range"] = [13, 22]


def acute_unknown_level_map(data: Data) -> None:
    data["normalised_level_map"] = "nhs-opel-2099-levels"


def acute_level_map_wrong_kind(data: Data) -> None:
    data["normalised_level_map"] = "kcc-asch-2025-26"


def acute_bad_missing_rule(data: Data) -> None:
    data["missing_parameters"] = "guess"


def level_map_gap(data: Data) -> None:
    data["levels"][1]["interval"] = "(16, 40]"


def level_map_hole_at_top(data: Data) -> None:
    data["levels"][3]["interval"] = "(70, 95]"


def staffing_without_opel_4(data: Data) -> None:
    staffing = data["indicators"]["stp_staffing_pct"]["bands"]["all"]
    staffing[:] = [band for band in staffing if band["level"] != 4]


def acute_points_capped(data: Data) -> None:
    points(data, "nctr_beds_pct")[3]["interval"] = "(15, 100]"


def level_map_overlap(data: Data) -> None:
    data["levels"][1]["interval"] = "[15, 40]"


def level_map_out_of_order(data: Data) -> None:
    data["levels"][2]["level"] = 2


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    id: str
    file_name: str
    mutate: Callable[[Any], object]  # edits parsed data in place, or returns edited text
    path: str
    word: str
    text: bool = False  # mutate edits the text rather than the parsed data


YAML_BROKEN_LINE = line_number(INDICATORS, "  west_kent: {name: West Kent}")

CASES = [
    # indicator catalogues: band tables
    Case("overlapping-ranges", INDICATORS, overlap, "indicators.referrals.bands.dgs[2]", "overlaps"),
    Case("gap-between-ranges", INDICATORS, gap, "indicators.referrals.bands.dgs[2]", "gap"),
    Case("range-backwards", INDICATORS, backwards, "indicators.referrals.bands.dgs[2]", "backwards"),
    Case("levels-out-of-order", INDICATORS, swap_levels, "indicators.referrals.bands.dgs[2]", "out of order"),
    Case(
        "hole-in-the-domain",
        INDICATORS,
        staffing_without_opel_4,
        "indicators.stp_staffing_pct.bands.all",
        "no band covers [0, 30)",
    ),
    Case(
        "levels-out-of-order-lower-is-worse",
        INDICATORS,
        swap_levels_lower_is_worse,
        "indicators.stp_staffing_pct.bands.all[1]",
        "lower_is_worse",
    ),
    Case(
        "level-5", INDICATORS, level(5), "indicators.referrals.bands.dgs[3].level", "less than or equal to 4"
    ),
    Case(
        "level-0",
        INDICATORS,
        level(0),
        "indicators.referrals.bands.dgs[3].level",
        "greater than or equal to 1",
    ),
    Case(
        "empty-band-list", INDICATORS, empty_band_list, "indicators.referrals.bands.dgs", "at least one band"
    ),
    Case(
        "unknown-band-key",
        INDICATORS,
        unknown_band_key,
        "indicators.referrals.bands.dgs[1].colour",
        "is not a known key",
    ),
    Case(
        "numeric-table-without-direction",
        INDICATORS,
        no_direction,
        "indicators.referrals.direction",
        "needs a direction",
    ),
    # indicator catalogues: areas
    Case(
        "unknown-area", INDICATORS, unknown_area, "indicators.referrals.bands.medway", "unknown area 'medway'"
    ),
    Case(
        "area-not-covered",
        INDICATORS,
        area_not_covered,
        "indicators.d2a_p1_weekly_availability.bands",
        "no rule for area 'dgs'",
    ),
    Case(
        "all-with-other-keys",
        INDICATORS,
        all_with_other_keys,
        "indicators.social_caseload.bands",
        "cannot be combined",
    ),
    # indicator catalogues: rule shape
    Case("bands-and-categories", INDICATORS, bands_and_categories, "indicators.referrals", "exactly one"),
    Case(
        "neither-bands-nor-categories",
        INDICATORS,
        neither_bands_nor_categories,
        "indicators.dementia_bed_availability",
        "exactly one",
    ),
    Case(
        "empty-not-assessed-reason",
        INDICATORS,
        empty_reason,
        "indicators.referrals.bands.swale.not_assessed",
        "at least 1 character",
    ),
    Case(
        "category-level-5",
        INDICATORS_OLD,
        category_level_5,
        "indicators.keah_capacity.categories.all.none",
        "1-4",
    ),
    # header and structure
    Case("unknown-top-level-key", INDICATORS, unknown_top_level_key, "colour", "is not a known key"),
    Case("missing-approval", INDICATORS, no_approval, "approval", "required"),
    Case("missing-areas", INDICATORS, no_areas_key, "areas", "required"),
    Case("kind-unknown", INDICATORS, unknown_kind, "kind", "'hospital'"),
    Case("status-unknown", INDICATORS, bad_status, "status", "'live'"),
    Case("id-not-an-identifier", INDICATORS, bad_id, "id", "pattern"),
    Case("dwell-not-a-duration", INDICATORS, bad_dwell, "escalation.step_down_dwell", "duration"),
    Case(
        "version-as-number",
        INDICATORS,
        replace('\nversion: "1.8"\n', "\nversion: 1.8\n"),
        "version",
        "must be text",
        text=True,
    ),
    Case(
        "version-not-dotted-numbers",
        INDICATORS,
        replace('\nversion: "1.8"\n', '\nversion: "1.9-bad"\n'),
        "version",
        "must be dotted whole numbers",
        text=True,
    ),
    Case(
        "version-with-a-v",
        ACUTE,
        replace('\nversion: "2023.24"\n', '\nversion: "v2023.24"\n'),
        "version",
        "must be dotted whole numbers",
        text=True,
    ),
    Case(
        "plan-version-as-number",
        INDICATORS,
        replace('\n  version: "1.8"\n', "\n  version: 1.8\n"),
        "plan.version",
        "must be text",
        text=True,
    ),
    Case(
        "invalid-yaml",
        INDICATORS,
        replace("  swale: {name: Swale}\n", "  swale: {name: Swale\n"),
        f"line {YAML_BROKEN_LINE}, column 12",
        "invalid YAML",
        text=True,
    ),
    Case(
        "top-level-list", INDICATORS, lambda text: "- id: kcc\n- kind: indicators\n", "", "mapping", text=True
    ),
    Case("top-level-scalar", INDICATORS, lambda text: "just some words\n", "", "mapping", text=True),
    Case("empty-file", INDICATORS, lambda text: "# nothing here\n", "", "mapping", text=True),
    # acute catalogue
    Case(
        "acute-overlapping-interval",
        ACUTE,
        acute_overlap,
        "parameters.time_to_treatment_median_min.points[2]",
        "overlaps",
    ),
    Case(
        "acute-bad-interval",
        ACUTE,
        acute_bad_interval,
        "parameters.time_to_treatment_median_min.points[2].interval",
        "interval notation",
    ),
    Case(
        "acute-closed-infinity",
        ACUTE,
        acute_closed_infinity,
        "parameters.time_to_treatment_median_min.points[3].interval",
        "infinite",
    ),
    Case(
        "acute-empty-interval",
        ACUTE,
        acute_empty_interval,
        "parameters.time_to_treatment_median_min.points[2].interval",
        "empty",
    ),
    Case(
        "acute-unknown-parameter", ACUTE, acute_unknown_parameter, "parameters.bed_days", "unknown parameter"
    ),
    Case("acute-missing-parameter", ACUTE, acute_missing_parameter, "parameters", "nctr_beds_pct"),
    Case(
        "acute-system-unknown-site",
        ACUTE,
        acute_unknown_site,
        "systems.kent-medway.sites.folkestone",
        "unknown site 'folkestone'",
    ),
    Case("acute-zero-weight", ACUTE, acute_weight(0), "systems.kent-medway.sites.maidstone", "above 0"),
    Case(
        "acute-negative-weight", ACUTE, acute_weight(-1.5), "systems.kent-medway.sites.maidstone", "above 0"
    ),
    Case("acute-score-levels-gap", ACUTE, acute_score_gap, "score_levels[1]", "gap"),
    Case(
        "acute-points-hole-at-the-top",
        ACUTE,
        acute_points_capped,
        "parameters.nctr_beds_pct.points",
        "no band covers (100, inf)",
    ),
    Case(
        "acute-unknown-level-map",
        ACUTE,
        acute_unknown_level_map,
        "normalised_level_map",
        "nhs-opel-2099-levels",
    ),
    Case(
        "acute-level-map-wrong-kind",
        ACUTE,
        acute_level_map_wrong_kind,
        "normalised_level_map",
        "expected a 'level_map'",
    ),
    Case("acute-missing-parameters-rule", ACUTE, acute_bad_missing_rule, "missing_parameters", "'guess'"),
    # level map
    Case("level-map-gap", LEVELS, level_map_gap, "levels[1]", "gap"),
    Case("level-map-hole-at-the-top", LEVELS, level_map_hole_at_top, "levels", "hole in the domain"),
    Case("level-map-overlap", LEVELS, level_map_overlap, "levels[1]", "overlaps"),
    Case("level-map-out-of-order", LEVELS, level_map_out_of_order, "levels[2]", "out of order"),
]


def write_mutated(case: Case, directory: Path) -> Path:
    text = shipped_text(case.file_name)
    if case.text:
        mutated = case.mutate(text)
        assert isinstance(mutated, str)
    else:
        data = yaml.safe_load(text)
        case.mutate(data)
        mutated = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    assert mutated != text
    path = directory / f"broken-{case.file_name}"
    path.write_text(mutated, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_wrong_catalogue_is_refused_naming_file_path_and_problem(case: Case, tmp_path: Path) -> None:
    path = write_mutated(case, tmp_path)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(str(path))
    exc = caught.value
    assert exc.source.endswith(path.name)
    assert exc.source == str(path)
    assert exc.path == case.path, exc.problem
    assert case.word in exc.problem, exc.problem
    # The message a person reads carries all three.
    assert str(exc) == (
        f"{exc.source}: {exc.path}: {exc.problem}" if exc.path else f"{exc.source}: {exc.problem}"
    )


@pytest.mark.parametrize("file_name", [INDICATORS, INDICATORS_OLD, ACUTE, LEVELS])
def test_an_unchanged_round_trip_still_loads(file_name: str, tmp_path: Path) -> None:
    """Guards the table above: the dump/reload round trip alone breaks nothing."""
    path = tmp_path / file_name
    path.write_text(yaml.safe_dump(yaml.safe_load(shipped_text(file_name)), sort_keys=False), "utf-8")
    assert load_catalogue(str(path)).meta.id == file_name.removesuffix(".yaml")


# ---------------------------------------------------------------- names, paths and ids


def test_an_unknown_shipped_name_lists_the_known_names() -> None:
    with pytest.raises(CatalogueError) as caught:
        load_catalogue("kcc-asch-2099-00")
    exc = caught.value
    assert exc.source == "kcc-asch-2099-00"
    assert exc.path == ""
    assert "no shipped catalogue" in exc.problem
    for name in SHIPPED:
        assert name in exc.problem


def test_locate_a_missing_path_cannot_read(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(CatalogueError) as caught:
        sources.locate(str(missing))
    exc = caught.value
    assert exc.source == str(missing)
    assert exc.path == ""
    assert "cannot read" in exc.problem


def test_load_a_missing_path_cannot_read(tmp_path: Path) -> None:
    missing = tmp_path / "nested" / "kcc.yml"
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(str(missing))
    assert caught.value.source.endswith("kcc.yml")
    assert "cannot read" in caught.value.problem


def test_a_copy_loaded_by_path_need_not_match_its_file_name(tmp_path: Path) -> None:
    copy = tmp_path / "renamed.yaml"
    copy.write_text(shipped_text(INDICATORS), encoding="utf-8")
    catalogue = load_catalogue(str(copy))
    assert catalogue.meta.id == "kcc-asch-2025-26"
    assert catalogue.meta.source == str(copy)


@pytest.fixture
def shipped_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Make ``triggers`` resolve to a temporary directory, so names can be tried there."""

    def fake_shipped(subdir: str) -> Path:
        return tmp_path / subdir if subdir else tmp_path

    monkeypatch.setattr(sources, "_shipped", fake_shipped)
    # Indicator catalogues name their action plan, which is looked up beside them.
    shutil.copytree(TRIGGERS / "actions", tmp_path / "actions")
    _load_shipped.cache_clear()
    yield tmp_path
    _load_shipped.cache_clear()


def test_a_file_loaded_by_name_must_carry_that_id(shipped_dir: Path) -> None:
    (shipped_dir / "kcc-asch-renamed.yaml").write_text(shipped_text(INDICATORS), encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue("kcc-asch-renamed")
    exc = caught.value
    assert exc.source == "triggers/kcc-asch-renamed.yaml"
    assert exc.path == "id"
    assert "does not match" in exc.problem
    assert "kcc-asch-2025-26" in exc.problem


def test_a_file_loaded_by_name_with_its_own_id_loads(shipped_dir: Path) -> None:
    text = replace("\nid: kcc-asch-2025-26\n", "\nid: kcc-asch-renamed\n")(shipped_text(INDICATORS))
    (shipped_dir / "kcc-asch-renamed.yaml").write_text(text, encoding="utf-8")
    assert sources.shipped_names() == ["kcc-asch-renamed"]
    catalogue = load_catalogue("kcc-asch-renamed")
    assert catalogue.meta.id == "kcc-asch-renamed"
    assert catalogue.meta.source == "triggers/kcc-asch-renamed.yaml"


def test_asking_for_the_wrong_kind_names_the_kind() -> None:
    with pytest.raises(CatalogueError) as caught:
        load_indicator_catalogue("nhs-acute-2023-24")
    assert caught.value.path == "kind"
    assert "expected a 'indicators' catalogue, got 'acute'" in caught.value.problem


# ---------------------------------------------------------------- every shipped catalogue is good


def test_the_shipped_names_are_the_four_files() -> None:
    assert sources.shipped_names() == list(SHIPPED)


EXPECTED_TYPES = {
    "kcc-asch-2024-25": (IndicatorCatalogue, Kind.INDICATORS),
    "kcc-asch-2025-26": (IndicatorCatalogue, Kind.INDICATORS),
    "nhs-acute-2023-24": (AcuteCatalogue, Kind.ACUTE),
    "nhs-opel-2024-26-levels": (LevelMap, Kind.LEVEL_MAP),
}


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_catalogue_loads_by_name_and_by_path(name: str) -> None:
    kind, tag = EXPECTED_TYPES[name]
    by_name = load_catalogue(name)
    assert isinstance(by_name, kind)
    assert by_name.meta.id == name
    assert by_name.meta.kind is tag
    assert by_name.meta.source == f"triggers/{name}.yaml"
    by_path = load_catalogue(str(TRIGGERS / f"{name}.yaml"))
    assert isinstance(by_path, kind)
    assert by_path.meta.source == str(TRIGGERS / f"{name}.yaml")
    assert dataclasses.replace(by_path.meta, source=by_name.meta.source) == by_name.meta


@pytest.mark.parametrize("name", SHIPPED)
def test_catalogue_validate_passes_on_every_shipped_file(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(TRIGGERS / f"{name}.yaml")
    assert main(["catalogue", "validate", path]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"ok: {path} ({name} version ")
    assert err == ""


def test_catalogue_validate_passes_on_all_shipped_files_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(TRIGGERS / f"{name}.yaml") for name in SHIPPED]
    assert main(["catalogue", "validate", *paths, *SHIPPED]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2 * len(SHIPPED)
    assert all(line.startswith("ok: ") for line in out.splitlines())
    assert err == ""
