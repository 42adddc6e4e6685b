"""The worker's catalogue reload lets no mistake through: each rule, refused and accepted.

Every case writes a changed copy of a shipped catalogue into the watched folder and reloads.
A refusal is audited as ``catalogue_refused`` with the file and the reason, the context in
force stays the very same object, and nothing raises; the other side of each rule loads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from opel.catalogue import version_key
from opel.catalogue_load import load_catalogue
from opel.errors import CatalogueError
from streams import catalogues
from streams.catalogues import CatalogueStore
from streams.settings import Settings

TRIGGERS = Path(__file__).resolve().parent.parent / "triggers"
INDICATORS = "kcc-asch-2025-26"
ACUTE = "nhs-acute-2023-24"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

Data = dict[str, Any]
Edit = Callable[[Data], None]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OPEL_* from the developer's shell and no config/opel.env from the checkout."""
    for name in list(os.environ):
        if name.upper().startswith("OPEL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "catalogues"
    path.mkdir()
    return path


def store_for(folder: Path, **settings: Any) -> CatalogueStore:
    return CatalogueStore(Settings.load(catalogue_dir=folder, **settings), clock=lambda: NOW)


def shipped(name: str) -> Data:
    data: Data = yaml.safe_load((TRIGGERS / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def write(folder: Path, name: str, data: Data) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def changed(name: str, *edits: Edit) -> Data:
    data = shipped(name)
    for edit in edits:
        edit(data)
    return data


# ---------------------------------------------------------------- edits


def version(text: str) -> Edit:
    def edit(data: Data) -> None:
        data["version"] = text

    return edit


def status(text: str) -> Edit:
    def edit(data: Data) -> None:
        data["status"] = text

    return edit


def dwell(text: str) -> Edit:
    def edit(data: Data) -> None:
        data["escalation"]["step_down_dwell"] = text

    return edit


def drop_area(area: str) -> Edit:
    def edit(data: Data) -> None:
        del data["areas"][area]
        for indicator in data["indicators"].values():
            for entries in (indicator.get("bands"), indicator.get("categories")):
                if entries is not None:
                    entries.pop(area, None)

    return edit


def add_area(area: str) -> Edit:
    def edit(data: Data) -> None:
        data["areas"][area] = {"name": area.title()}
        for indicator in data["indicators"].values():
            entries = indicator.get("bands") or indicator.get("categories")
            if "all" not in entries and "otherwise" not in entries:
                entries[area] = entries["west_kent"]

    return edit


def drop_indicator(indicator: str) -> Edit:
    def edit(data: Data) -> None:
        del data["indicators"][indicator]

    return edit


def drop_site(site: str) -> Edit:
    def edit(data: Data) -> None:
        del data["sites"][site]
        for system in data.get("systems", {}).values():
            system["sites"].pop(site, None)

    return edit


def add_site(site: str) -> Edit:
    def edit(data: Data) -> None:
        data["sites"][site] = {"name": site.title(), "delivery_board": "west_kent"}

    return edit


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    id: str
    catalogue: str
    edits: tuple[Edit, ...]
    refused: str | None  # a word of the reason, or None when the file loads
    settings: dict[str, Any] = field(default_factory=dict)
    confirm: tuple[str, ...] = ()


CASES = [
    # (a) drafts
    Case("draft", INDICATORS, (version("1.9"), status("draft")), "status is draft"),
    Case(
        "draft-allowed", INDICATORS, (version("1.9"), status("draft")), None, {"allow_draft_catalogues": True}
    ),
    Case("approved", INDICATORS, (version("1.9"),), None),
    Case("superseded", INDICATORS, (version("1.9"), status("superseded")), "superseded"),
    Case("acute-draft", ACUTE, (version("2024.25"), status("draft")), "status is draft"),
    # (b) one id and version, one content
    Case("same-version-new-content", INDICATORS, (dwell("PT12H"),), "same id and version"),
    Case("equal-version-new-content", INDICATORS, (version("1.8.0"), dwell("PT12H")), "same id and version"),
    Case("new-version-new-content", INDICATORS, (version("1.8.1"), dwell("PT12H")), None),
    Case(
        "acute-same-version-new-content",
        ACUTE,
        (drop_site("qeqm"),),
        "same id and version",
        confirm=("site:qeqm",),
    ),
    # (c) no going back
    Case("lower-version", INDICATORS, (version("1.7"),), "lower than version 1.8"),
    Case("lower-version-numerically", INDICATORS, (version("1.7.99"),), "lower than version 1.8"),
    Case("higher-version-numerically", INDICATORS, (version("1.10"),), None),
    Case("acute-lower-version", ACUTE, (version("2022.23"),), "lower than version 2023.24"),
    Case("acute-higher-version", ACUTE, (version("2024.25"),), None),
    # (d) nothing still receiving readings disappears without an operator
    Case("drop-area", INDICATORS, (version("1.9"), drop_area("swale")), "drops area:swale"),
    Case(
        "drop-area-confirmed-by-setting",
        INDICATORS,
        (version("1.9"), drop_area("swale")),
        None,
        {"confirm_catalogue_removals": "area:swale"},
    ),
    Case(
        "drop-area-confirmed-by-call",
        INDICATORS,
        (version("1.9"), drop_area("swale")),
        None,
        confirm=("area:swale",),
    ),
    Case(
        "drop-area-other-confirmed",
        INDICATORS,
        (version("1.9"), drop_area("swale")),
        "drops area:swale",
        {"confirm_catalogue_removals": "area:dgs,indicator:swale"},
    ),
    Case("add-area", INDICATORS, (version("1.9"), add_area("medway")), None),
    Case(
        "drop-indicator",
        INDICATORS,
        (version("1.9"), drop_indicator("referrals")),
        "drops indicator:referrals",
    ),
    Case(
        "drop-indicator-confirmed",
        INDICATORS,
        (version("1.9"), drop_indicator("referrals")),
        None,
        {"confirm_catalogue_removals": "indicator:referrals"},
    ),
    Case(
        "drop-two-one-confirmed",
        INDICATORS,
        (version("1.9"), drop_indicator("referrals"), drop_area("swale")),
        "drops indicator:referrals",
        {"confirm_catalogue_removals": "area:swale"},
    ),
    Case("acute-drop-site", ACUTE, (version("2024.25"), drop_site("qeqm")), "drops site:qeqm"),
    Case(
        "acute-drop-site-confirmed",
        ACUTE,
        (version("2024.25"), drop_site("qeqm")),
        None,
        confirm=("site:qeqm",),
    ),
    Case("acute-add-site", ACUTE, (version("2024.25"), add_site("maidstone_general")), None),
]


def in_force(store: CatalogueStore, catalogue: str) -> dict[str, Any]:
    kind = "indicators" if catalogue == INDICATORS else "acute"
    (summary,) = [row for row in store.versions() if row["kind"] == kind]
    return summary


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_each_reload_rule_both_ways(case: Case, folder: Path) -> None:
    store = store_for(folder, **case.settings)
    before = store.context
    kept = in_force(store, case.catalogue)
    path = write(folder, "candidate.yaml", changed(case.catalogue, *case.edits))
    candidate = load_catalogue(str(path)).meta

    (record,) = store.reload(author="ops", confirm_removals=case.confirm)

    assert record.author == "ops"
    assert record.input == {"file": str(path), "content_hash": candidate.content_hash}
    assert (record.catalogue, record.catalogue_version) == (candidate.id, candidate.version)
    assert record.reason is not None
    if case.refused is not None:
        assert record.decision == "catalogue_refused"
        assert case.refused in record.reason, record.reason
        assert str(path) in record.reason
        assert store.context is before, "the catalogue in force is kept"
        assert in_force(store, case.catalogue) == kept
        assert record.outcome == {
            "kept": {"id": kept["id"], "version": kept["version"], "content_hash": kept["content_hash"]}
        }
    else:
        assert record.decision == "catalogue_loaded", record.reason
        now = in_force(store, case.catalogue)
        assert (now["version"], now["content_hash"]) == (candidate.version, candidate.content_hash)
        assert now["source"] == str(path)
        assert record.outcome is not None
        assert record.outcome["replaced"]["content_hash"] == kept["content_hash"]
        assert record.outcome["in_force"]["content_hash"] == candidate.content_hash


def test_the_same_content_in_another_file_changes_nothing(folder: Path) -> None:
    store = store_for(folder)
    before = store.context
    text = (TRIGGERS / f"{INDICATORS}.yaml").read_text(encoding="utf-8")
    (folder / "copy.yaml").write_text("# a copy with its own comment\n" + text, encoding="utf-8")
    write(folder, "round-trip.yaml", shipped(INDICATORS))  # no comments, other layout
    assert store.reload() == []
    assert store.reload(force=True) == []
    assert store.context is before


def test_a_refused_change_stays_refused_and_its_fix_loads(folder: Path) -> None:
    store = store_for(folder)
    write(folder, "a.yaml", changed(INDICATORS, dwell("PT12H")))
    (first,) = store.reload()
    assert first.decision == "catalogue_refused"
    assert store.reload() == [], "an unchanged file is not looked at again"
    (again,) = store.reload(force=True, author="ops")  # a reload_catalogues command
    assert (again.decision, again.author) == ("catalogue_refused", "ops")
    (folder / "a.yaml").unlink()
    write(folder, "b.yaml", changed(INDICATORS, version("1.9"), dwell("PT12H")))
    (loaded,) = store.reload()
    assert loaded.decision == "catalogue_loaded"
    assert store.context.catalogue.step_down_dwell.total_seconds() == 12 * 3600
    assert store.context.policy.step_down_dwell.total_seconds() == 12 * 3600


def test_versions_compare_as_dotted_numbers_step_by_step(folder: Path) -> None:
    store = store_for(folder)
    for number, expected in [
        ("1.9", "catalogue_loaded"),
        ("1.10", "catalogue_loaded"),  # as text "1.10" < "1.9"; as numbers it is higher
        ("1.9.5", "catalogue_refused"),
        ("1.10.0", "catalogue_refused"),  # the same version as 1.10, other content
        ("2", "catalogue_loaded"),
    ]:
        write(folder, f"v{number}.yaml", changed(INDICATORS, version(number), dwell(f"PT{len(number)}H")))
        (record,) = store.reload()  # only the new file: the older ones were seen already
        assert record.decision == expected, (number, record.reason)
    assert store.context.catalogue.meta.version == "2"


@pytest.mark.parametrize(
    ("a", "b", "relation"),
    [
        ("1.8", "1.9", "<"),
        ("1.9", "1.10", "<"),
        ("1.8", "1.8.0", "=="),
        ("1.8.1", "1.8", ">"),
        ("2023.24", "2024.26", "<"),
        ("2", "1.99", ">"),
        ("1.0", "1", "=="),
    ],
)
def test_version_key(a: str, b: str, relation: str) -> None:
    key_a, key_b = version_key(a), version_key(b)
    assert {"<": key_a < key_b, "==": key_a == key_b, ">": key_a > key_b}[relation]


@pytest.mark.parametrize("text", ["1.9-bad", "v1.9", "1..9", "", "1.8 ", "١.٨"])
def test_version_key_refuses_what_is_not_dotted_numbers(text: str) -> None:
    with pytest.raises(ValueError, match="dotted whole numbers"):
        version_key(text)


def test_a_version_that_is_not_dotted_numbers_is_refused_at_load(folder: Path) -> None:
    store = store_for(folder)
    path = write(folder, "bad.yaml", changed(INDICATORS, version("1.9-bad")))
    (record,) = store.reload()
    assert record.decision == "catalogue_refused"
    assert record.reason is not None
    assert record.reason.startswith(f"{path}: version:")
    assert record.input == {"file": str(path)}


def test_versions_name_each_catalogue_by_id_version_and_content(folder: Path) -> None:
    store = store_for(folder)
    indicators, acute = store.versions()
    for row, name in ((indicators, INDICATORS), (acute, ACUTE)):
        meta = load_catalogue(name).meta
        assert row["id"] == meta.id
        assert row["version"] == meta.version
        assert row["content_hash"] == meta.content_hash
        assert row["content_hash"].startswith("sha256:")
        assert len(row["content_hash"]) == len("sha256:") + 64
        assert row["status"] == "approved"


# ---------------------------------------------------------------- never crash


def test_an_unexpected_failure_is_audited_not_raised(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = store_for(folder)
    before = store.context
    path = write(folder, "odd.yaml", changed(INDICATORS, version("1.9")))

    def explode(name: str) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(catalogues, "load_catalogue", explode)
    (record,) = store.reload()
    assert record.decision == "catalogue_refused"
    assert record.reason is not None
    assert str(path) in record.reason
    assert "disk on fire" in record.reason
    assert store.context is before


def test_a_file_that_vanishes_while_looked_at_is_skipped(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_for(folder)
    gone = folder / "gone.yaml"
    real_glob = Path.glob

    def glob_with_ghost(self: Path, pattern: str) -> Iterator[Path]:
        yield gone  # listed, then removed before it could be read
        yield from real_glob(self, pattern)

    monkeypatch.setattr(Path, "glob", glob_with_ghost)
    write(folder, "v1.9.yaml", changed(INDICATORS, version("1.9")))
    (record,) = store.reload()
    assert record.decision == "catalogue_loaded"


def test_a_refused_file_beside_a_good_one(folder: Path) -> None:
    store = store_for(folder)
    (folder / "broken.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    write(folder, "draft.yaml", changed(INDICATORS, version("1.9"), status("draft")))
    write(folder, "good.yaml", changed(INDICATORS, version("1.8.1")))
    records = store.reload()
    decisions = sorted((Path(r.input["file"]).name, r.decision) for r in records if r.input)
    assert decisions == [
        ("broken.yaml", "catalogue_refused"),
        ("draft.yaml", "catalogue_refused"),
        ("good.yaml", "catalogue_loaded"),
    ]
    assert store.context.catalogue.meta.version == "1.8.1"


# ---------------------------------------------------------------- start-up


def test_a_draft_named_at_start_up_needs_drafts_allowed(tmp_path: Path) -> None:
    draft = write(tmp_path, "draft.yaml", changed(INDICATORS, status("draft")))
    with pytest.raises(CatalogueError, match="status is draft"):
        CatalogueStore(Settings.load(indicator_catalogue=str(draft)))
    store = CatalogueStore(Settings.load(indicator_catalogue=str(draft), allow_draft_catalogues=True))
    assert store.context.catalogue.meta.status == "draft"


def test_a_superseded_catalogue_named_at_start_up_still_runs() -> None:
    store = CatalogueStore(Settings.load(indicator_catalogue="kcc-asch-2024-25"))
    assert store.context.catalogue.meta.status == "superseded"


def test_what_the_first_look_decided_is_handed_to_the_next_reload(folder: Path) -> None:
    write(folder, "older.yaml", changed(INDICATORS, version("1.7")))
    store = store_for(folder)
    assert store.context.catalogue.meta.version == "1.8"
    (record,) = store.reload()
    assert record.decision == "catalogue_refused"
    assert record.reason is not None
    assert "lower than version 1.8" in record.reason
    assert store.reload() == []


def test_the_reason_for_a_drop_says_how_to_confirm_it(folder: Path) -> None:
    store = store_for(folder)
    write(
        folder,
        "v1.9.yaml",
        changed(INDICATORS, version("1.9"), drop_area("swale"), drop_indicator("referrals")),
    )
    (record,) = store.reload()
    assert record.reason is not None
    assert "OPEL_CONFIRM_CATALOGUE_REMOVALS=area:swale,indicator:referrals" in record.reason
    assert record.reason.count("still receiving readings") == 1
