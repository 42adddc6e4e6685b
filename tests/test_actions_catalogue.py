"""The actions shown and sent follow the catalogue in force (issue 13, point 5).

Each KCC catalogue names the action plan of its own plan version; the worker's catalogue store
(streams.catalogues) builds the stages' context with that plan, so an escalation event carries
that plan's actions. A catalogue that names no action plan is refused at start-up and on reload,
never run with another plan's actions as a fallback.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_first_hour import _opel

from opel.catalogue import IndicatorCatalogue
from opel.catalogue_load import load_catalogue
from opel.errors import CatalogueError
from opel.scopes import Scope
from opel.stages.outputs import escalation_event
from streams.catalogues import CatalogueStore
from streams.settings import Settings

TRIGGERS = Path(__file__).resolve().parent.parent / "triggers"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OPEL_* from the developer's shell and no config/opel.env from the checkout."""
    for name in list(os.environ):
        if name.upper().startswith("OPEL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def shipped(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((TRIGGERS / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def event_actions(store: CatalogueStore, to_level: int) -> dict[str, list[str]]:
    event = escalation_event(
        store.context,
        Scope("county", "kent"),
        event_id="e1",
        from_level=1,
        to_level=to_level,
        at=NOW,
        direction="escalation",
        cause="observation",
        evidence={},
    )
    return {entry.role: [a.id for a in entry.start] for entry in event.data.actions}


@pytest.mark.parametrize(
    ("catalogue", "plan"),
    [("kcc-asch-2025-26", "kcc-asch-actions-v1.8"), ("kcc-asch-2024-25", "kcc-asch-actions-v1.7")],
)
def test_each_kcc_catalogue_names_its_own_plan_versions_actions(catalogue: str, plan: str) -> None:
    loaded = load_catalogue(catalogue)
    assert isinstance(loaded, IndicatorCatalogue)
    assert loaded.action_plan == plan
    store = CatalogueStore(Settings.load(indicator_catalogue=catalogue))
    assert store.action_plan.id == plan
    assert store.context.actions is store.action_plan
    assert store.action_plan.plan is not None
    assert store.action_plan.plan.version == loaded.meta.version


def test_escalation_events_carry_the_actions_of_the_catalogue_in_force() -> None:
    new = event_actions(CatalogueStore(Settings.load(indicator_catalogue="kcc-asch-2025-26")), 2)
    old = event_actions(CatalogueStore(Settings.load(indicator_catalogue="kcc-asch-2024-25")), 2)
    assert "pascc_ops_manager" in new
    assert "stp_operational_manager" not in new
    assert "stp_operational_manager" in old
    assert "pascc_ops_manager" not in old
    assert "senior_practitioner.l2.placements_other_areas" in old["senior_practitioner"]
    assert "senior_practitioner.l2.placements_other_areas" not in new["senior_practitioner"]


def test_a_catalogue_without_an_action_plan_is_a_start_up_error(tmp_path: Path) -> None:
    data = shipped("kcc-asch-2025-26")
    data["action_plan"] = None
    path = write(tmp_path / "no-plan.yaml", data)
    with pytest.raises(CatalogueError) as info:
        CatalogueStore(Settings.load(indicator_catalogue=str(path)))
    assert info.value.path == "action_plan"
    assert "names no action plan" in info.value.problem


def test_a_catalogue_naming_a_missing_action_plan_is_a_start_up_error(tmp_path: Path) -> None:
    data = shipped("kcc-asch-2025-26")
    data["action_plan"] = "kcc-asch-actions-v9.9"
    path = write(tmp_path / "missing-plan.yaml", data)
    with pytest.raises(CatalogueError) as info:
        CatalogueStore(Settings.load(indicator_catalogue=str(path)))
    assert info.value.path == "action_plan"
    assert "kcc-asch-actions-v9.9" in info.value.problem


def test_a_new_version_without_an_action_plan_is_refused_and_the_plan_in_force_stays(tmp_path: Path) -> None:
    folder = tmp_path / "catalogues"
    folder.mkdir()
    store = CatalogueStore(Settings.load(catalogue_dir=folder), clock=lambda: NOW)
    data = shipped("kcc-asch-2025-26")
    data["version"] = "1.9"
    data["action_plan"] = None
    write(folder / "next.yaml", data)
    (record,) = store.reload()
    assert record.decision == "catalogue_refused"
    assert record.reason is not None
    assert "names no action plan" in record.reason
    assert store.context.catalogue.meta.version == "1.8"
    assert store.action_plan.id == "kcc-asch-actions-v1.8"


def test_the_action_plan_follows_a_reloaded_catalogue(tmp_path: Path) -> None:
    folder = tmp_path / "catalogues"
    folder.mkdir()
    store = CatalogueStore(Settings.load(catalogue_dir=folder), clock=lambda: NOW)
    assert store.action_plan.id == "kcc-asch-actions-v1.8"
    data = shipped("kcc-asch-2025-26")
    data["version"] = "1.9"
    data["action_plan"] = "kcc-asch-actions-v1.7"  # any other plan shows the switch
    write(folder / "next.yaml", data)
    (record,) = store.reload()
    assert record.decision == "catalogue_loaded"
    assert store.action_plan.id == "kcc-asch-actions-v1.7"
    assert "stp_operational_manager" in event_actions(store, 2)


def test_opel_run_on_a_catalogue_without_an_action_plan_stops_with_one_line(tmp_path: Path) -> None:
    """Before any broker starts: nothing to clean up, and the line says what to write."""
    data = shipped("kcc-asch-2025-26")
    data["action_plan"] = None
    path = write(tmp_path / "no-plan.yaml", data)
    done = _opel(
        "run",
        cwd=tmp_path,
        env={
            "OPEL_INDICATOR_CATALOGUE": str(path),
            "OPEL_DATA_DIR": str(tmp_path / "data"),
            "OPEL_WEB_PORT": "0",
        },
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"opel run: {path}: action_plan: names no action plan: the roles' actions come from the action "
        "plan of the catalogue in force, so an indicator catalogue must name one "
        "(action_plan: kcc-asch-actions-v1.8)"
    )
    assert "opel is running" not in done.stdout
