"""Readings from CSV and Excel files, and a batch checked as `opel assess` checks lines (issue 17, 2)."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any, Final

import pytest
from openpyxl import Workbook

from opel.assess_lines import LineAssessor
from opel.catalogue import IndicatorCatalogue
from opel.catalogue_load import DEFAULT_INDICATOR_CATALOGUE, load_catalogue
from opel.reading_check import check_readings
from opel.reading_rows import MAX_ROWS, TableError, read_csv_items, read_xlsx_items


def _catalogue() -> IndicatorCatalogue:
    catalogue = load_catalogue(DEFAULT_INDICATOR_CATALOGUE)
    assert isinstance(catalogue, IndicatorCatalogue)
    return catalogue


CATALOGUE: Final = _catalogue()
AT: Final = "2025-11-12T09:30:00Z"


def reading(**fields: Any) -> dict[str, Any]:
    return {"indicator": "stp_staffing_pct", "area": "dgs", "value": 45, "observed_at": AT} | fields


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def assess_errors(items: list[Any]) -> list[str]:
    """What `opel assess` answers for each item as a line."""
    assessor = LineAssessor(CATALOGUE, None)
    lines = [assessor.answer(n, json.dumps(item).encode()) for n, item in enumerate(items, start=1)]
    return [json.loads(line)["error"] for line in lines]


@pytest.mark.parametrize(
    "bad",
    [
        reading(value=-3),
        reading(area="atlantis"),
        reading(indicator="beds_free"),
        reading(value="65"),
        reading(observed_at="2025-11-12 09:30"),
        {"indicator": "stp_staffing_pct", "area": "dgs", "value": 45},
        reading(author="me"),
    ],
)
def test_each_bad_item_is_worded_as_opel_assess_words_the_line(bad: dict[str, Any]) -> None:
    checked = check_readings(CATALOGUE, [bad])
    assert not checked.ok
    assert [p.message for p in checked.problems] == assess_errors([bad])[0].split("; ")


def test_every_bad_item_is_listed_with_index_field_and_value() -> None:
    checked = check_readings(CATALOGUE, [reading(), reading(value=-3), reading(area="atlantis"), 7])
    assert not checked.ok
    assert len(checked.readings) == 1
    assert [p.to_dict() for p in checked.problems] == [
        {"index": 1, "field": "value", "value": -3, "message": "value: must be 0 or more, got -3"},
        {
            "index": 2,
            "field": "area",
            "value": "atlantis",
            "message": (
                "area: unknown area 'atlantis' in kcc-asch-2025-26 (known: dgs, east_kent, swale, west_kent)"
            ),
        },
        {"index": 3, "field": "(item)", "value": 7, "message": "(item): expected a JSON object, got int"},
    ]


def test_a_good_batch_is_assessed_as_opel_assess_assesses_it() -> None:
    checked = check_readings(CATALOGUE, [reading(value=45)])
    assert checked.ok
    (assessment,) = checked.assessments
    assert assessment.level == 3
    assert assessment.explanation() == (
        "stp_staffing_pct = 45 in dgs is in the published band 30-49: OPEL 3 red (kcc-asch-2025-26@1.8 §4.3)"
    )


def test_csv_takes_the_replay_header_in_any_order_and_numbers_rows() -> None:
    text = (
        "area,indicator,value,observed_at\r\n"
        "dgs,stp_staffing_pct,45,2025-11-12T09:30:00Z\r\n"
        ",,,\r\n"
        "swale,referrals,12.5,2025-11-12T09:30:00Z\r\n"
    )
    table = read_csv_items(text)
    assert table.rows == [2, 4]
    assert table.items[0] == reading()
    assert table.items[1]["value"] == 12.5
    checked = check_readings(CATALOGUE, table.items, table.rows)
    assert checked.ok


def test_a_bad_csv_row_is_named_by_its_row() -> None:
    table = read_csv_items(
        f"observed_at,area,indicator,value\n{AT},dgs,stp_staffing_pct,45\n{AT},dgs,stp_staffing_pct,-3\n"
    )
    checked = check_readings(CATALOGUE, table.items, table.rows)
    assert [p.to_dict() for p in checked.problems] == [
        {"index": 1, "row": 3, "field": "value", "value": -3, "message": "value: must be 0 or more, got -3"}
    ]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("", "row 1: (header)"),
        ("observed_at,area,indicator\n", "row 1: (header)"),
        (f"observed_at,area,indicator,value\n{AT},dgs,stp_staffing_pct,45,9\n", "row 2: (row)"),
    ],
)
def test_a_csv_that_is_no_table_of_readings_says_where(text: str, where: str) -> None:
    with pytest.raises(TableError) as caught:
        read_csv_items(text)
    assert str(caught.value).startswith(where)


def test_csv_holds_at_most_max_rows() -> None:
    rows = "".join(f"{AT},dgs,stp_staffing_pct,45\n" for _ in range(MAX_ROWS + 1))
    with pytest.raises(TableError, match=f"more than {MAX_ROWS} readings"):
        read_csv_items("observed_at,area,indicator,value\n" + rows)


def test_xlsx_reads_the_first_sheet_with_number_and_text_cells() -> None:
    data = xlsx(
        [
            ["indicator", "area", "value", "observed_at"],
            ["stp_staffing_pct", "dgs", 45, AT],
            [None, None, None, None],
            ["keah_capacity", "swale", "12", datetime(2025, 7, 1, 9, 30)],  # Excel keeps no zone
        ]
    )
    table = read_xlsx_items(data)
    assert table.rows == [2, 4]
    assert table.items[0] == reading()
    # A date-time cell is Kent time: 09:30 in July is 08:30 UTC.
    assert table.items[1] == {
        "indicator": "keah_capacity",
        "area": "swale",
        "value": 12,
        "observed_at": "2025-07-01T09:30:00+01:00",
    }


def test_an_xlsx_with_one_bad_row_names_that_row() -> None:
    data = xlsx(
        [
            ["observed_at", "area", "indicator", "value"],
            [AT, "dgs", "stp_staffing_pct", 45],
            [AT, "dgs", "stp_staffing_pct", "lots"],
        ]
    )
    table = read_xlsx_items(data)
    checked = check_readings(CATALOGUE, table.items, table.rows)
    (problem,) = checked.problems
    assert (problem.row, problem.field, problem.value) == (3, "value", "lots")
    assert problem.message == assess_errors([reading(value="lots")])[0]


def test_a_file_that_is_not_a_workbook_is_refused() -> None:
    with pytest.raises(TableError, match=r"not an Excel workbook"):
        read_xlsx_items(b"observed_at,area\n")
    with pytest.raises(TableError, match=r"\(header\)"):
        read_xlsx_items(xlsx([["when", "where"]]))
