"""Where catalogue files come from: a name shipped in the ``triggers`` package, or a path.

Files are read through importlib.resources so a name resolves the same way from a source
checkout, an editable install or an installed wheel.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from opel.errors import CatalogueError

SUFFIX = ".yaml"


@dataclass(frozen=True, slots=True)
class Source:
    """The text of one catalogue file and the name to use for it in errors."""

    display: str
    text: str


def _shipped(subdir: str) -> Any:
    root = resources.files("triggers")
    return root / subdir if subdir else root


def shipped_names(subdir: str = "") -> list[str]:
    """Names of the catalogue files shipped in ``triggers/<subdir>``, sorted."""
    folder = _shipped(subdir)
    if not folder.is_dir():
        return []
    return sorted(
        entry.name[: -len(SUFFIX)]
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith(SUFFIX)
    )


def locate(name_or_path: str, subdir: str = "") -> Source:
    """Read a catalogue by shipped name (``kcc-asch-2025-26``) or by file path."""
    looks_like_path = name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path
    if looks_like_path:
        path = Path(name_or_path)
        try:
            return Source(str(path), path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CatalogueError(str(path), "", f"cannot read file: {exc.strerror or exc}") from exc
    entry = _shipped(subdir) / f"{name_or_path}{SUFFIX}"
    if not entry.is_file():
        known = ", ".join(shipped_names(subdir)) or "none"
        raise CatalogueError(name_or_path, "", f"no shipped catalogue of that name (known: {known})")
    return Source(
        f"triggers/{subdir + '/' if subdir else ''}{name_or_path}{SUFFIX}", entry.read_text("utf-8")
    )
