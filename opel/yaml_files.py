"""Reading the YAML files people edit: trigger catalogues, action plans and routing files.

One parser for all of them, so each refuses the same things with the same words: text that is
not YAML (naming the line and column) and a top level that is not a mapping. Only plain data is
built (``yaml.safe_load``): a file cannot make the service construct Python objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from opel.errors import CatalogueError


def parse_yaml_mapping(
    text: str, display: str, *, error: type[CatalogueError] = CatalogueError
) -> dict[str, Any]:
    """Parse ``text`` into a mapping; any problem raises ``error`` naming ``display`` and the line."""
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise error(display, where, f"invalid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise error(display, "", f"invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise error(display, "", f"top level must be a mapping, got {type(data).__name__}")
    return data


def read_yaml_file(path: str | Path, *, error: type[CatalogueError] = CatalogueError) -> dict[str, Any]:
    """Read and parse a YAML file whose top level is a mapping; problems raise ``error``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(str(file), "", f"cannot read file: {exc.strerror or exc}") from exc
    return parse_yaml_mapping(text, str(file), error=error)
