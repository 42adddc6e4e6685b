"""docs/asyncapi.yaml describes exactly the public topics, and every reference in it resolves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from opel.schemas import MODELS, OUTPUTS, TOPIC_SCHEMAS
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


def channel_payloads(spec: dict[str, Any]) -> dict[str, list[str]]:
    """Each channel's address and the payload references of its messages."""
    out: dict[str, list[str]] = {}
    for channel in spec["channels"].values():
        for message_ref in channel["messages"].values():
            message = pointer(spec, message_ref["$ref"].removeprefix("#"))
            out.setdefault(channel["address"], []).extend(refs(message["payload"]))
    return out


def test_every_topic_carries_its_published_schema(spec: dict[str, Any]) -> None:
    payloads = channel_payloads(spec)
    assert set(payloads) == set(INPUT_TOPICS + OUTPUT_TOPICS)
    for address, found in payloads.items():
        assert found == [f"./schemas/{TOPIC_SCHEMAS[address]}"], address
        assert (DOCS / "schemas" / TOPIC_SCHEMAS[address]).is_file()


def test_output_payloads_are_the_generated_contracts_not_inline_schemas(spec: dict[str, Any]) -> None:
    payloads = channel_payloads(spec)
    assert {payloads[topic][0] for topic in OUTPUT_TOPICS} == {f"./schemas/{f}" for f in OUTPUTS}
    # The only schema left inline is the key's; every payload is a generated file.
    assert set(spec["components"]["schemas"]) == {"ScopeKey"}
    for message in spec["components"]["messages"].values():
        assert [ref for ref in refs(message["payload"]) if ref.startswith("#")] == []


def test_the_stage_message_is_documented_as_internal(spec: dict[str, Any]) -> None:
    stage = spec["components"]["messages"]["StageMessage"]
    assert stage["payload"] == {"$ref": "./schemas/stage.schema.json"}
    assert "INTERNAL" in stage["title"]
    carried = sorted(topic for topic, name in TOPIC_SCHEMAS.items() if name == "stage.schema.json")
    assert sorted(stage["x-internal-topics"]) == carried
    assert set(carried) <= set(INTERNAL_TOPICS)


def test_every_committed_schema_is_generated_and_referenced(spec: dict[str, Any]) -> None:
    files = {
        ref.removeprefix("./schemas/")
        for message in spec["components"]["messages"].values()
        for ref in refs(message["payload"])
    }
    assert files == set(MODELS)
    assert {path.name for path in (DOCS / "schemas").glob("*.schema.json")} == set(MODELS)


def test_partitions_and_compaction_match_the_topic_specs(spec: dict[str, Any]) -> None:
    compacted = {t.name for t in all_topics() if t.compacted}
    for channel in spec["channels"].values():
        kafka = channel["bindings"]["kafka"]
        assert kafka["partitions"] == 4
        policy = kafka["topicConfiguration"]["cleanup.policy"]
        assert policy == (["compact"] if channel["address"] in compacted else ["delete"])
