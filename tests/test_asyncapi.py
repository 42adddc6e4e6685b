"""docs/asyncapi.yaml describes exactly the public topics, and every reference in it resolves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.topics import INPUT_TOPICS, INTERNAL_TOPICS, OUTPUT_TOPICS, all_topics

DOCS = Path(__file__).resolve().parent.parent / "docs"
ASYNCAPI = DOCS / "asyncapi.yaml"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def pointer(document: Any, fragment: str) -> Any:
    node = document
    for escaped in fragment.removeprefix("/").split("/"):
        part = escaped.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"#{fragment}: {part!r} is inside a non-object"
        assert part in node, f"#{fragment}: no {part!r}"
        node = node[part]
    return node


def test_it_is_asyncapi_3(spec: dict[str, Any]) -> None:
    assert spec["asyncapi"] == "3.0.0"
    assert spec["info"]["title"]
    assert spec["info"]["version"]


def test_channels_are_exactly_the_inbound_and_outbound_topics(spec: dict[str, Any]) -> None:
    addresses = [channel["address"] for channel in spec["channels"].values()]
    assert sorted(addresses) == sorted(INPUT_TOPICS + OUTPUT_TOPICS)
    assert not set(addresses) & set(INTERNAL_TOPICS)


def test_the_service_receives_inbound_and_sends_outbound(spec: dict[str, Any]) -> None:
    actions: dict[str, str] = {}
    for operation in spec["operations"].values():
        channel = pointer(spec, operation["channel"]["$ref"].removeprefix("#"))
        actions[channel["address"]] = operation["action"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(operation["channel"]["$ref"] + "/messages/")
    assert actions == {**dict.fromkeys(INPUT_TOPICS, "receive"), **dict.fromkeys(OUTPUT_TOPICS, "send")}


def test_every_reference_resolves(spec: dict[str, Any]) -> None:
    seen = list(refs(spec))
    assert seen
    for ref in seen:
        target, _, fragment = ref.partition("#")
        if target:
            path = (ASYNCAPI.parent / target).resolve()
            assert path.is_file(), f"{ref}: no file {path}"
            document = json.loads(path.read_text(encoding="utf-8"))
            if fragment:
                pointer(document, fragment)
        else:
            pointer(spec, fragment)


def test_inbound_payloads_are_the_committed_schemas(spec: dict[str, Any]) -> None:
    files = {
        ref
        for message in spec["components"]["messages"].values()
        for ref in refs(message["payload"])
        if not ref.startswith("#")
    }
    assert files == {
        "./schemas/reading.schema.json",
        "./schemas/referral-event.schema.json",
        "./schemas/acute-submission.schema.json",
        "./schemas/command.schema.json",
    }
    assert {path.name for path in (DOCS / "schemas").glob("*.schema.json")} == {Path(f).name for f in files}


def test_partitions_and_compaction_match_the_topic_specs(spec: dict[str, Any]) -> None:
    compacted = {t.name for t in all_topics() if t.compacted}
    for channel in spec["channels"].values():
        kafka = channel["bindings"]["kafka"]
        assert kafka["partitions"] == 4
        policy = kafka["topicConfiguration"]["cleanup.policy"]
        assert policy == (["compact"] if channel["address"] in compacted else ["delete"])
