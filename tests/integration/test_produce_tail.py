"""`opel produce`, `opel tail` and `opel demo` against a real broker, through the real CLI.

The session broker is shared with other integration tests, so every record written here is
marked (unique ids, or times in 2020 that no other test uses) and reads filter on the mark.
The demo's whole day goes to a broker of its own, not the shared one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from opel.cli import main
from streams import topics
from streams.broker import EmbeddedBroker
from streams.cli import BrokerNotFoundError, resolve_broker, resolve_topic
from streams.demo import winter_day
from streams.settings import Settings
from streams.topics import all_topics

from .conftest import PARTITIONS, BrokerFactory

READ_IDLE = "5"  # seconds without a record before tail stops; generous for a loaded machine


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OPEL_* from the shell, no config/opel.env, and a data dir of the test's own."""
    for name in list(os.environ):
        if name.upper().startswith("OPEL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPEL_DATA_DIR", str(tmp_path / "data"))


def mark() -> str:
    return uuid.uuid4().hex[:12]


def when(minute: int = 0) -> str:
    return datetime(2020, 1, 6, 9, minute, tzinfo=UTC).isoformat()


def write_lines(path: Path, values: list[Any]) -> Path:
    path.write_text(
        "\n".join(v if isinstance(v, str) else json.dumps(v) for v in values) + "\n", encoding="utf-8"
    )
    return path


def tail_records(
    capsys: pytest.CaptureFixture[str], broker: EmbeddedBroker, topic: str, *extra: str
) -> list[dict[str, Any]]:
    capsys.readouterr()
    status = main(
        ["tail", topic, "--from-beginning", "--timeout", READ_IDLE, "--broker", broker.bootstrap, *extra]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    return [json.loads(line) for line in out.splitlines()]


def test_produce_routes_by_shape_and_tail_reads_it_back(
    broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = mark()
    lines = [
        {"indicator": "stp_staffing_pct", "area": "east_kent", "value": 64, "observed_at": when(1)},
        {"indicator": "health_caseload", "area": "swale", "value": 41, "observed_at": when(2)},
        {"site": "maidstone", "observed_at": when(3), "parameters": {"ed_4h_performance_pct": 70}},
        {"event_id": f"t-{tag}", "area": "dgs", "kind": "received", "occurred_at": when(4)},
        {"type": "ack", "alert_id": f"alert-{tag}", "author": "duty-manager", "at": when(5)},
    ]
    status = main(["produce", str(write_lines(tmp_path / "in.jsonl", lines)), "--broker", broker.bootstrap])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    for topic in (topics.CAPACITY, topics.REFERRALS, topics.ACUTE, topics.REFERRAL_EVENTS, topics.COMMANDS):
        assert f"sent 1 to {topic}" in captured.out
    assert "5 sent, 0 invalid" in captured.out

    expected = [
        (topics.CAPACITY, "east_kent", lines[0]),
        (topics.REFERRALS, "swale", lines[1]),
        (topics.ACUTE, "maidstone", lines[2]),
        (topics.REFERRAL_EVENTS, "dgs", lines[3]),
        (topics.COMMANDS, f"alert-{tag}", lines[4]),
    ]
    for topic, key, value in expected:
        found = [r for r in tail_records(capsys, broker, topic) if r["value"] == value]
        assert len(found) == 1, f"{value} not read back from {topic}"
        record = found[0]
        assert (record["topic"], record["key"]) == (topic, key)
        assert 0 <= record["partition"] < PARTITIONS
        assert isinstance(record["offset"], int)
        assert set(record) == {"topic", "partition", "offset", "key", "value"}


def test_invalid_lines_are_reported_and_not_sent(
    broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = mark()
    good = {"event_id": f"ok-{tag}", "area": "west_kent", "kind": "received", "occurred_at": when()}
    bad_value = {
        "event_id": f"bad-{tag}",
        "area": "west_kent",
        "kind": "received",
        "occurred_at": when(),
        "count": 0,
    }
    lines: list[Any] = [good, bad_value, '{"event_id": "x", ', "", '["not", "an", "object"]', {"what": tag}]
    status = main(
        ["produce", str(write_lines(tmp_path / "mixed.jsonl", lines)), "--broker", broker.bootstrap]
    )
    captured = capsys.readouterr()
    assert status == 1
    errors = captured.err.splitlines()
    assert errors[0] == "line 2: invalid: count: input should be greater than or equal to 1, got 0"
    assert errors[1].startswith("line 3: bad_json: not valid JSON")
    assert errors[2].startswith("line 5: not_an_object: expected a JSON object, got an array")
    assert errors[3].startswith("line 6: invalid: cannot tell which topic")
    assert len(errors) == 4  # the blank line 4 is skipped, not an error
    assert "1 sent, 4 invalid" in captured.out

    ids = {r["value"].get("event_id") for r in tail_records(capsys, broker, "referral-events")}
    assert f"ok-{tag}" in ids
    assert f"bad-{tag}" not in ids


def test_topic_option_takes_short_names_and_checks_the_shape(
    broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = mark()
    # A staffing reading on the referrals topic is allowed: keys and topics of readings are advisory.
    reading = {"indicator": "stp_staffing_pct", "area": "dgs", "value": 71.5, "observed_at": when(7)}
    event = {"event_id": f"e-{tag}", "area": "dgs", "kind": "received", "occurred_at": when(7)}
    path = write_lines(tmp_path / "r.jsonl", [reading, event])
    status = main(["produce", str(path), "--topic", "referrals", "--broker", broker.bootstrap])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.err.startswith("line 2: invalid: indicator: is required;")
    assert f"event_id: is not a known field (value 'e-{tag}')" in captured.err
    assert f"sent 1 to {topics.REFERRALS}" in captured.out

    assert main(["produce", str(path), "--topic", "status", "--broker", broker.bootstrap]) == 2
    assert "'status' is not an inbound topic" in capsys.readouterr().err


def test_without_a_broker_produce_and_tail_say_how_to_get_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_lines(
        tmp_path / "one.jsonl", [{"indicator": "referrals", "area": "dgs", "value": 1, "observed_at": when()}]
    )
    assert main(["produce", str(path)]) == 2
    assert (
        capsys.readouterr().err.strip() == "opel produce: no broker: start `opel run` or set OPEL_BROKER_URL"
    )
    assert main(["tail", "status"]) == 2
    assert "no broker: start `opel run` or set OPEL_BROKER_URL" in capsys.readouterr().err


def test_the_broker_url_file_left_by_opel_run_is_used(
    broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "broker.url").write_text(f"{broker.bootstrap}\n", encoding="utf-8")
    tag = mark()
    event = {"event_id": f"f-{tag}", "area": "swale", "kind": "received", "occurred_at": when(9)}
    assert main(["produce", str(write_lines(tmp_path / "e.jsonl", [event]))]) == 0
    capsys.readouterr()
    assert main(["tail", "referral_events", "--from-beginning", "--timeout", READ_IDLE]) == 0
    assert f"f-{tag}" in capsys.readouterr().out


def test_an_environment_broker_url_wins_over_the_file(
    broker: EmbeddedBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "broker.url").write_text("127.0.0.1:1\n", encoding="utf-8")  # nothing listens there
    monkeypatch.setenv("OPEL_BROKER_URL", f"kafka://{broker.bootstrap}")
    assert main(["tail", "deadletter", "--from-beginning", "--timeout", "1"]) == 0


def test_tail_stops_after_count_and_fails_when_too_few_came(
    broker_factory: BrokerFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A broker of its own: on the session's, any other test's worker may write to the audit
    # topic while this one waits for nothing to arrive there (it did in CI).
    broker = broker_factory()
    broker.create_topics(all_topics(PARTITIONS))
    tag = mark()
    events = [
        {"event_id": f"c{n}-{tag}", "area": "dgs", "kind": "received", "occurred_at": when(n)}
        for n in range(3)
    ]
    assert (
        main(["produce", str(write_lines(tmp_path / "c.jsonl", events)), "--broker", broker.bootstrap]) == 0
    )
    capsys.readouterr()
    assert (
        main(["tail", "referral-events", "--from-beginning", "--count", "2", "--broker", broker.bootstrap])
        == 0
    )
    assert len(capsys.readouterr().out.splitlines()) == 2
    status = main(["tail", "audit", "--count", "1", "--timeout", "1", "--broker", broker.bootstrap])
    assert status == 1  # nothing new arrives on audit from here
    assert "0 of 1 records before the timeout" in capsys.readouterr().err


def test_tail_refuses_a_topic_the_broker_does_not_have(
    broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tail", "no-such-topic", "--timeout", "1", "--broker", broker.bootstrap]) == 2
    assert "no topic 'no-such-topic' on the broker" in capsys.readouterr().err


def test_an_unreachable_broker_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_lines(
        tmp_path / "u.jsonl", [{"indicator": "referrals", "area": "dgs", "value": 1, "observed_at": when()}]
    )
    assert main(["produce", str(path), "--broker", "127.0.0.1:1", "--timeout", "5"]) == 3
    assert "could not send to 127.0.0.1:1" in capsys.readouterr().err


def test_the_installed_command_reads_stdin(broker: EmbeddedBroker, tmp_path: Path) -> None:
    tag = mark()
    event = {
        "event_id": f"s-{tag}",
        "area": "east_kent",
        "kind": "received",
        "occurred_at": when(11),
        "count": 2,
    }
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OPEL_")}
    env["OPEL_BROKER_URL"] = broker.bootstrap
    produced = subprocess.run(
        [sys.executable, "-m", "opel.cli", "produce", "-"],
        input=json.dumps(event) + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert produced.returncode == 0, produced.stderr
    assert f"sent 1 to {topics.REFERRAL_EVENTS}" in produced.stdout
    tailed = subprocess.run(
        [
            sys.executable,
            "-m",
            "opel.cli",
            "tail",
            "referral-events",
            "--from-beginning",
            "--timeout",
            READ_IDLE,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert tailed.returncode == 0, tailed.stderr
    found = [json.loads(line) for line in tailed.stdout.splitlines() if f"s-{tag}" in line]
    assert [r["value"] for r in found] == [event]
    assert found[0]["key"] == "east_kent"


@pytest.fixture
def demo_broker(broker_factory: BrokerFactory) -> EmbeddedBroker:
    own = broker_factory()
    own.create_topics(all_topics(PARTITIONS))
    return own


def test_the_demo_plays_its_whole_day_into_a_broker(
    demo_broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    start = "2025-11-17T06:00:00+00:00"
    status = main(["demo", "--broker", demo_broker.bootstrap, "--speed", "200", "--start", start])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    script = winter_day(datetime.fromisoformat(start))
    assert f"demo: sent {len(script)} messages" in captured.out
    expected = [value for _, topic, value in script if topic == topics.ACUTE]
    records = tail_records(capsys, demo_broker, "acute")
    assert sorted((r["value"]["observed_at"], r["key"]) for r in records) == sorted(
        (v["observed_at"], v["site"]) for v in expected
    )


def test_a_missing_input_file_is_a_usage_error(
    broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["produce", str(tmp_path / "absent.jsonl"), "--broker", broker.bootstrap]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "topic"),
    [
        ("status", topics.STATUS),
        ("escalations", topics.ESCALATIONS),
        ("alerts", topics.ALERTS),
        ("audit", topics.AUDIT),
        ("deadletter", topics.DEADLETTER),
        ("capacity", topics.CAPACITY),
        ("referral-events", topics.REFERRAL_EVENTS),
        ("referral_events", topics.REFERRAL_EVENTS),
        ("Commands", topics.COMMANDS),
        ("internal.area", topics.AREA_EVENTS),
        (topics.ACUTE, topics.ACUTE),
        ("opel-changelog-topic", "opel-changelog-topic"),
    ],
)
def test_short_topic_names(name: str, topic: str) -> None:
    assert resolve_topic(name) == topic


def test_broker_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "broker.url").write_text("kafka://127.0.0.1:1111\n", encoding="utf-8")
    assert resolve_broker(None, Settings.load()) == "127.0.0.1:1111"
    monkeypatch.setenv("OPEL_BROKER_URL", "kafka://a:2222;b:3333")
    assert resolve_broker(None, Settings.load()) == "a:2222,b:3333"
    assert resolve_broker("c:4444", Settings.load()) == "c:4444"
    with pytest.raises(BrokerNotFoundError, match="--broker: "):
        resolve_broker("nowhere", Settings.load())
    (data / "broker.url").write_text("garbage\n", encoding="utf-8")
    monkeypatch.delenv("OPEL_BROKER_URL")
    with pytest.raises(BrokerNotFoundError, match=r"broker\.url"):
        resolve_broker(None, Settings.load())


def test_demo_without_a_broker_says_how_to_get_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 2
    assert "no broker: start `opel run` or set OPEL_BROKER_URL" in capsys.readouterr().err


def test_produce_refuses_an_unknown_indicator_and_force_sends_it(
    broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = mark()
    unknown = {"indicator": f"bed_days_{tag}", "area": "dgs", "value": 3, "observed_at": when(13)}
    path = write_lines(tmp_path / "unknown.jsonl", [unknown])
    assert main(["produce", str(path), "--broker", broker.bootstrap]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(
        f"line 1: unknown_indicator: indicator: unknown indicator 'bed_days_{tag}'"
    )
    assert "0 sent, 1 invalid" in captured.out

    assert main(["produce", str(path), "--force", "--broker", broker.bootstrap]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(
        f"line 1: sent anyway (--force): unknown_indicator: indicator: unknown indicator 'bed_days_{tag}'"
    )
    assert f"sent 1 to {topics.CAPACITY}" in captured.out
    assert "1 sent (1 despite the checks, --force), 0 invalid" in captured.out
    found = [r for r in tail_records(capsys, broker, "capacity") if r["value"] == unknown]
    assert len(found) == 1


@pytest.fixture
def empty_broker(broker_factory: BrokerFactory) -> EmbeddedBroker:
    own = broker_factory()
    own.create_topics(all_topics(PARTITIONS))
    return own


def test_tail_says_when_a_topic_is_empty_and_whether_alert_routing_is_on(
    empty_broker: EmbeddedBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["tail", "alerts", "--from-beginning", "--timeout", "1", "--broker", empty_broker.bootstrap]
    monkeypatch.setenv("OPEL_ROUTING_FILE", "")  # alerting switched off (it is on by default)
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"opel tail: {topics.ALERTS} is empty",
        "opel tail: alert routing is off (OPEL_ROUTING_FILE is empty), so `opel run` sends no "
        "alerts; docs/alerting.md says how to route them",
    ]
    routes = tmp_path / "routing.yaml"
    routes.write_text("{}\n", encoding="utf-8")
    monkeypatch.setenv("OPEL_ROUTING_FILE", str(routes))
    assert main(argv) == 0
    assert capsys.readouterr().err.splitlines()[1] == (
        f"opel tail: alert routing is on (OPEL_ROUTING_FILE={routes}): an alert appears here when an "
        "escalation or a plan deadline calls for one"
    )
    assert main(["tail", "status", "--timeout", "1", "--broker", empty_broker.bootstrap]) == 0
    assert capsys.readouterr().err.splitlines() == [f"opel tail: {topics.STATUS} is empty"]


def test_tail_says_when_nothing_new_came_and_how_to_see_what_is_there(
    empty_broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = {"event_id": f"n-{mark()}", "area": "dgs", "kind": "received", "occurred_at": when(15)}
    path = write_lines(tmp_path / "n.jsonl", [event])
    assert main(["produce", str(path), "--broker", empty_broker.bootstrap]) == 0
    capsys.readouterr()
    assert main(["tail", "referral-events", "--timeout", "1", "--broker", empty_broker.bootstrap]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"opel tail: no new records on {topics.REFERRAL_EVENTS} in 1 s; it holds 1 "
        "(--from-beginning prints them)"
    ]
