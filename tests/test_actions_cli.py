"""`opel actions` and the catalogue's reference to its action plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from opel.catalogue_load import load_catalogue
from opel.cli import main
from opel.errors import CatalogueError

REPO = Path(__file__).resolve().parent.parent


def test_actions_change_lists_start_keep_and_stand_down(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["actions", "--from", "3", "--to", "2", "--role", "senior_practitioner"]) == 0
    out = capsys.readouterr().out
    assert "OPEL 3 red -> OPEL 2 amber" in out
    assert "STAND DOWN" in out
    assert "senior_practitioner.l3.alert_inhouse" in out
    assert "carry on" in out
    assert "senior_practitioner.l2.los_meetings" in out
    assert "START" not in out


def test_actions_by_colour_and_level(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["actions", "--level", "black", "--role", "director_asc"]) == 0
    out = capsys.readouterr().out
    assert "OPEL 4 black" in out
    assert "director_asc.l3.joint_funding" in out  # continued at 4 (see the plan's notes)


def test_actions_at_level_1_is_business_as_usual(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["actions", "--level", "1"]) == 0
    assert capsys.readouterr().out.count("business as usual") >= 9


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["actions", "--role", "nobody"], "unknown role 'nobody'"),
        (["actions", "--from", "2"], "--from needs --to"),
    ],
)
def test_actions_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_catalogue_naming_a_missing_action_plan_is_refused(tmp_path: Path) -> None:
    text = (REPO / "triggers" / "kcc-asch-2025-26.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "kcc.yaml"
    text = text.replace("action_plan: kcc-asch-actions-v1.8", "action_plan: no-such-plan")
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(str(broken))
    assert info.value.path == "action_plan"
    assert "no-such-plan" in info.value.problem


@pytest.mark.parametrize(
    "argv",
    [
        ["actions", "--level", "3", "--from", "2", "--to", "3"],
        ["actions", "--to", "3", "--level", "4"],
        ["actions", "--from", "2", "--level", "4"],
    ],
)
def test_level_beside_from_or_to_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (
        "opel actions: --level goes alone: --level N shows what is in force at a level, "
        "--from A --to B what a change starts and stands down"
    )
