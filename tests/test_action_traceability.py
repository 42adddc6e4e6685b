"""Every action of a shipped action plan is traceable to the plan cell it came from.

Each action cites its cells (``source``: section or appendix, row, OPEL column and a short quote).
These tests read the plan text itself (``../shared/plan/``, or ``OPEL_PLAN_DIR``), find the
section 8 role / response table, the appendix summary table and the prose sections, and check:

- each cited place exists: the section, the table row, the column;
- the quote is in that cell (so the action is pinned to one item of it, not just to the file);
- the action shares key words with its quote, and every figure in the action's text (2 hours,
  24 hours, 10:30) is in a cell it cites;
- a section 8 cell belongs to the action's own role (its row label is the role's name) and an
  appendix cell is ticked at the level cited;
- the other way round: every section 8 cell with actions, and every appendix row, is carried by
  some action, and "Continue with Level ... Actions" in a cell is what ``continues`` encodes
  (a cell that is silent or blank needs a note in the plan file).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

from opel.actions import Action, ActionPlan, PlanCell
from opel.actions_load import load_action_plan
from opel.levels import Level

REPO = Path(__file__).resolve().parent.parent
PLAN_DIR = Path(os.environ.get("OPEL_PLAN_DIR", REPO.parent / "shared" / "plan"))

# action plan -> (plan text file, the appendix that summarises section 8 in that version)
SHIPPED: dict[str, tuple[str, str]] = {
    "kcc-asch-actions-v1.8": ("kcc-opel-plan-2025-26.txt", "App. 3"),
    "kcc-asch-actions-v1.7": ("kcc-opel-plan-2024-25.txt", "App. 2"),
}

needs_plan = pytest.mark.skipif(
    not all((PLAN_DIR / file).is_file() for file, _ in SHIPPED.values()),
    reason=f"the plan text is not in {PLAN_DIR} (set OPEL_PLAN_DIR)",
)
pytestmark = needs_plan

TICK = "✓"
_STOP = frozenset(
    {
        "a",
        "an",
        "and",
        "the",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "with",
        "or",
        "as",
        "be",
        "is",
        "are",
        "any",
        "all",
        "if",
        "its",
        "it",
        "this",
        "that",
        "their",
        "they",
        "them",
        "there",
        "where",
        "when",
        "which",
        "who",
        "whose",
        "will",
        "may",
        "into",
        "than",
        "then",
        "so",
        "not",
        "no",
    }
)


def normalise(text: str) -> str:
    """Lower case, no HTML tags or bullets, one space between words, plain quotes."""
    text = re.sub(r"<[^>]+>", " ", text)
    text = text.replace("•", " ").replace("’", "'").replace("‘", "'")
    return re.sub(r"\s+", " ", text).strip().lower()


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:6]


def key_words(text: str) -> set[str]:
    words = re.findall(r"[a-z]+", normalise(text))
    return {_stem(word) for word in words if len(word) >= 3 and word not in _STOP}


def figures(text: str) -> set[str]:
    return set(re.findall(r"\d+", text))


# --- reading the plan text -------------------------------------------------------------------------


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)


def _heading(line: str) -> str:
    return line.strip().lstrip("#").strip().strip("*").strip()


def section_text(plan: str, section: str) -> str:
    """The body of a numbered section ("7.6", "8") or appendix ("App. 3"), without its heading.

    The contents page lists the same headings with a tab and a page number; the body's heading
    has no tab. Body lines such as "8. Percentage of open beds" (a numbered list) can look like a
    heading, so the last heading line that matches is taken.
    """
    lines = plan.splitlines()
    if section.startswith("App. "):
        start_re = re.compile(rf"Appendix {re.escape(section[5:])}:")
    else:
        start_re = re.compile(rf"{re.escape(section)}\.? ")
    starts = [i for i, line in enumerate(lines) if "\t" not in line and start_re.match(_heading(line))]
    assert starts, f"section {section} not found in the plan text"
    start = starts[-1]
    next_re = re.compile(r"(\d+\.\d*\.? |\d+\.\d+ |Appendix \d+:)")
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if "\t" not in lines[i] and next_re.match(_heading(lines[i]))
        ),
        len(lines),
    )
    return "\n".join(lines[start + 1 : end])


def role_table(plan: str) -> Table:
    """Section 8's role / response table; a row broken across a page is joined back up.

    The broken part's OPEL One cell is empty (every real row says "Business as usual" there).
    """
    table = Table(header=["Role / Response", "OPEL One", "OPEL Two", "OPEL Three", "OPEL Four"])
    for line in section_text(plan, "8").splitlines():
        if "\t" not in line:
            continue
        cells = (line.split("\t") + [""] * 5)[:5]
        if normalise(cells[0]) == "role / response":
            continue
        if not cells[1].strip() and table.rows:
            table.rows[-1] = [f"{a} {b}" for a, b in zip(table.rows[-1], cells, strict=True)]
        else:
            table.rows.append(cells)
    return table


def summary_table(plan: str, appendix: str) -> Table:
    """The appendix summary: one action per row, ticked at one level; a row broken across a
    page (no tick) is joined to the row before it."""
    table = Table(header=["Action", "OPEL 1", "OPEL 2", "OPEL 3", "OPEL 4"])
    for line in section_text(plan, appendix).splitlines():
        if "\t" not in line:
            continue
        cells = (line.split("\t") + [""] * 5)[:5]
        if normalise(cells[0]) == "action":
            continue
        if not any(TICK in cell for cell in cells[1:]) and table.rows:
            table.rows[-1][0] = f"{table.rows[-1][0]} {cells[0]}"
        else:
            table.rows.append(cells)
    return table


def ticked(row: list[str]) -> int:
    (level,) = [n for n in (1, 2, 3, 4) if TICK in row[n]]
    return level


@dataclass(frozen=True)
class Shipped:
    name: str
    plan: ActionPlan
    text: str
    appendix: str

    def cell_text(self, cell: PlanCell) -> str:
        """The text at a cited place; fails the test when the place does not exist."""
        if cell.row is None:
            return section_text(self.text, cell.section)
        assert cell.opel is not None
        if cell.section == "8":
            table = role_table(self.text)
        else:
            assert cell.section == self.appendix, f"{cell.section}: this plan's summary is {self.appendix}"
            table = summary_table(self.text, self.appendix)
        assert 1 <= cell.row <= len(table.rows), (
            f"{cell.section} has rows 1-{len(table.rows)}, not {cell.row}"
        )
        row = table.rows[cell.row - 1]
        if cell.section == "8":
            return row[int(cell.opel)]
        assert ticked(row) == cell.opel, (
            f"{cell.section} row {cell.row} is ticked at OPEL {ticked(row)}, not {int(cell.opel)}"
        )
        return row[0]


@cache
def shipped(name: str) -> Shipped:
    file, appendix = SHIPPED[name]
    text = (PLAN_DIR / file).read_text(encoding="utf-8")
    return Shipped(name, load_action_plan(name), text, appendix)


def cited(name: str) -> list[tuple[str, Action, int, PlanCell]]:
    return [
        (name, action, index, cell)
        for action in shipped(name).plan.actions
        for index, cell in enumerate(action.source)
    ]


ALL_CITED = [item for name in SHIPPED for item in cited(name)] if PLAN_DIR.is_dir() else []


def _id(item: tuple[str, Action, int, PlanCell]) -> str:
    name, action, index, cell = item
    return f"{name[-4:]}:{action.id}[{index}]:{cell.section}"


# --- each citation -------------------------------------------------------------------------------


@pytest.mark.parametrize("item", ALL_CITED, ids=[_id(i) for i in ALL_CITED])
def test_the_quote_is_in_the_cited_cell(item: tuple[str, Action, int, PlanCell]) -> None:
    name, action, _, cell = item
    text = normalise(shipped(name).cell_text(cell))
    assert normalise(cell.quote) in text, f"{action.id}: {cell.quote!r} is not in {cell.section} {text!r}"


@pytest.mark.parametrize("item", ALL_CITED, ids=[_id(i) for i in ALL_CITED])
def test_the_action_shares_key_words_with_its_quote(item: tuple[str, Action, int, PlanCell]) -> None:
    _, action, _, cell = item
    quote = key_words(cell.quote)
    shared = key_words(action.text) & quote
    assert len(shared) >= min(2, len(quote)), (
        f"{action.id}: {action.text!r} shares {sorted(shared)} with {cell.quote!r}"
    )


@pytest.mark.parametrize("item", ALL_CITED, ids=[_id(i) for i in ALL_CITED])
def test_a_section_8_cell_is_in_the_actions_own_role_row(item: tuple[str, Action, int, PlanCell]) -> None:
    name, action, _, cell = item
    if cell.section != "8":
        return
    assert cell.row is not None
    label = normalise(role_table(shipped(name).text).rows[cell.row - 1][0])
    assert label == normalise(shipped(name).plan.roles[action.role].name), (
        f"{action.id} cites section 8 row {cell.row}, {label!r}"
    )


@pytest.mark.parametrize("name", list(SHIPPED))
def test_every_figure_in_an_action_is_in_a_cell_it_cites(name: str) -> None:
    data = shipped(name)
    for action in data.plan.actions:
        cells = " ".join(data.cell_text(cell) for cell in action.source)
        missing = figures(action.text) - figures(cells)
        assert not missing, f"{action.id}: {sorted(missing)} is not in its cells"


@pytest.mark.parametrize("name", list(SHIPPED))
def test_each_action_cites_a_table_cell_at_its_own_level(name: str) -> None:
    for action in shipped(name).plan.actions:
        assert any(cell.row is not None and cell.opel == action.level for cell in action.source), action.id


# --- the other way: nothing in the tables is left out -------------------------------------------

_CONTINUE = re.compile(r"continue with level (two|three)( and three)? actions")
_WORD_LEVEL = {"two": Level.OPEL_2, "three": Level.OPEL_3}


def _continued(cell: str) -> tuple[Level, ...] | None:
    found = _CONTINUE.search(normalise(cell))
    if found is None:
        return None
    levels = [_WORD_LEVEL[found.group(1)]] + ([Level.OPEL_3] if found.group(2) else [])
    return tuple(levels)


def _only_continue(cell: str) -> bool:
    rest = _CONTINUE.sub("", normalise(cell)).strip(" .")
    return rest in ("", "business as usual")


@pytest.mark.parametrize("name", list(SHIPPED))
def test_every_role_row_is_a_role_and_every_role_a_row(name: str) -> None:
    data = shipped(name)
    labels = [normalise(row[0]) for row in role_table(data.text).rows]
    assert labels == [normalise(role.name) for role in data.plan.roles.values()]


@pytest.mark.parametrize("name", list(SHIPPED))
def test_every_section_8_cell_with_actions_is_carried(name: str) -> None:
    data = shipped(name)
    table = role_table(data.text)
    carried = {
        (cell.row, cell.opel) for action in data.plan.actions for cell in action.source if cell.section == "8"
    }
    for number, row in enumerate(table.rows, start=1):
        for level in (1, 2, 3, 4):
            text = row[level]
            if not normalise(text) or _only_continue(text):
                continue
            assert (number, level) in carried, f"section 8 row {number} OPEL {level}: {text!r} has no action"


@pytest.mark.parametrize("name", list(SHIPPED))
def test_every_appendix_row_is_carried_at_its_level(name: str) -> None:
    data = shipped(name)
    table = summary_table(data.text, data.appendix)
    carried = {
        cell.row: cell.opel
        for action in data.plan.actions
        for cell in action.source
        if cell.section == data.appendix
    }
    for number, row in enumerate(table.rows, start=1):
        if ticked(row) == 1:
            assert normalise(row[0]) == "business as usual"
            continue
        assert carried.get(number) == ticked(row), f"{data.appendix} row {number} {row[0]!r} has no action"


@pytest.mark.parametrize("name", list(SHIPPED))
def test_continues_is_what_the_cells_say_or_a_note_explains(name: str) -> None:
    data = shipped(name)
    table = role_table(data.text)
    noted = {note.applies_to for note in data.plan.notes}
    for number, role in enumerate(data.plan.roles.values(), start=1):
        row = table.rows[number - 1]
        for level in (Level.OPEL_3, Level.OPEL_4):
            encoded = data.plan.continues[role.id][level]
            said = _continued(row[int(level)])
            where = f"continues.{role.id}.{int(level)}"
            if said is not None:
                assert encoded == said, f"{where}: the cell says {said}, encoded {encoded}"
            elif encoded:
                below = row[int(level) - 1]
                bau = normalise(below) == "business as usual"
                assert not bau, f"{where}: continues a business-as-usual level"
                assert where in noted, f"{where}: the cell does not say so and no note explains it"


def test_the_parser_reads_both_tables_whole() -> None:
    """Guards the reader itself, so a citation check cannot pass against half a table."""
    new, old = shipped("kcc-asch-actions-v1.8"), shipped("kcc-asch-actions-v1.7")
    assert len(role_table(new.text).rows) == len(role_table(old.text).rows) == 8
    assert normalise(role_table(new.text).rows[3][3]).endswith("outside kent and medway.")
    assert normalise(role_table(old.text).rows[3][0]) == "short term pathway team manager"
    assert len(summary_table(new.text, "App. 3").rows) == 27
    assert len(summary_table(old.text, "App. 2").rows) == 30
    assert normalise(summary_table(new.text, "App. 3").rows[15][0]).endswith(
        "if kent enablement at home has insufficient capacity."
    )
