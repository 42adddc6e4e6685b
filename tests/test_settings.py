"""Settings from OPEL_* variables and env files; every refusal names the variable."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from streams.settings import (
    CONFIG_ENV,
    Settings,
    SettingsError,
    bootstrap_servers,
    faust_broker_url,
    parse_broker_url,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_ENV = ROOT / "config" / "opel.example.env"
CONFIG_DOC = ROOT / "docs" / "configuration.md"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OPEL_* from the developer's shell and no config/opel.env from the checkout."""
    for name in list(os.environ):
        if name.upper().startswith("OPEL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    s = Settings.load()
    assert s.broker_url is None
    assert (s.partitions, s.store, s.app_id) == (4, "memory://", "opel")
    assert s.data_dir == Path(".opel-data")
    assert (s.web_host, s.web_port) == ("127.0.0.1", 8080)
    assert (s.indicator_catalogue, s.acute_catalogue) == ("kcc-asch-2025-26", "nhs-acute-2023-24")
    assert (s.catalogue_dir, s.step_down_dwell) == (None, None)
    # Alerts are on by default in a checkout: the shipped routing needs no secrets (log + board).
    assert s.routing_file is not None
    assert s.routing_file.name == "routing.yaml"
    assert (s.tick_interval, s.session_timeout, s.heartbeat_interval) == (15.0, 6.0, 1.0)
    assert s.max_message_bytes == 512 * 1024
    assert (s.exercise, s.log_level) == (False, "info")
    assert s.broker_url_file == Path(".opel-data") / "broker.url"


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPEL_BROKER_URL", "kafka://k1:9092;k2:9093")
    monkeypatch.setenv("OPEL_PARTITIONS", "8")
    monkeypatch.setenv("OPEL_STORE", "rocksdb://")
    monkeypatch.setenv("OPEL_DATA_DIR", "/var/lib/opel")
    monkeypatch.setenv("OPEL_STEP_DOWN_DWELL", "PT4H")
    monkeypatch.setenv("OPEL_EXERCISE", "true")
    monkeypatch.setenv("OPEL_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("OPEL_CATALOGUE_DIR", "/etc/opel/catalogues")
    s = Settings.load()
    assert s.partitions == 8
    assert s.store == "rocksdb://"
    assert s.data_dir == Path("/var/lib/opel")
    assert s.step_down_dwell == timedelta(hours=4)
    assert s.exercise is True
    assert s.log_level == "debug"
    assert s.catalogue_dir == Path("/etc/opel/catalogues")
    assert s.kafka_bootstrap() == "k1:9092,k2:9093"
    assert s.faust_broker() == "kafka://k1:9092;k2:9093"


def test_catalogue_safety_settings_default_to_refusing(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings.load()
    assert (s.allow_draft_catalogues, s.catalogue_removals_confirmed) == (False, frozenset())
    monkeypatch.setenv("OPEL_ALLOW_DRAFT_CATALOGUES", "true")
    monkeypatch.setenv("OPEL_CONFIRM_CATALOGUE_REMOVALS", " area:swale, indicator:referrals ,,site:qeqm")
    s = Settings.load()
    assert s.allow_draft_catalogues is True
    assert s.confirm_catalogue_removals == "area:swale,indicator:referrals,site:qeqm"
    assert s.catalogue_removals_confirmed == {"area:swale", "indicator:referrals", "site:qeqm"}


def test_dwell_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPEL_STEP_DOWN_DWELL", "90")
    assert Settings.load().step_down_dwell == timedelta(seconds=90)


@pytest.mark.parametrize(
    ("url", "bootstrap", "faust"),
    [
        ("127.0.0.1:9092", "127.0.0.1:9092", "kafka://127.0.0.1:9092"),
        ("kafka://broker:9092", "broker:9092", "kafka://broker:9092"),
        ("a:1,b:2", "a:1,b:2", "kafka://a:1;b:2"),
        ("kafka://a:1;b.example.org:2", "a:1,b.example.org:2", "kafka://a:1;b.example.org:2"),
        ("[::1]:9092", "[::1]:9092", "kafka://[::1]:9092"),
    ],
)
def test_broker_url_forms(url: str, bootstrap: str, faust: str) -> None:
    assert bootstrap_servers(url) == bootstrap
    assert faust_broker_url(url) == faust
    s = Settings.load(broker_url=url)
    assert (s.kafka_bootstrap(), s.faust_broker()) == (bootstrap, faust)


@pytest.mark.parametrize(
    "url", ["broker", "broker:", "broker:0", "broker:65536", "http://broker:9092", "a:1;;b:2", "bad host:1"]
)
def test_bad_broker_urls(url: str) -> None:
    with pytest.raises(ValueError, match="got"):
        parse_broker_url(url)
    with pytest.raises(SettingsError, match=r"^OPEL_BROKER_URL: "):
        Settings.load(broker_url=url)


def test_without_a_broker_the_helpers_say_what_to_do() -> None:
    s = Settings.load()
    with pytest.raises(SettingsError, match="OPEL_BROKER_URL"):
        s.kafka_bootstrap()
    started = s.with_broker("127.0.0.1:41234")
    assert started.kafka_bootstrap() == "127.0.0.1:41234"
    assert s.broker_url is None  # the original is unchanged
    with pytest.raises(SettingsError, match="OPEL_BROKER_URL"):
        s.with_broker("nowhere")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("OPEL_PARTITIONS", "0", "must be 1 or more, got 0"),
        ("OPEL_PARTITIONS", "four", "four"),
        ("OPEL_WEB_HOST", "local host", "'local host'"),
        ("OPEL_WEB_HOST", "-bad.example", "'-bad.example'"),
        ("OPEL_WEB_PORT", "70000", "70000"),
        ("OPEL_MAX_MESSAGE_BYTES", "100", "100"),
        ("OPEL_MAX_MESSAGE_BYTES", str(11 * 1024 * 1024), str(11 * 1024 * 1024)),
        ("OPEL_STORE", "redis://", "'redis://'"),
        ("OPEL_APP_ID", "opel app", "'opel app'"),
        ("OPEL_TICK_INTERVAL", "0", "0"),
        ("OPEL_SESSION_TIMEOUT", "-1", "-1"),
        ("OPEL_LOG_LEVEL", "loud", "'loud'"),
        ("OPEL_STEP_DOWN_DWELL", "-PT1H", "-1 day"),
        ("OPEL_EXERCISE", "perhaps", "perhaps"),
        ("OPEL_INDICATOR_CATALOGUE", " ", "empty"),
        ("OPEL_ALLOW_DRAFT_CATALOGUES", "perhaps", "perhaps"),
        ("OPEL_CONFIRM_CATALOGUE_REMOVALS", "swale", "'swale'"),
        ("OPEL_CONFIRM_CATALOGUE_REMOVALS", "area:swale,county:kent", "'county:kent'"),
        ("OPEL_CONFIRM_CATALOGUE_REMOVALS", "area:", "'area:'"),
    ],
)
def test_errors_name_the_variable_and_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        Settings.load()
    text = str(info.value)
    assert text.startswith(f"{variable}: "), text
    assert message in text


def test_web_host_accepts_addresses_and_names() -> None:
    for host in ("127.0.0.1", "::1", "0.0.0.0", "localhost", "opel.kent.gov.uk"):
        assert Settings.load(web_host=host).web_host == host


def test_heartbeat_must_be_below_session_timeout() -> None:
    with pytest.raises(SettingsError, match=r"OPEL_HEARTBEAT_INTERVAL .* OPEL_SESSION_TIMEOUT"):
        Settings.load(session_timeout=6, heartbeat_interval=6)


def test_env_file_named_by_opel_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / "prod.env"
    env_file.write_text("# production\nOPEL_PARTITIONS=12\nOPEL_WEB_PORT=9000\n", encoding="utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(env_file))
    monkeypatch.setenv("OPEL_WEB_PORT", "9100")  # the environment beats the file
    s = Settings.load()
    assert (s.partitions, s.web_port) == (12, 9100)


def test_default_env_file_is_used_when_present(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "opel.env").write_text("OPEL_APP_ID=opel-test\n", encoding="utf-8")
    assert Settings.load().app_id == "opel-test"


def test_a_missing_named_env_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "nope.env"))
    with pytest.raises(SettingsError, match=r"^OPEL_CONFIG: no such file"):
        Settings.load()


def test_a_misspelt_variable_in_the_env_file_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / "typo.env"
    env_file.write_text("OPEL_PARTITONS=8\n", encoding="utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(env_file))
    with pytest.raises(SettingsError, match="OPEL_PARTITONS: is not a known setting"):
        Settings.load()


def test_the_example_env_file_and_the_docs_name_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    example = EXAMPLE_ENV.read_text(encoding="utf-8")
    docs = CONFIG_DOC.read_text(encoding="utf-8")
    for name in Settings.model_fields:
        variable = f"OPEL_{name.upper()}"
        assert variable in example, f"{variable} is not in {EXAMPLE_ENV.name}"
        assert f"`{variable}`" in docs, f"{variable} is not in {CONFIG_DOC.name}"
    # Copying the example unchanged must change nothing.
    defaults = Settings.load()
    monkeypatch.setenv(CONFIG_ENV, str(EXAMPLE_ENV))
    assert Settings.load() == defaults


def test_an_empty_routing_file_switches_alerting_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPEL_ROUTING_FILE", "")
    assert Settings().routing_file is None
