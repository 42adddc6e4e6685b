"""The `opel` command: assess JSON lines, and list, show and validate catalogues.

`opel assess` reads stdin, so it runs in a subprocess (``python -m opel.cli``); the catalogue
commands run in-process through ``opel.cli.main`` with capsys.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from opel.assess_lines import MAX_LINE_BYTES
from opel.cli import main
from opel.sources import shipped_names

REPO = Path(__file__).resolve().parent.parent
TRIGGERS = REPO / "triggers"
SHIPPED = ("kcc-asch-2024-25", "kcc-asch-2025-26", "nhs-acute-2023-24", "nhs-opel-2024-26-levels")
WHEN = "2025-11-12T09:30:00Z"


@dataclass
class Run:
    status: int
    lines: list[dict[str, Any]]
    stdout: str
    stderr: str


def opel(*args: str, stdin: str = "", cwd: Path = REPO, timeout: float = 120) -> Run:
    """Run ``python -m opel.cli ARGS`` with ``stdin``; parse each stdout line as JSON if it can."""
    done = subprocess.run(
        [sys.executable, "-m", "opel.cli", *args],
        input=stdin.encode("utf-8"),
        capture_output=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    stdout = done.stdout.decode("utf-8")
    lines = [json.loads(line) for line in stdout.splitlines()] if args[:1] == ("assess",) else []
    return Run(done.returncode, lines, stdout, done.stderr.decode("utf-8"))


def reading(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "indicator": "stp_staffing_pct",
        "area": "east_kent",
        "value": 65,
        "observed_at": WHEN,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not ...}


def submission(
    site: str = "maidstone", observed_at: str = WHEN, parameters: dict[str, Any] | None = None, **more: Any
) -> dict[str, Any]:
    return {"site": site, "observed_at": observed_at, "parameters": {**(parameters or {}), **more}}


FULL_PARAMETERS: dict[str, float] = {
    "ambulance_handover_mean_min": 42,
    "ed_4h_performance_pct": 71.5,
    "ed_attendances_vs_expected_pct": -12,
    "majors_resus_occupancy_pct": 104,
    "time_to_treatment_median_min": 90,
    "ed_over_12h_pct": 6,
    "ga_bed_occupancy_pct": 96.5,
    "escalation_beds_pct": 3,
    "nctr_beds_pct": 14,
}


def dumps(data: Any) -> str:
    return json.dumps(data, allow_nan=True)


# ---------------------------------------------------------------- a mixed batch


@dataclass(frozen=True)
class Line:
    """One input line and what its output line must say."""

    id: str
    text: str
    errors: tuple[str, ...] = ()  # substrings the error must contain; empty for a valid line
    expect: dict[str, Any] = field(default_factory=dict)  # output fields a valid line must carry
    acute: bool = False  # a valid acute submission rather than a reading

    @property
    def valid(self) -> bool:
        return not self.errors


OVERSIZED = dumps(reading(area="x" * (MAX_LINE_BYTES + 10)))
assert len(OVERSIZED.encode()) > MAX_LINE_BYTES

INVALID: list[Line] = [
    Line("bad-json", '{"indicator": "stp_staffing_pct", "area":', ("(line)", "not valid JSON")),
    Line("bad-json-single-quotes", "{'indicator': 'referrals'}", ("(line)", "not valid JSON")),
    Line("json-array", dumps([reading()]), ("(line)", "expected a JSON object", "list")),
    Line("json-string", dumps("stp_staffing_pct"), ("(line)", "expected a JSON object")),
    Line("json-null", "null", ("(line)", "expected a JSON object")),
    Line("empty-line", "", ("(line)", "empty line")),
    Line("blank-line", "   \t ", ("(line)", "empty line")),
    Line("unknown-field", dumps(reading(colour="amber")), ("colour", "not a known field")),
    Line(
        "unknown-field-person", dumps(reading(nhs_number="9434765919")), ("nhs_number", "not a known field")
    ),
    Line("missing-value", dumps(reading(value=...)), ("value", "is required")),
    Line("missing-observed-at", dumps(reading(observed_at=...)), ("observed_at", "is required")),
    Line("missing-indicator", dumps(reading(indicator=...)), ("indicator", "is required")),
    Line("string-for-numeric", dumps(reading(value="sixty")), ("value", "takes a number")),
    Line("bool-value", dumps(reading(value=True)), ("value", "must be a number")),
    Line("null-value", dumps(reading(value=None)), ("value", "must be a number")),
    Line("negative-value", dumps(reading(value=-1)), ("value", "0 or more")),
    Line("nan-literal", dumps(reading(value=float("nan"))), ("value", "finite")),
    Line("infinity-literal", dumps(reading(value=float("inf"))), ("value", "finite")),
    Line("naive-datetime", dumps(reading(observed_at="2025-11-12T09:30:00")), ("observed_at", "timezone")),
    Line("not-a-datetime", dumps(reading(observed_at="yesterday")), ("observed_at",)),
    Line(
        "unknown-indicator",
        dumps(reading(indicator="bed_days")),
        ("indicator", "unknown indicator 'bed_days'"),
    ),
    Line("indicator-not-a-string", dumps(reading(indicator=5)), ("indicator",)),
    Line("unknown-area", dumps(reading(area="medway")), ("area", "unknown area 'medway'")),
    Line(
        "category-under-numeric-catalogue",
        dumps(reading(indicator="keah_capacity", value="limited")),
        ("value", "keah_capacity takes a number"),
    ),
    Line(
        "unknown-site",
        dumps(submission("folkestone", nctr_beds_pct=5)),
        ("site", "unknown site 'folkestone'"),
    ),
    Line("acute-no-parameters", dumps(submission()), ("parameters", "no parameter has a value")),
    Line(
        "acute-null-parameters",
        dumps(submission(nctr_beds_pct=None, ga_bed_occupancy_pct=None)),
        ("parameters", "no parameter has a value"),
    ),
    Line(
        "acute-string-parameter", dumps(submission(nctr_beds_pct="5")), ("parameters.nctr_beds_pct", "number")
    ),
    Line(
        "acute-negative-parameter",
        dumps(submission(nctr_beds_pct=-1)),
        ("parameters.nctr_beds_pct", "0 or more"),
    ),
    Line(
        "acute-attendances-below-minus-100",
        dumps(submission(ed_attendances_vs_expected_pct=-101)),
        ("parameters.ed_attendances_vs_expected_pct", "-100 or more"),
    ),
    Line(
        "acute-nan-parameter", dumps(submission(ga_bed_occupancy_pct=float("nan"))), ("ga_bed_occupancy_pct",)
    ),
    Line(
        "acute-unknown-parameter", dumps(submission(bed_days=5)), ("parameters.bed_days", "not a known field")
    ),
    Line(
        "acute-naive-datetime",
        dumps(submission(observed_at="2025-11-12 09:30", nctr_beds_pct=5)),
        ("observed_at",),
    ),
    Line("oversized-line", OVERSIZED, ("(line)", str(MAX_LINE_BYTES))),
]

SPEC_EXAMPLES: list[Line] = [
    Line("spec-65", dumps(reading(value=65)), expect={"level": 2, "colour": "amber", "band": "50-69"}),
    Line(
        "spec-69.9",
        dumps(reading(value=69.9)),
        expect={"level": 2, "colour": "amber", "placement": "between"},
    ),
    Line("spec-70", dumps(reading(value=70)), expect={"level": 1, "colour": "green", "band": "70-100"}),
    Line(
        "swale-referrals",
        dumps(reading(indicator="referrals", area="swale", value=12)),
        expect={"level": None, "colour": None, "status": "not_assessed"},
    ),
    Line(
        "acute-complete",
        dumps(submission(parameters=FULL_PARAMETERS)),
        expect={"site": "maidstone", "complete": True, "missing": []},
        acute=True,
    ),
    Line(
        "acute-partial",
        dumps(submission("qeqm", nctr_beds_pct=16, ga_bed_occupancy_pct=99)),
        expect={"site": "qeqm", "score": 12, "complete": False},
        acute=True,
    ),
]


def valid_readings(count: int, rng: random.Random) -> list[Line]:
    """Readings with distinct values, so the output order can be checked against the input."""
    lines = []
    indicators = ["stp_staffing_pct", "health_caseload", "social_caseload", "referrals", "keah_capacity"]
    areas = ["dgs", "east_kent", "swale", "west_kent"]
    for number in range(count):
        indicator, area = rng.choice(indicators), rng.choice(areas)
        value = round(rng.uniform(0, 120), 1) if number % 2 else rng.randint(0, 120)
        expect = {"indicator": indicator, "area": area, "value": value}
        lines.append(
            Line(
                f"reading-{number}",
                dumps(reading(indicator=indicator, area=area, value=value)),
                expect=expect,
            )
        )
    return lines


def valid_submissions(count: int, rng: random.Random) -> list[Line]:
    sites = ["william_harvey", "qeqm", "kent_and_canterbury", "tunbridge_wells", "maidstone", "darent_valley"]
    lines = []
    for number in range(count):
        chosen = rng.sample(sorted(FULL_PARAMETERS), rng.randint(1, len(FULL_PARAMETERS)))
        parameters = {name: round(rng.uniform(0, 130), 2) for name in chosen}
        site = rng.choice(sites)
        lines.append(
            Line(
                f"acute-{number}",
                dumps(submission(site, parameters=parameters)),
                expect={"site": site},
                acute=True,
            )
        )
    return lines


def mixed_batch(seed: int = 20251112) -> list[Line]:
    rng = random.Random(seed)
    batch = valid_readings(150, rng) + valid_submissions(30, rng) + SPEC_EXAMPLES + INVALID * 2
    rng.shuffle(batch)
    return batch


def check_answer(number: int, line: Line, answer: dict[str, Any]) -> None:
    where = f"input line {number} ({line.id})"
    if not line.valid:
        assert set(answer) == {"line", "error"}, where
        assert answer["line"] == number, where
        for text in line.errors:
            assert text in answer["error"], f"{where}: {text!r} not in {answer['error']!r}"
        return
    assert "error" not in answer, f"{where}: {answer.get('error')}"
    if line.acute:
        for key in ("score", "normalised_score", "level", "colour", "score_max", "points"):
            assert key in answer, where
        assert 0 <= answer["score"] <= answer["score_max"] <= 44, where
        assert answer["normalised_score"] == round(answer["score"] * 100 / 44, 2), where
        assert answer["level"] in (1, 2, 3, 4), where
    else:
        assert "level" in answer, where
        assert "colour" in answer, where
        assert (answer["level"] is None) == (answer["colour"] is None), where
        if answer["level"] is None:
            assert answer["reason"], where
    for key, value in line.expect.items():
        assert answer[key] == value, f"{where}: {key} is {answer[key]!r}, expected {value!r}"


def test_assess_answers_every_line_of_a_mixed_batch_in_order() -> None:
    batch = mixed_batch()
    assert len(batch) > 200
    assert sum(not line.valid for line in batch) == 2 * len(INVALID)
    run = opel("assess", stdin="\n".join(line.text for line in batch) + "\n")
    assert run.status == 1, run.stderr
    assert run.stderr == ""
    assert len(run.lines) == len(batch)
    for number, (line, answer) in enumerate(zip(batch, run.lines, strict=True), start=1):
        check_answer(number, line, answer)


def test_assess_exits_0_when_no_line_is_invalid() -> None:
    batch = [line for line in mixed_batch(7) if line.valid]
    run = opel("assess", stdin="".join(line.text + "\n" for line in batch))
    assert run.status == 0, run.stderr
    assert len(run.lines) == len(batch)
    for number, (line, answer) in enumerate(zip(batch, run.lines, strict=True), start=1):
        check_answer(number, line, answer)


def test_assess_without_a_final_newline_and_with_crlf() -> None:
    text = dumps(reading(value=65)) + "\r\n" + dumps(reading(value=70))
    run = opel("assess", stdin=text)
    assert run.status == 0, run.stderr
    assert [answer["level"] for answer in run.lines] == [2, 1]


def test_assess_empty_input_writes_nothing() -> None:
    run = opel("assess", stdin="")
    assert (run.status, run.stdout, run.stderr) == (0, "", "")


@pytest.mark.parametrize(
    "line",
    [pytest.param(case, id=case.id) for case in INVALID],
)
def test_each_invalid_line_alone_exits_1(line: Line) -> None:
    run = opel("assess", stdin=dumps(reading()) + "\n" + line.text + "\n")
    assert run.status == 1
    assert len(run.lines) == 2
    check_answer(2, line, run.lines[1])


@pytest.mark.parametrize("value", ["65", "1e3", " 65"])
def test_a_numeric_string_is_refused(value: str) -> None:
    run = opel("assess", stdin=dumps(reading(value=value)) + "\n")
    assert run.status == 1
    assert run.lines[0]["error"].startswith("value: must be a number or a category name")


def test_an_area_written_as_a_person_writes_it_gets_a_sentence_not_a_regex() -> None:
    run = opel(
        "assess", stdin=dumps(reading(area="East Kent")) + "\n" + dumps(submission(site="Maidstone")) + "\n"
    )
    assert run.status == 1
    area, site = (line["error"] for line in run.lines)
    assert area == (
        "area: must follow the id pattern: a lower-case letter, then lower-case letters, digits or _ "
        "(no spaces or capitals), got 'East Kent' (did you mean 'east_kent'?)"
    )
    assert site.startswith(
        "site: must follow the id pattern: a lower-case letter, then lower-case letters, digits, _ or -"
    )
    assert "got 'Maidstone' (did you mean 'maidstone'?)" in site
    assert "[a-z" not in area + site  # no regular expression


# ---------------------------------------------------------------- the spec's examples


SPEC_LINE = (
    '{"indicator": "stp_staffing_pct", "area": "east_kent", "value": 65, '
    '"observed_at": "2025-11-12T09:30:00Z"}'
)


def test_the_spec_example_is_amber() -> None:
    run = opel("assess", stdin=SPEC_LINE + "\n")
    assert run.status == 0
    [answer] = run.lines
    assert answer["level"] == 2
    assert answer["colour"] == "amber"
    assert answer["status"] == "assessed"
    assert answer["catalogue"] == "kcc-asch-2025-26"
    assert datetime.fromisoformat(answer["observed_at"]) == datetime(2025, 11, 12, 9, 30, tzinfo=UTC)
    assert "OPEL 2 amber" in answer["explanation"]


@pytest.mark.parametrize(
    ("value", "level", "colour"),
    [
        (65, 2, "amber"),
        (69.9, 2, "amber"),
        (70, 1, "green"),
        (49.5, 3, "red"),
        (29, 4, "black"),
        (100.5, 1, "green"),
    ],
)
def test_staffing_boundaries(value: float, level: int, colour: str) -> None:
    run = opel("assess", stdin=dumps(reading(value=value)) + "\n")
    assert run.status == 0
    assert (run.lines[0]["level"], run.lines[0]["colour"]) == (level, colour)


def test_referrals_in_swale_are_not_assessed_with_a_reason() -> None:
    run = opel("assess", stdin=dumps(reading(indicator="referrals", area="swale", value=25)) + "\n")
    assert run.status == 0
    [answer] = run.lines
    assert answer["level"] is None
    assert answer["colour"] is None
    assert answer["status"] == "not_assessed"
    assert "Swale" in answer["reason"]


KEAH_LIMITED = dumps(reading(indicator="keah_capacity", value="limited")) + "\n"


@pytest.mark.parametrize(
    "catalogue",
    [
        pytest.param("kcc-asch-2024-25", id="name"),
        pytest.param(str(TRIGGERS / "kcc-asch-2024-25.yaml"), id="absolute-path"),
        pytest.param("triggers/kcc-asch-2024-25.yaml", id="relative-path"),
    ],
)
def test_keah_categories_under_the_2024_25_catalogue(catalogue: str) -> None:
    run = opel("assess", "--catalogue", catalogue, stdin=KEAH_LIMITED)
    assert run.status == 0, run.stderr
    [answer] = run.lines
    assert (answer["level"], answer["colour"], answer["category"]) == (2, "amber", "limited")
    assert answer["catalogue"] == "kcc-asch-2024-25"


def test_keah_category_under_the_default_catalogue_names_value() -> None:
    run = opel("assess", stdin=KEAH_LIMITED)
    assert run.status == 1
    [answer] = run.lines
    assert answer["line"] == 1
    assert answer["error"].startswith("value:")


def test_catalogue_accepts_a_copy_outside_the_tree(tmp_path: Path) -> None:
    copy = tmp_path / "local-copy.yaml"
    shutil.copy(TRIGGERS / "kcc-asch-2024-25.yaml", copy)
    run = opel("assess", "--catalogue", str(copy), stdin=KEAH_LIMITED, cwd=tmp_path)
    assert run.status == 0, run.stderr
    assert run.lines[0]["level"] == 2


def test_catalogue_repeated_gives_an_indicator_and_an_acute_catalogue(tmp_path: Path) -> None:
    acute = tmp_path / "acute.yaml"
    shutil.copy(TRIGGERS / "nhs-acute-2023-24.yaml", acute)
    stdin = KEAH_LIMITED + dumps(submission(parameters=FULL_PARAMETERS)) + "\n"
    run = opel("assess", "--catalogue", "kcc-asch-2024-25", "--catalogue", str(acute), stdin=stdin)
    assert run.status == 0, run.stderr
    assert run.lines[0]["catalogue"] == "kcc-asch-2024-25"
    assert run.lines[1]["catalogue"] == "nhs-acute-2023-24"
    assert run.lines[1]["complete"] is True


@pytest.mark.parametrize(
    "catalogue",
    [
        pytest.param("nhs-opel-2024-26-levels", id="name"),
        pytest.param(str(TRIGGERS / "nhs-opel-2024-26-levels.yaml"), id="path"),
    ],
)
def test_a_level_map_as_catalogue_is_a_usage_error(catalogue: str) -> None:
    run = opel("assess", "--catalogue", catalogue, stdin=SPEC_LINE + "\n")
    assert run.status == 2
    assert run.stdout == ""
    assert run.stderr.startswith("opel: ")
    assert "nhs-opel-2024-26-levels.yaml: kind: a level map" in run.stderr
    assert "Traceback" not in run.stderr


def test_an_unknown_catalogue_name_is_a_usage_error_listing_the_names() -> None:
    run = opel("assess", "--catalogue", "kcc-asch-2099-00", stdin=SPEC_LINE + "\n")
    assert run.status == 2
    assert run.stdout == ""
    assert "kcc-asch-2099-00" in run.stderr
    for name in SHIPPED:
        assert name in run.stderr
    assert "Traceback" not in run.stderr


def test_a_broken_catalogue_is_a_usage_error_naming_file_and_path(tmp_path: Path) -> None:
    data = yaml.safe_load((TRIGGERS / "kcc-asch-2025-26.yaml").read_text("utf-8"))
    data["indicators"]["referrals"]["bands"]["dgs"][2]["range"] = [14, 19]
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data), "utf-8")
    run = opel("assess", "--catalogue", str(broken), stdin=SPEC_LINE + "\n")
    assert run.status == 2
    assert f"opel: {broken}: indicators.referrals.bands.dgs[2]: range 14-19 overlaps" in run.stderr


def test_no_command_is_a_usage_error() -> None:
    run = opel()
    assert run.status == 2
    assert "usage:" in run.stderr


# ---------------------------------------------------------------- no service dependencies


IMPORT_CHECK = """
import runpy, sys
sys.argv = ["opel", *sys.argv[1:]]
try:
    runpy.run_module("opel.cli", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    status = exc.code
else:
    status = 0
heavy = sorted({name.split(".")[0] for name in sys.modules} & {"faust", "aiokafka", "mode"})
assert not heavy, f"opel {sys.argv[1:]} imported {heavy}"
assert "opel.catalogue_load" in sys.modules
print(f"exit status {status}", file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        pytest.param(["assess"], 0, id="assess"),
        pytest.param(["catalogue", "show", "kcc-asch-2025-26"], 0, id="catalogue-show"),
        pytest.param(["catalogue", "show", "nhs-acute-2023-24"], 0, id="catalogue-show-acute"),
        pytest.param(["catalogue", "list"], 0, id="catalogue-list"),
        pytest.param(["catalogue", "validate", "kcc-asch-2025-26"], 0, id="catalogue-validate"),
    ],
)
def test_core_commands_do_not_import_kafka_or_faust(argv: list[str], status: int) -> None:
    stdin = SPEC_LINE + "\n" + dumps(submission(parameters=FULL_PARAMETERS)) + "\n"
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK, *argv],
        input=stdin.encode(),
        capture_output=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    assert stderr.strip().endswith(f"exit status {status}"), stderr
    if argv == ["assess"]:
        assert len(done.stdout.splitlines()) == 2


# ---------------------------------------------------------------- catalogue list / show / validate


def test_catalogue_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalogue", "list"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    rows = [line.split() for line in out.splitlines()]
    assert [row[0] for row in rows] == list(SHIPPED) == shipped_names()
    assert rows[0][1:] == ["indicators", "version", "1.7", "superseded"]
    assert rows[1][1:] == ["indicators", "version", "1.8", "approved"]
    assert rows[2][1:] == ["acute", "version", "2023.24", "approved"]
    assert rows[3][1:] == ["level_map", "version", "2024.26", "approved"]


RULE = re.compile(r"  -+(  -+)*")


def show(name: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["catalogue", "show", name]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def table_after(text: str, heading: str) -> dict[str, dict[str, str]]:
    """The table under the first line containing ``heading``: {row label: {column: cell}}."""
    lines = text.splitlines()
    start = next(index for index, line in enumerate(lines) if heading in line)
    rule = next(index for index in range(start, len(lines)) if RULE.fullmatch(lines[index]))
    columns = re.split(r"\s{2,}", lines[rule - 1].strip())
    table: dict[str, dict[str, str]] = {}
    for line in lines[rule + 1 :]:
        cells = re.split(r"\s{2,}", line.strip())
        if not line.startswith("  ") or len(cells) != len(columns):
            break
        table[cells[0]] = dict(zip(columns[1:], cells[1:], strict=True))
    return table


def test_show_the_2025_26_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    out = show("kcc-asch-2025-26", capsys)
    assert out.startswith("KCC ASCH Operational Pressures Escalation Plan 2025-26 trigger tables\n")
    assert "file: triggers/kcc-asch-2025-26.yaml" in out
    health = table_after(out, "[health_caseload]")
    assert health["OPEL 2 amber"]["swale"] == "40-49 (39, 49]"
    assert health["OPEL 2 amber"]["dgs"] == "40-59 (39, 59]"
    assert health["OPEL 4 black"]["swale"] == "70-80 (69, inf)"
    referrals = table_after(out, "[referrals]")
    assert referrals["OPEL 4 black"]["dgs"] == "20-29 (19, inf)"
    assert referrals["OPEL 4 black"]["east_kent"] == "20-100 (19, inf)"
    assert referrals["OPEL 1 green"]["swale"] == "not assessed"
    assert "swale: not assessed: the plan gives no referral triggers for Swale (N/A)" in out
    staffing = table_after(out, "[stp_staffing_pct]")
    assert staffing["OPEL 2 amber"]["west_kent"] == "50-69 [50, 70)"
    assert "not assessed: reported daily; the plan sets no triggers" in out
    assert "action plan: kcc-asch-actions-v1.8" in out


def test_show_the_2024_25_catalogue_has_keah_categories(capsys: pytest.CaptureFixture[str]) -> None:
    out = show("kcc-asch-2024-25", capsys)
    keah = table_after(out, "[keah_capacity]")
    expected = {
        "OPEL 1 green": "good",
        "OPEL 2 amber": "limited",
        "OPEL 3 red": "very_limited",
        "OPEL 4 black": "none",
    }
    for row, category in expected.items():
        assert keah[row] == dict.fromkeys(("dgs", "east_kent", "swale", "west_kent"), category)
    staffing = table_after(out, "[stp_staffing_pct]")
    assert staffing["OPEL 4 black"]["dgs"] == "0-34 [0, 35)"
    assert "caseload triggers were under development in plan v1.7" in out


def test_show_the_acute_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    out = show("nhs-acute-2023-24", capsys)
    treatment = table_after(out, "[time_to_treatment_median_min]")
    assert treatment["2"] == {"published": "90-120 min", "exact": "(90, 120]"}
    assert treatment["1"] == {"published": ">60-90 min", "exact": "(60, 90]"}
    assert "Total score 0-44 to level:" in out
    score = table_after(out, "Total score 0-44")
    assert score["OPEL 2 amber"] == {"published": "12-22", "exact": "(11, 22]"}
    assert "mapped by nhs-opel-2024-26-levels@2024.26" in out
    assert "System kent-medway (Kent and Medway)" in out


def test_show_the_level_map(capsys: pytest.CaptureFixture[str]) -> None:
    out = show("nhs-opel-2024-26-levels", capsys)
    levels = table_after(out, "file: triggers/nhs-opel-2024-26-levels.yaml")
    assert levels["OPEL 2 amber"] == {"published": ">15-40", "exact": "(15, 40]"}
    assert levels["OPEL 4 black"] == {"published": ">70-100", "exact": "(70, inf)"}


def test_show_by_path(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(TRIGGERS / "nhs-opel-2024-26-levels.yaml")
    out = show(path, capsys)
    assert f"file: {path}" in out


def test_show_an_unknown_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalogue", "show", "nope"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("opel: nope: no shipped catalogue")


def broken_copy(tmp_path: Path) -> Path:
    data = yaml.safe_load((TRIGGERS / "nhs-opel-2024-26-levels.yaml").read_text("utf-8"))
    data["levels"][1]["interval"] = "(16, 40]"
    path = tmp_path / "gappy-levels.yaml"
    path.write_text(yaml.safe_dump(data), "utf-8")
    return path


def test_validate_a_good_file(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(TRIGGERS / "nhs-acute-2023-24.yaml")
    assert main(["catalogue", "validate", path]) == 0
    out, err = capsys.readouterr()
    assert out == f"ok: {path} (nhs-acute-2023-24 version 2023.24, acute, approved)\n"
    assert err == ""


def test_validate_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = broken_copy(tmp_path)
    assert main(["catalogue", "validate", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"invalid: {path}: levels[1]: gap between [0, 15] and (16, 40]")


def test_validate_a_good_and_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = broken_copy(tmp_path)
    good = TRIGGERS / "kcc-asch-2025-26.yaml"
    assert main(["catalogue", "validate", str(bad), str(good)]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(f"ok: {good} ")
    assert f"{bad}: levels[1]" in err


def test_validate_end_to_end(tmp_path: Path) -> None:
    good = opel("catalogue", "validate", str(TRIGGERS / "kcc-asch-2025-26.yaml"))
    assert (good.status, good.stderr) == (0, "")
    bad = opel("catalogue", "validate", str(broken_copy(tmp_path)))
    assert bad.status == 1
    assert bad.stdout == ""
    assert "gappy-levels.yaml: levels[1]: gap" in bad.stderr
    missing = opel("catalogue", "validate", str(tmp_path / "missing.yaml"))
    assert missing.status == 1
    assert "missing.yaml: cannot read" in missing.stderr


def staffing_without_opel_4(tmp_path: Path) -> Path:
    """The issue's example: the OPEL 4 staffing band deleted, so 10 % would read as OPEL 3."""
    text = (TRIGGERS / "kcc-asch-2025-26.yaml").read_text("utf-8")
    band = "        - {level: 4, range: [0, 29]}\n"
    assert text.count(band) == 1
    path = tmp_path / "no-opel-4-staffing.yaml"
    path.write_text(text.replace(band, ""), "utf-8")
    return path


@pytest.mark.parametrize("deleted", [True, False], ids=["band-deleted", "band-kept"])
def test_validate_refuses_a_table_with_a_hole_in_its_domain(
    deleted: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = staffing_without_opel_4(tmp_path) if deleted else TRIGGERS / "kcc-asch-2025-26.yaml"
    status = main(["catalogue", "validate", str(path)])
    out, err = capsys.readouterr()
    if not deleted:
        assert (status, err) == (0, "")
        return
    assert status == 1
    assert out == ""
    assert err == (
        f"invalid: {path}: indicators.stp_staffing_pct.bands.all: hole in the domain (percent [0, 100]): "
        "no band covers [0, 30), so those values would silently take the band '30-49' (OPEL 3); "
        "publish a band for them\n"
    )


def copy_of_shipped(
    tmp_path: Path, name: str, *, version: str | None = None, dwell: str | None = None
) -> Path:
    text = (TRIGGERS / "kcc-asch-2025-26.yaml").read_text("utf-8")
    text = "# a local copy\n" + text  # comments are not content
    if version is not None:
        text = text.replace('\nversion: "1.8"\n', f'\nversion: "{version}"\n', 1)
    if dwell is not None:
        text = text.replace("step_down_dwell: P1D", f"step_down_dwell: {dwell}", 1)
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


@pytest.mark.parametrize(
    ("version", "dwell", "warned"),
    [
        (None, "PT12H", True),  # the shipped id and version, other content
        ("1.8.0", "PT12H", True),  # the same version written another way
        ("1.9", "PT12H", False),  # a new version may change anything
        (None, None, False),  # the shipped content with other comments
        ("1.9", None, False),
    ],
)
def test_validate_warns_when_a_file_reuses_a_shipped_id_and_version_with_other_content(
    version: str | None, dwell: str | None, warned: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = copy_of_shipped(tmp_path, "local.yaml", version=version, dwell=dwell)
    assert main(["catalogue", "validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"ok: {path} (kcc-asch-2025-26 version ")
    if not warned:
        assert err == ""
        return
    assert err.startswith(
        f"warning: {path}: reuses id kcc-asch-2025-26 version {version or '1.8'} of the shipped "
    )
    assert "triggers/kcc-asch-2025-26.yaml with different content (sha256:" in err
    assert "give the changed catalogue a new version" in err
    assert err.count("\n") == 1


def test_validate_warning_end_to_end(tmp_path: Path) -> None:
    reused = copy_of_shipped(tmp_path, "reused.yaml", dwell="PT12H")
    run = opel("catalogue", "validate", str(reused), str(TRIGGERS / "kcc-asch-2025-26.yaml"))
    assert run.status == 0
    assert run.stdout.count("ok: ") == 2
    assert run.stderr.startswith(f"warning: {reused}: reuses id kcc-asch-2025-26 version 1.8")
    hole = opel("catalogue", "validate", str(staffing_without_opel_4(tmp_path)))
    assert hole.status == 1
    assert "hole in the domain" in hole.stderr


def test_show_prints_the_content_hash(capsys: pytest.CaptureFixture[str]) -> None:
    out = show("kcc-asch-2025-26", capsys)
    (line,) = [line for line in out.splitlines() if line.startswith("  content: ")]
    assert re.fullmatch(r"  content: sha256:[0-9a-f]{64}", line)


# ---------------------------------------------------------------- a closed stdout


def many_lines(count: int) -> bytes:
    return ((SPEC_LINE + "\n") * count).encode()


def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    """`opel assess < big | head -1`: stdout closes while opel is still writing."""
    process = subprocess.Popen(
        [sys.executable, "-m", "opel.cli", "assess"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    stdin = process.stdin

    def feed() -> None:
        try:
            stdin.write(many_lines(100_000))
            stdin.close()
        except BrokenPipeError:
            pass

    feeder = threading.Thread(target=feed)
    feeder.start()
    first = process.stdout.readline()
    process.stdout.close()
    feeder.join(timeout=120)
    stderr = process.stderr.read().decode()
    status = process.wait(timeout=120)
    assert json.loads(first)["level"] == 2
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr
    assert "Exception ignored" not in stderr
    assert status in (0, 1)


@pytest.mark.parametrize("count", [1, 600, 5000])
def test_a_reader_that_is_already_gone_gets_no_traceback(count: int) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "opel.cli", "assess"],
            input=many_lines(count),
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=REPO,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    stderr = done.stderr.decode()
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr
    assert "BrokenPipeError" not in stderr
