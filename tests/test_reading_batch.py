"""The batch path of `opel assess` gives exactly what the line-by-line reference path gives.

The batch path (opel.assess_lines) validates readings with READING_FIELDS / READING_BATCH
instead of Reading, and joins answers from text compiled per rule (opel.assess_table) and one
bisect over BandTable.segments. Each of those is checked here against the reference it stands in
for: Reading, LineAssessor.answer, BandTable.band_for with placement.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from bisect import bisect_right
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_core import to_json

from opel.assess_lines import BATCH_LINES, MAX_LINE_BYTES, LineAssessor
from opel.bands import BandSpec, BandTable, Direction, parse_interval
from opel.catalogue import IndicatorCatalogue, LevelMap
from opel.catalogue_load import load_acute_catalogue, load_catalogue, load_indicator_catalogue
from opel.models import AREA_IDS, INDICATOR_IDS, READING_BATCH, READING_FIELDS, Reading

INDICATORS = {name: load_indicator_catalogue(name) for name in ("kcc-asch-2025-26", "kcc-asch-2024-25")}
ACUTE = load_acute_catalogue("nhs-acute-2023-24")
AT = '"observed_at": "2025-11-12T09:30:00Z"'
REFERRALS = f'{{"indicator": "referrals", "area": "dgs", "value": 3, {AT}}}'


def reference(assessor: LineAssessor, data: bytes) -> bytes:
    """The answers as `opel assess` wrote them before batches: each line alone, in order."""
    out = []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the newline ending the last line starts no line
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            assessor.invalid += 1
            out.append(to_json({"line": number, "error": "(line): empty line; expected a JSON object"}))
        else:
            out.append(assessor.answer(number, line))
    return b"".join(answer + b"\n" for answer in out)


def batched(catalogue: IndicatorCatalogue, data: bytes, cuts: list[int]) -> tuple[bytes, int]:
    assessor = LineAssessor(catalogue, ACUTE)
    edges = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    chunks = [data[start:end] for start, end in itertools.pairwise(edges)]
    return b"".join(assessor.run(chunks)), assessor.invalid


def assert_same(catalogue: IndicatorCatalogue, data: bytes, cuts: list[int] | None = None) -> None:
    expected_assessor = LineAssessor(catalogue, ACUTE)
    expected = reference(expected_assessor, data)
    for chunking in ([], [len(data) // 2], cuts or []):
        got, invalid = batched(catalogue, data, chunking)
        assert got.split(b"\n") == expected.split(b"\n")
        assert invalid == expected_assessor.invalid


# ---------------------------------------------------------------- generated readings

times = st.one_of(
    st.sampled_from(
        [
            "2025-11-12T09:30:00Z",
            "2025-11-12T09:30:00+00:00",
            "2025-11-12T09:30:00-00:00",
            "2025-11-12t09:30:00z",
            "2025-11-12 09:30:00+01:00",
            "2025-11-12T09:30:00.5Z",
            "2025-11-12T09:30:00.123456789-05:30",
            "2025-02-29T09:30:00Z",
            "2024-02-29T23:59:59+23:59",
            "2025-11-12T24:00:00Z",
            "2025-11-12T23:59:60Z",
            "2025-11-12T09:30:00",
            "2025-11-12",
            "1700000000",
            "yesterday",
            "२०२५-११-१२T09:30:00Z",
        ]
    ),
    st.datetimes(min_value=datetime(1, 1, 2), timezones=st.timezones()).map(datetime.isoformat),
    st.integers(0, 2**40),
    st.none(),
)
numbers = st.one_of(
    st.integers(-5, 10**6),
    st.integers(2**62, 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(0, 200).map(lambda x: round(x, 3)),
    st.sampled_from(
        [0.0, -0.0, 1e-05, 1e-4, 5e-324, 1e16, 1e22, 10.00001, 69.9, 70, 39.5, 29.999999999999996]
    ),
)
values = st.one_of(
    numbers,
    st.sampled_from(
        ["good", "limited", "very_limited", "none", "sixty", "65", " 65", "Limited", "", "a" * 33]
    ),
    st.booleans(),
    st.none(),
    st.lists(st.integers(0, 3), max_size=2),
)
ids = st.one_of(
    st.sampled_from(INDICATOR_IDS + AREA_IDS),
    st.sampled_from(["East Kent", "bed_days", "medway", "", "x" * 65, "a\n", "é"]),
    st.integers(0, 3),
)


@st.composite
def reading_objects(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {
        "indicator": draw(st.sampled_from(INDICATOR_IDS) | ids),
        "area": draw(st.sampled_from(AREA_IDS) | ids),
        "value": draw(values),
        "observed_at": draw(times),
    }
    if draw(st.integers(0, 9)) == 0:
        del data[draw(st.sampled_from(sorted(data)))]
    if draw(st.integers(0, 9)) == 0:
        data[draw(st.sampled_from(["colour", "site", "nhs_number"]))] = "x"
    return data


def dumps(data: Any) -> str:
    return json.dumps(data, allow_nan=True, ensure_ascii=False)


@settings(max_examples=400)
@given(data=reading_objects())
def test_the_batch_schema_refuses_what_reading_refuses_and_gives_the_same_values(
    data: dict[str, Any],
) -> None:
    line = dumps(data).encode()
    try:
        fields = READING_FIELDS.validate_json(line)
    except ValidationError:
        return  # refused: the reference path answers the line
    reading = Reading.model_validate_json(line)
    assert fields.pop("observed_at_text") == data["observed_at"]
    # The quick path takes feed lines only; one with the API's submitted_by takes Reading's.
    assert reading.submitted_by is None
    assert fields == reading.model_dump(exclude={"submitted_by"})
    assert type(fields["value"]) is type(reading.value)
    assert to_json(fields) == to_json(reading.model_dump(exclude={"submitted_by"}))


@settings(max_examples=60, deadline=None)
@given(
    objects=st.lists(reading_objects(), min_size=1, max_size=40),
    catalogue=st.sampled_from(sorted(INDICATORS)),
    cuts=st.lists(st.integers(0, 10**6), max_size=4),
)
def test_batches_of_generated_lines_answer_as_the_reference_path(
    objects: list[dict[str, Any]], catalogue: str, cuts: list[int]
) -> None:
    data = "".join(dumps(item) + "\n" for item in objects).encode()
    assert_same(INDICATORS[catalogue], data, cuts)


NUMBER_TEXTS = [
    "0",
    "-0",
    "-0.0",
    "1e2",
    "1E+2",
    "1.5e-7",
    "0.00001",
    "12345678901234567890",
    "123456789012345678901234567890",
    "1e400",
    "-1e-400",
    "0.1000000000000000055511151231257827",
    "69.90000000000000001",
    "39.999999999999999999",
    "2.5000000000000000000000000000000000000000001",
]


@pytest.mark.parametrize("number", NUMBER_TEXTS)
def test_numbers_as_written_are_read_and_answered_as_reading_reads_them(number: str) -> None:
    lines = [
        f'{{"indicator": "{indicator}", "area": "dgs", "value": {number}, {AT}}}'
        for indicator in ("stp_staffing_pct", "referrals", "assessment_bed_availability")
    ]
    for line in lines:
        try:
            fields = READING_FIELDS.validate_json(line)
        except ValidationError:
            continue
        assert fields.pop("observed_at_text") == "2025-11-12T09:30:00Z"
        assert fields == Reading.model_validate_json(line).model_dump(exclude={"submitted_by"})
    for catalogue in INDICATORS.values():
        assert_same(catalogue, ("\n".join(lines * 3) + "\n").encode())


CANONICAL_ZONES = ("Z", "+01:00", "-05:30", "+23:59")  # written back by pydantic as they are
OTHER_ZONES = ("+00:00", "-00:00", "z", ".5Z", ".000000Z", ".123456789+01:00")


def realistic_lines(count: int, seed: int, *, odd: bool = False) -> list[str]:
    """Readings as feeds write them; ``odd`` adds times and numbers pydantic writes otherwise."""
    rng = random.Random(seed)
    zones = CANONICAL_ZONES + OTHER_ZONES if odd else CANONICAL_ZONES
    lines = []
    for second in range(count):
        indicator, area = rng.choice(INDICATOR_IDS), rng.choice(AREA_IDS)
        choices: list[float | str] = [
            rng.randint(0, 120),
            round(rng.uniform(0, 120), rng.randint(0, 4)),
            rng.choice(["good", "limited", "very_limited", "none"]),
        ]
        if odd:
            choices += [rng.uniform(0, 1e-3), rng.uniform(1e15, 1e17)]
        value = rng.choice(choices)
        year = rng.choice([2025, 2025, 2026, 1, 999, 9999])
        clock = f"{second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
        at = f"{year:04d}-11-12T{clock}{rng.choice(zones)}"
        lines.append(dumps({"indicator": indicator, "area": area, "value": value, "observed_at": at}))
    return lines


def test_the_batch_schema_takes_good_readings_as_reading_does() -> None:
    lines = realistic_lines(500, seed=1, odd=True)
    taken = READING_BATCH.validate_json("[" + ",".join(lines) + "]")
    texts = [fields.pop("observed_at_text") for fields in taken]
    assert taken == [Reading.model_validate_json(line).model_dump(exclude={"submitted_by"}) for line in lines]
    assert texts == [json.loads(line)["observed_at"] for line in lines]


@pytest.mark.parametrize("odd", [False, True], ids=["as-written", "odd"])
@pytest.mark.parametrize("catalogue", sorted(INDICATORS))
def test_whole_batches_of_good_lines_answer_as_the_reference_path(catalogue: str, odd: bool) -> None:
    lines = realistic_lines(3 * BATCH_LINES + 17, seed=len(catalogue), odd=odd)
    assert_same(INDICATORS[catalogue], ("\n".join(lines) + "\n").encode(), [4096, 70_000, 200_001])


ODD_LINES = [
    "",
    "   ",
    '{"indicator": "stp_staffing_pct", "area":',
    f"{REFERRALS}, {REFERRALS}",
    '{"indicator": "stp_staffing_pct", "area": "east_kent",',
    f'"value": 65, {AT}}}',
    f"[{REFERRALS}]",
    "null",
    f'{{"site": "maidstone", {AT}, "parameters": {{"nctr_beds_pct": 14}}}}',
    f'{{"site": "folkestone", {AT}, "parameters": {{"nctr_beds_pct": 14}}}}',
    f'{{"indicator": "keah_capacity", "area": "dgs", "value": "limited", {AT}}}',
    f'{{"indicator": "referrals", "area": "swale", "value": "limited", {AT}}}',
    REFERRALS + "   ",
    "  " + REFERRALS,
    REFERRALS + "\r",
    REFERRALS + "\r\r",
    REFERRALS.replace('"dgs"', '"' + "x" * MAX_LINE_BYTES + '"'),
    REFERRALS.replace(": 3,", ": 1" + "0" * MAX_LINE_BYTES + ","),
    REFERRALS.replace(f"{AT}", f"{AT}" + " " * 70_000),
]


@pytest.mark.parametrize("catalogue", sorted(INDICATORS))
def test_odd_lines_among_good_ones_answer_as_the_reference_path(catalogue: str) -> None:
    good = realistic_lines(300, seed=3, odd=True)
    rng = random.Random(5)
    lines = good + ODD_LINES * 3
    rng.shuffle(lines)
    text = "\n".join(lines)
    assert_same(INDICATORS[catalogue], text.encode(), [1, 65_537, 140_000])  # no final newline
    assert_same(INDICATORS[catalogue], (text + "\n").encode())


def test_a_batch_is_validated_whole_only_when_each_line_is_one_object() -> None:
    # Two halves of a reading on two lines, then two readings on one line: joined into one
    # array they validate as three readings for three lines, none of them on its own line.
    halves = [b'{"indicator":"referrals","area":"dgs"', b'"value":3,"observed_at":"2025-11-12T09:30:00Z"}']
    two = b'{"indicator":"referrals","area":"dgs","value":3,"observed_at":"2025-11-12T09:30:00Z"}'
    lines = [*halves, two + b"," + two]
    assert len(READING_BATCH.validate_json(b"[" + b",".join(lines) + b"]")) == len(lines)
    assert_same(INDICATORS["kcc-asch-2025-26"], b"\n".join(lines) + b"\n")


# ---------------------------------------------------------------- band tables


def band_tables() -> list[tuple[str, BandTable]]:
    tables = [
        (f"{name}:{indicator}/{area}", rule.table)
        for name, catalogue in INDICATORS.items()
        for (indicator, area), rule in catalogue.rules.items()
        if rule.table is not None
    ]
    tables += [(f"acute:{name}", rule.table) for name, rule in ACUTE.parameters.items()]
    tables.append(("acute:score", ACUTE.score_levels))
    level_map = load_catalogue("nhs-opel-2024-26-levels")
    assert isinstance(level_map, LevelMap)
    tables.append(("level map", level_map.table))
    return tables


def huge_table() -> BandTable:
    """Boundaries at and past 2**53, where whole numbers lie between adjacent floats."""
    ends = ["[0, 9007199254740992]", "(9007199254740992, 1152921504606846976]", "(1152921504606846976, inf)"]
    specs = [
        BandSpec(outcome, parse_interval(text), parse_interval(text), text, f"bands[{outcome}]")
        for outcome, text in enumerate(ends, start=1)
    ]
    return BandTable(specs, Direction.HIGHER_IS_WORSE)


TABLES = [*band_tables(), ("past 2**53", huge_table())]


def probes(table: BandTable, rng: random.Random) -> list[float]:
    points = [table.minimum] + [end for band in table.bands for end in (band.stated.low, band.stated.high)]
    points += [band.exact.high for band in table.bands]
    found: list[float] = []
    for point in points:
        if math.isinf(point):
            continue
        found += [point, math.nextafter(point, math.inf), math.nextafter(point, -math.inf)]
        found += [point + 0.5, point - 0.5, math.floor(point), math.ceil(point) + 1]
    found += [rng.uniform(table.minimum, 200) for _ in range(200)]
    found += [10**30, 2**53 + 1]
    for power in (53, 60):
        found += [2**power + step for step in range(-3, 4)]  # ints the floats around them skip
    return [value for value in found if value >= table.minimum]


@pytest.mark.parametrize(("name", "table"), TABLES, ids=[name for name, _ in TABLES])
def test_one_bisect_over_the_bounds_finds_the_band_whose_exact_interval_holds_the_value(
    name: str, table: BandTable
) -> None:
    for value in probes(table, random.Random(name)):
        for typed in {value, int(value)} if float(value).is_integer() else {value}:
            if typed < table.minimum:
                continue
            band = table.bands[bisect_right(table.bounds, typed)]
            assert typed in band.exact, f"{name}: {typed!r} placed in {band.exact}"


@pytest.mark.parametrize(("name", "table"), TABLES, ids=[name for name, _ in TABLES])
def test_segments_give_the_band_and_placement_of_every_value(name: str, table: BandTable) -> None:
    points, cells = table.segments()
    assert len(cells) == len(points) + 1
    for value in probes(table, random.Random(name)):
        for typed in {value, int(value)} if float(value).is_integer() else {value}:
            if typed < table.minimum:
                continue
            band = next(band for band in table.bands if typed in band.exact)
            assert cells[bisect_right(points, typed)] == (band, table.placement(band, typed)), (name, typed)
