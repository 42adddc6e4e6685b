"""Catalogues are found by name from an installed wheel, not only from the source tree.

Builds the wheel with the venv's hatchling (no build isolation, no network), unzips it and
imports opel and triggers from there alone.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
CATALOGUES = ("kcc-asch-2024-25", "kcc-asch-2025-26", "nhs-acute-2023-24", "nhs-opel-2024-26-levels")
ACTION_PLAN = "kcc-asch-actions-v1.8"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip(
            "hatchling is not installed in this environment, so the wheel cannot be built without "
            "build isolation; add hatchling to the dev extras (pip install hatchling)"
        )
    out = tmp_path_factory.mktemp("wheelhouse")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [built] = out.glob("opel-*.whl")
    return built


@pytest.fixture(scope="module")
def unpacked(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def test_the_wheel_carries_the_catalogues(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for name in CATALOGUES:
        assert f"triggers/{name}.yaml" in names
    assert "triggers/__init__.py" in names
    assert "opel/catalogue_load.py" in names
    if (REPO / "triggers" / "actions" / f"{ACTION_PLAN}.yaml").is_file():
        assert f"triggers/actions/{ACTION_PLAN}.yaml" in names
    assert not any(name.startswith("tests/") for name in names)


CHECK = """
import contextlib, io, sys
from pathlib import Path

root = Path(sys.argv[1]).resolve()
plan_name = sys.argv[2]
expected_names = sys.argv[3:]
sys.path.insert(0, str(root))

import opel.catalogue_load
import opel.cli
import opel.sources
import triggers

for module in (opel.catalogue_load, opel.sources, opel.cli, triggers):
    where = Path(module.__file__).resolve()
    assert where.is_relative_to(root), f"{module.__name__} came from {where}, not {root}"

from opel.catalogue_load import load_catalogue

names = opel.sources.shipped_names()
assert names == expected_names, names
for name in names:
    catalogue = load_catalogue(name)
    assert catalogue.meta.id == name, catalogue.meta
    assert catalogue.meta.source == f"triggers/{name}.yaml", catalogue.meta.source

acute = load_catalogue("nhs-acute-2023-24")
assert acute.normalised_map is not None
assert acute.normalised_map.meta.id == "nhs-opel-2024-26-levels"

if (root / "triggers" / "actions" / f"{plan_name}.yaml").is_file():
    import opel.actions_load
    assert Path(opel.actions_load.__file__).resolve().is_relative_to(root)
    plan = opel.actions_load.load_action_plan(plan_name)
    assert plan.id == plan_name, plan.id
    print("action plan loaded")

out = io.StringIO()
with contextlib.redirect_stdout(out):
    status = opel.cli.main(["catalogue", "show", "kcc-asch-2025-26"])
assert status == 0, status
text = out.getvalue()
assert "file: triggers/kcc-asch-2025-26.yaml" in text, text
assert "40-49 (39, 49]" in text, text
print("ok")
"""


def test_catalogues_load_by_name_from_the_unpacked_wheel(unpacked: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(unpacked), ACTION_PLAN, *CATALOGUES],
        capture_output=True,
        text=True,
        cwd=unpacked,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "ok"
    if (unpacked / "triggers" / "actions" / f"{ACTION_PLAN}.yaml").is_file():
        assert "action plan loaded" in lines
