"""docs/topics.md's examples validate against the published schemas, and
scripts/check_contracts.py checks dumped messages the same way from outside the test suite."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from opel.schemas import SCHEMA_DIR, TOPIC_SCHEMAS
from streams.cli import record_line
from streams.topics import INPUT_TOPICS, OUTPUT_TOPICS

ROOT = Path(__file__).resolve().parent.parent
TOPICS_MD = ROOT / "docs" / "topics.md"
SCRIPT = ROOT / "scripts" / "check_contracts.py"
BLOCK = re.compile(r"```json\n(.*?)```", re.DOTALL)
TOPIC_AT_START = re.compile(r"^`(opel\.[a-z.-]+\.v1)`", re.MULTILINE)


def doc_examples() -> list[tuple[str, Any]]:
    """(topic, value) for every JSON block in docs/topics.md, the topic taken from the nearest
    paragraph above it that starts with a topic name."""
    text = TOPICS_MD.read_text(encoding="utf-8")
    out: list[tuple[str, Any]] = []
    for block in BLOCK.finditer(text):
        before = TOPIC_AT_START.findall(text, 0, block.start())
        assert before, f"JSON block at {block.start()} has no topic paragraph above it"
        out.append((before[-1], json.loads(block.group(1))))
    return out


def schema_errors(topic: str, value: Any) -> list[str]:
    schema = json.loads((SCHEMA_DIR / TOPIC_SCHEMAS[topic]).read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)]


def test_topics_md_has_an_example_for_every_public_topic() -> None:
    assert {topic for topic, _ in doc_examples()} == set(INPUT_TOPICS + OUTPUT_TOPICS)


@pytest.mark.parametrize(("topic", "value"), doc_examples(), ids=[t for t, _ in doc_examples()])
def test_every_example_in_topics_md_validates_against_its_schema(topic: str, value: Any) -> None:
    assert schema_errors(topic, value) == []


def test_topics_md_names_every_published_schema() -> None:
    text = TOPICS_MD.read_text(encoding="utf-8")
    for filename in set(TOPIC_SCHEMAS.values()):
        assert f"docs/schemas/{filename}" in text, filename


# --- scripts/check_contracts.py -----------------------------------------------------------------


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_contracts", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_script_maps_topics_to_the_same_schemas_as_opel() -> None:
    script = load_script()
    assert {topic: f"{name}.schema.json" for topic, name in script.TOPIC_SCHEMAS.items()} == TOPIC_SCHEMAS


def tail_line(topic: str, offset: int, value: Any) -> str:
    raw = None if value is None else json.dumps(value).encode()
    return record_line(topic, 0, offset, b"k", raw)


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], input=stdin, capture_output=True, text=True, check=False
    )


def test_the_script_accepts_every_documented_example_as_opel_tail_prints_it(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    lines = [tail_line(topic, n, value) for n, (topic, value) in enumerate(doc_examples())]
    (dump / "all.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (dump / "tombstone.jsonl").write_text(tail_line("opel.status.v1", 99, None) + "\n", encoding="utf-8")
    done = run(str(dump))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 refused" in done.stderr


def test_the_script_reports_each_refusal_with_where_and_why(tmp_path: Path) -> None:
    examples = dict(doc_examples())
    status = {**examples["opel.status.v1"], "band": "amber"}
    audit = {**examples["opel.audit.v1"], "input": "county/kent"}
    dump = tmp_path / "status.jsonl"
    good = tail_line("opel.status.v1", 1, examples["opel.status.v1"])
    bad = [tail_line("opel.status.v1", 2, status), tail_line("opel.audit.v1", 3, audit)]
    dump.write_text("\n".join([good, *bad]) + "\n", encoding="utf-8")
    done = run(str(dump))
    assert done.returncode == 1
    out = done.stdout.splitlines()
    assert len(out) == 2
    assert out[0].startswith(f"{dump}:2 opel.status.v1@0:2 key=k: refused by status.schema.json: ")
    assert "(message): Additional properties are not allowed ('band' was unexpected)" in out[0]
    assert out[1].startswith(f"{dump}:3 opel.audit.v1@0:3 key=k: refused by audit.schema.json: input: ")
    assert "2 refused" in done.stderr


def test_the_script_checks_bare_messages_with_a_named_schema() -> None:
    examples = dict(doc_examples())
    event = examples["opel.escalations.v1"]
    ok = run("--schema", "escalation", "-", stdin=json.dumps(event) + "\n")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # A dead letter has topic, partition, offset, key and value too: still a bare message.
    dead = run("--schema", "deadletter", "-", stdin=json.dumps(examples["opel.deadletter.v1"]) + "\n")
    assert dead.returncode == 0, dead.stdout + dead.stderr
    wrong = run("--schema", "status", "-", stdin=json.dumps(event) + "\n")
    assert wrong.returncode == 1
    assert "<stdin>:1: refused by status.schema.json" in wrong.stdout


def test_the_script_needs_a_schema_for_bare_messages_and_an_existing_path(tmp_path: Path) -> None:
    bare = run("-", stdin='{"scope": "area/dgs"}\n')
    assert bare.returncode == 2
    assert "needs --schema" in bare.stderr
    missing = run(str(tmp_path / "nothing"))
    assert missing.returncode == 2
    assert "no such file" in missing.stderr


def test_the_script_refuses_lines_that_are_not_json(tmp_path: Path) -> None:
    dump = tmp_path / "x.jsonl"
    dump.write_text("not json\n", encoding="utf-8")
    done = run("--schema", "audit", str(dump))
    assert done.returncode == 1
    assert "not JSON" in done.stdout
