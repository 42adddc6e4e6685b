"""Routing files: Kent's example loads; bad files are refused naming file, place and problem."""

from __future__ import annotations

import json
import logging
import re
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from opel.alerting.routing import RoutingError, build_routing, load_routing, parse_duration
from streams.alerting.service import AlertingService
from streams.status_view import StatusView
from streams.topics import AUDIT

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "routing.example.yaml"


def example_env() -> dict[str, str]:
    names = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", EXAMPLE.read_text(encoding="utf-8")))
    return {name: "2525" if name.endswith("_PORT") else f"secret-{name.lower()}" for name in names}


def minimal(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "channels": {"mail": {"type": "email", "host": "127.0.0.1", "port": 25, "sender": "${SENDER}"}},
        "roles": {
            "duty": {"contacts": [{"id": "duty", "name": "Duty", "channel": "mail", "address": "${DUTY}"}]},
            "stp_team_manager": {
                "contacts": [{"id": "tm", "name": "TM", "channel": "mail", "address": "${TM}"}]
            },
        },
        "routes": [{"name": "area", "roles": ["stp_team_manager"]}],
    }
    data.update(extra)
    return data


ENV = {"SENDER": "opel@example.org", "DUTY": "duty@example.org", "TM": "tm@example.org"}


def test_kent_example_loads_and_resolves_references() -> None:
    config = load_routing(EXAMPLE, env=example_env())
    assert [r.name for r in config.routes] == [
        "inhouse-provision",
        "keah-organisers",
        "senior-practitioners",
        "team-managers",
        "operations-manager",
        "community-team-managers",
        "assistant-director",
        "director",
        "county-duty",
        "early-warnings",
        "hospital-delivery-board",
        "hospital-pressure",
        "out-of-hours-service",
        "nhs-director-on-call",
        "bank-holiday-skeleton",
        "indicator-watch",
        "exercise",
    ]
    assert config.timing(config.routes[2]).group_wait == timedelta(minutes=2)
    assert config.timing(config.route("exercise") or config.routes[0]).repeat_interval == timedelta(hours=1)
    assert config.timing(config.routes[0]).repeat_interval == timedelta(hours=4)
    assert [c.id for c in config.contacts("stp_team_manager", "swale")] == ["stp-tm-swale"]
    assert config.expand("${OPEL_SMTP_HOST}") == "secret-opel_smtp_host"
    assert config.clock.indicator_owners["assessment_bed_availability"] == "inhouse_registered_managers"


def test_resolved_secrets_stay_out_of_dumps_and_repr() -> None:
    config = load_routing(EXAMPLE, env=example_env())
    assert "secret-" not in repr(config)
    assert "secret-" not in config.model_dump_json()


def test_defaults_fill_a_minimal_file() -> None:
    config = build_routing(minimal(), env=ENV)
    assert config.defaults.group_wait == timedelta(seconds=30)
    assert config.defaults.repeat_interval == timedelta(hours=4)
    assert config.retry.attempts == 12
    assert config.clock.timezone == "Europe/London"


def test_secrets_file(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text("SENDER: s@example.org\nDUTY: d@example.org\nTM: t@example.org\n")
    path = tmp_path / "routing.yaml"
    path.write_text(yaml.safe_dump(minimal(secrets_file="secrets.yaml")))
    config = load_routing(path, env={"TM": "from-env@example.org"})
    assert config.expand("${DUTY}") == "d@example.org"
    assert config.expand("${TM}") == "from-env@example.org"  # the environment wins


@pytest.mark.parametrize(
    ("change", "path", "problem"),
    [
        (
            lambda d: d["roles"]["duty"]["contacts"][0].update(address="duty@example.org"),
            "roles.duty.contacts[0].address",
            "must be a ${NAME} reference",
        ),
        (lambda d: d.update(colour="red"), "colour", "is not a known key"),
        (
            lambda d: d["roles"]["duty"]["contacts"][0].update(channel="pager"),
            "roles.duty.contacts[0].channel",
            "unknown channel 'pager'",
        ),
        (lambda d: d["routes"][0].update(roles=["chief_exec"]), "routes[0].roles[0]", "input should be"),
        (
            lambda d: d["routes"][0].update(roles=["director_asc"]),
            "routes[0].roles",
            "role 'director_asc' has no entry under roles",
        ),
        (
            lambda d: d["routes"][0].update(escalation_policy="nope"),
            "routes[0].escalation_policy",
            "unknown policy 'nope'",
        ),
        (lambda d: d["routes"].append(dict(d["routes"][0])), "routes", "route names must be unique"),
        (lambda d: d.update(defaults={"group_wait": "soon"}), "defaults.group_wait", "duration"),
        (lambda d: d["roles"].pop("duty"), "roles", "the duty role must be listed"),
        (
            lambda d: d["roles"]["stp_team_manager"]["contacts"][0].update(id="duty"),
            "roles.stp_team_manager.contacts[0].id",
            "already used",
        ),
        (
            lambda d: d["roles"]["duty"]["contacts"][0].pop("address"),
            "roles.duty.contacts[0].address",
            "needs an address",
        ),
        (lambda d: d.update(clock={"timezone": "Europe/Kent"}), "clock.timezone", "unknown time zone"),
        (
            lambda d: d.update(
                escalation_policies={
                    "p": {"levels": [{"roles": ["duty"], "delay": "1h"}, {"roles": ["duty"], "delay": "5m"}]}
                }
            ),
            "escalation_policies.p.levels",
            "must not decrease",
        ),
    ],
)
def test_refused_with_place_and_problem(change: Any, path: str, problem: str) -> None:
    data = minimal()
    change(data)
    with pytest.raises(RoutingError) as info:
        build_routing(data, "routing.yaml", env=ENV)
    assert info.value.source == "routing.yaml"
    assert info.value.path == path
    assert problem in info.value.problem


def test_a_literal_secret_is_refused_without_being_repeated() -> None:
    data = minimal()
    data["channels"]["mail"]["sender"] = "real.person@example.org"
    with pytest.raises(RoutingError) as info:
        build_routing(data, "routing.yaml", env=ENV)
    # The channel's type tag (email) stays out of the path, as it does in the file.
    assert info.value.path == "channels.mail.sender"
    assert "must be a ${NAME} reference" in info.value.problem
    assert "real.person" not in str(info.value)


def test_several_problems_are_counted() -> None:
    with pytest.raises(RoutingError) as info:
        build_routing(minimal(colour="red", flavour="mild"), "routing.yaml", env=ENV)
    assert info.value.path == "colour"
    assert info.value.problem.endswith("(and 1 more problem)")


def test_missing_reference_names_where_it_is_used() -> None:
    with pytest.raises(RoutingError) as info:
        build_routing(minimal(), "routing.yaml", env={"SENDER": "x", "DUTY": "y"})
    assert info.value.path == "roles.stp_team_manager.contacts[0].address"
    assert "${TM} is not set" in info.value.problem


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(RoutingError, match="cannot read file"):
        load_routing(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes: [\n")
    with pytest.raises(RoutingError, match="invalid YAML"):
        load_routing(bad)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (30, 30),
        (1.5, 1.5),
        ("90s", 90),
        ("5m", 300),
        ("4h", 14400),
        ("1h30m", 5400),
        ("2d", 172800),
        ("0.2s", 0.2),
    ],
)
def test_durations(text: Any, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "4 hours", -1, True, "h"])
def test_bad_durations(text: Any) -> None:
    with pytest.raises(ValueError, match=r"duration|negative"):
        parse_duration(text)


# --------------------------------------------------------------------------- literal secrets

SECRET = "hunter2-XQ7-live-key"
PHONE = 447700900123


def _contact(data: dict[str, Any]) -> dict[str, Any]:
    contact: dict[str, Any] = data["roles"]["duty"]["contacts"][0]
    return contact


def _email(data: dict[str, Any]) -> dict[str, Any]:
    channel: dict[str, Any] = data["channels"]["mail"]
    return channel


@pytest.mark.parametrize(
    ("change", "secret"),
    [
        # Text where a ${NAME} reference must stand.
        (lambda d: _email(d).update(password=SECRET), SECRET),
        (
            lambda d: d["channels"].update(
                hook={"type": "webhook", "url": f"https://hooks.example/{SECRET}"}
            ),
            SECRET,
        ),
        (
            lambda d: d["channels"].update(sms={"type": "notify_sms", "api_key": SECRET, "template_id": "t"}),
            SECRET,
        ),
        # A phone number or PIN written unquoted is a YAML number, not text.
        (lambda d: _contact(d).update(address=PHONE), str(PHONE)),
        (lambda d: _email(d).update(password=int("31415926535")), "31415926535"),
        # A secret under a key the file does not know (a guessed field name).
        (lambda d: _email(d).update(api_token=SECRET), SECRET),
        (lambda d: _contact(d).update(phone=str(PHONE)), str(PHONE)),
        # A secret in a list where one value is expected.
        (lambda d: _email(d).update(sender=[SECRET]), SECRET),
    ],
)
def test_a_literal_secret_is_never_echoed(change: Any, secret: str) -> None:
    data = minimal()
    change(data)
    with pytest.raises(RoutingError) as info:
        build_routing(data, "routing.yaml", env=ENV)
    assert secret not in "".join(traceback.format_exception(info.value))
    assert info.value.path  # the place is still named, so the file can be fixed


def test_a_secrets_file_that_is_not_yaml_is_refused_without_its_lines(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text(f"DUTY: d@example.org\nTM: {SECRET}: oops\n", encoding="utf-8")
    path = tmp_path / "routing.yaml"
    path.write_text(yaml.safe_dump(minimal(secrets_file="secrets.yaml")), encoding="utf-8")
    with pytest.raises(RoutingError) as info:
        load_routing(path, env={"SENDER": "s@example.org"})
    assert info.value.path == "secrets_file"
    assert "line 2" in info.value.problem
    assert SECRET not in "".join(traceback.format_exception(info.value))


def test_a_routing_file_that_is_not_yaml_is_refused_without_its_lines(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(f"channels:\n  hook:\n    url: {SECRET}: oops\n", encoding="utf-8")
    with pytest.raises(RoutingError) as info:
        load_routing(path, env=ENV)
    assert "invalid YAML" in str(info.value)
    assert SECRET not in "".join(traceback.format_exception(info.value))


async def test_a_refused_reload_keeps_the_secret_out_of_log_audit_and_history(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """End to end: alerting's reload refusal, its log, its audit record and the view behind /history."""
    path = tmp_path / "routing.yaml"
    data = minimal()
    _email(data)["password"] = PHONE  # a PIN or number written unquoted
    _email(data)["api_token"] = SECRET  # and a key the file does not know
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    service = AlertingService(bootstrap="127.0.0.1:9", routing=build_routing(minimal(), env=ENV))
    published: list[tuple[str, bytes]] = []

    async def capture(topic: str, message: Any) -> None:
        published.append((topic, message.value.to_json()))

    service._publish = capture  # type: ignore[method-assign]
    caplog.set_level(logging.DEBUG)
    assert await service.routing_reload(path) is False
    [(topic, raw)] = published
    assert topic == AUDIT
    record = json.loads(raw)
    assert record["decision"] == "routing_refused"
    assert "password" in record["reason"]  # the place is named ...
    for secret in (SECRET, str(PHONE)):  # ... the value never
        assert secret not in raw.decode()
        assert secret not in caplog.text
        assert all(secret not in decision for decision in service.decisions)
    # What /history shows comes from the view, which keeps audit records per scope only:
    # a routing refusal has none, and its text never reaches any scope's history.
    view = StatusView("127.0.0.1:9", use_metrics=False)
    view.apply_audit_json(raw)
    assert record["scope"] is None
    assert not view.knows("")
    assert view.records_rejected == 0
