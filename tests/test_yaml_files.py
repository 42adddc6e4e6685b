"""One YAML parser for the files people edit: opel.yaml_files."""

from __future__ import annotations

from pathlib import Path

import pytest

from opel.alerting.routing import RoutingError
from opel.errors import CatalogueError
from opel.yaml_files import parse_yaml_mapping, read_yaml_file


def test_a_mapping_is_returned_as_plain_data() -> None:
    assert parse_yaml_mapping("a: 1\nb: [x, y]\n", "f.yaml") == {"a": 1, "b": ["x", "y"]}


def test_bad_yaml_names_the_file_line_and_column() -> None:
    with pytest.raises(CatalogueError) as caught:
        parse_yaml_mapping("a: 1\nb: [x, y\n", "f.yaml")
    assert caught.value.source == "f.yaml"
    assert caught.value.path.startswith("line 3, column")
    assert caught.value.problem.startswith("invalid YAML: ")


@pytest.mark.parametrize(
    ("text", "kind"), [("- a\n", "list"), ("words\n", "str"), ("# nothing\n", "NoneType")]
)
def test_the_top_level_must_be_a_mapping(text: str, kind: str) -> None:
    with pytest.raises(CatalogueError, match=f"top level must be a mapping, got {kind}"):
        parse_yaml_mapping(text, "f.yaml")


def test_python_objects_are_refused() -> None:
    with pytest.raises(CatalogueError, match="invalid YAML"):
        parse_yaml_mapping("a: !!python/object/apply:os.getcwd []\n", "f.yaml")


def test_the_caller_chooses_the_error_class(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    with pytest.raises(RoutingError) as caught:
        read_yaml_file(missing, error=RoutingError)
    assert caught.value.source == str(missing)
    assert "cannot read file" in caught.value.problem
    good = tmp_path / "good.yaml"
    good.write_text("k: v\n", encoding="utf-8")
    assert read_yaml_file(good) == {"k": "v"}
