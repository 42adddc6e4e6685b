"""OPEL_KAFKA_* settings: where secrets may come from, which combinations are refused, and what every
Kafka client and the Faust app get from them. The SASL_SSL cluster itself is in
tests/integration/test_kafka_security.py."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import faust
import pytest

from streams.kafka_security import PLAINTEXT, KafkaSecurity, for_settings
from streams.settings import CONFIG_ENV, Settings, SettingsError

SASL = {
    "OPEL_KAFKA_SECURITY_PROTOCOL": "sasl_plaintext",
    "OPEL_KAFKA_SASL_MECHANISM": "scram-sha-512",
    "OPEL_KAFKA_SASL_USERNAME": "opel-worker",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OPEL_* from the developer's shell and no config/opel.env from the checkout."""
    for name in list(os.environ):
        if name.upper().startswith("OPEL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _set(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_plaintext_by_default_adds_nothing_to_any_client() -> None:
    security = for_settings(Settings.load())
    assert security == PLAINTEXT
    assert security.client_options() == {}
    assert security.faust_options() == {}


def test_the_password_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, {**SASL, "OPEL_KAFKA_SASL_PASSWORD": "from-the-environment"})
    security = for_settings(Settings.load())
    assert security.client_options() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "opel-worker",
        "sasl_plain_password": "from-the-environment",
    }
    assert "from-the-environment" not in repr(security)
    assert security.describe() == "SASL_PLAINTEXT (SCRAM-SHA-512 as 'opel-worker')"
    credentials = security.faust_options()["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("opel-worker", "from-the-environment")
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_PLAINTEXT"


def test_the_password_comes_from_the_secrets_file_the_env_file_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets.yaml"
    # One file for the routing file's secrets and Kafka's: names it does not know are left alone.
    secrets.write_text("OPEL_KAFKA_SASL_PASSWORD: from-the-file\nSMS_API_KEY: other\n", encoding="utf-8")
    env_file = tmp_path / "opel.env"
    env_file.write_text(
        "".join(f"{k}={v}\n" for k, v in SASL.items()) + f"OPEL_KAFKA_SECRETS_FILE={secrets}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(CONFIG_ENV, str(env_file))
    settings = Settings.load()
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == "from-the-file"
    assert "from-the-file" not in repr(settings)
    # The environment wins over the file, as for every setting.
    monkeypatch.setenv("OPEL_KAFKA_SASL_PASSWORD", "from-the-environment")
    password = Settings.load().kafka_sasl_password
    assert password is not None
    assert password.get_secret_value() == "from-the-environment"


def test_a_secret_in_the_env_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / "opel.env"
    env_file.write_text(
        "".join(f"{k}={v}\n" for k, v in SASL.items()) + "OPEL_KAFKA_SASL_PASSWORD=written-down\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(CONFIG_ENV, str(env_file))
    with pytest.raises(SettingsError) as refused:
        Settings.load()
    message = str(refused.value)
    assert message.startswith("OPEL_KAFKA_SASL_PASSWORD: a secret is never read from the env file")
    assert "OPEL_KAFKA_SECRETS_FILE" in message
    assert "written-down" not in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "cannot read"), ("a: [unclosed\n", "is not valid YAML"), ("- a list\n", "must be a mapping")],
)
def test_a_secrets_file_that_cannot_be_used_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | None, problem: str
) -> None:
    secrets = tmp_path / "secrets.yaml"
    if content is not None:
        secrets.write_text(content, encoding="utf-8")
    _set(monkeypatch, {**SASL, "OPEL_KAFKA_SECRETS_FILE": str(secrets)})
    with pytest.raises(SettingsError, match=f"^OPEL_KAFKA_SECRETS_FILE: .*{problem}"):
        Settings.load()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (SASL, "OPEL_KAFKA_SASL_PASSWORD: required with OPEL_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT"),
        (
            {"OPEL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
            "OPEL_KAFKA_SASL_USERNAME and OPEL_KAFKA_SASL_PASSWORD: required",
        ),
        (
            {"OPEL_KAFKA_SASL_USERNAME": "opel"},
            "OPEL_KAFKA_SASL_USERNAME: only used with SASL_PLAINTEXT or SASL_SSL, not with "
            "OPEL_KAFKA_SECURITY_PROTOCOL=PLAINTEXT",
        ),
        (
            {**SASL, "OPEL_KAFKA_SASL_PASSWORD": "pw", "OPEL_KAFKA_SSL_CAFILE": "{ca}"},
            "OPEL_KAFKA_SSL_CAFILE: only used with SSL or SASL_SSL",
        ),
        (
            {"OPEL_KAFKA_SECURITY_PROTOCOL": "SSL", "OPEL_KAFKA_SSL_KEYFILE": "{ca}"},
            "OPEL_KAFKA_SSL_KEYFILE: set without OPEL_KAFKA_SSL_CERTFILE",
        ),
        (
            {"OPEL_KAFKA_SECURITY_PROTOCOL": "SSL", "OPEL_KAFKA_SSL_CAFILE": "/nowhere/ca.pem"},
            "OPEL_KAFKA_SSL_CAFILE: no such file '/nowhere/ca.pem'",
        ),
        ({"OPEL_KAFKA_SECURITY_PROTOCOL": "TLS"}, "OPEL_KAFKA_SECURITY_PROTOCOL: "),
        ({**SASL, "OPEL_KAFKA_SASL_MECHANISM": "GSSAPI"}, "OPEL_KAFKA_SASL_MECHANISM: "),
    ],
    ids=[
        "no-password",
        "no-user",
        "user-without-sasl",
        "ca-without-tls",
        "key-without-cert",
        "missing-ca",
        "unknown-protocol",
        "unknown-mechanism",
    ],
)
def test_settings_the_protocol_would_not_use_or_needs_are_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, values: dict[str, str], message: str
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n", encoding="utf-8")
    _set(monkeypatch, {k: v.format(ca=ca) for k, v in values.items()})
    with pytest.raises(SettingsError) as refused:
        Settings.load()
    assert message in str(refused.value)


def test_a_ca_file_that_is_not_pem_is_named_when_the_context_is_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n", encoding="utf-8")
    _set(monkeypatch, {"OPEL_KAFKA_SECURITY_PROTOCOL": "SSL", "OPEL_KAFKA_SSL_CAFILE": str(ca)})
    with pytest.raises(SettingsError, match=f"^OPEL_KAFKA_SSL_CAFILE: cannot use {ca} as CA certificates"):
        for_settings(Settings.load())


def test_ssl_uses_the_system_cas_without_a_ca_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPEL_KAFKA_SECURITY_PROTOCOL", "SSL")
    security = for_settings(Settings.load())
    assert isinstance(security.ssl_context, ssl.SSLContext)
    assert security.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert security.ssl_context.check_hostname
    assert security.client_options() == {"security_protocol": "SSL", "ssl_context": security.ssl_context}
    credentials = security.faust_options()["broker_credentials"]
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials.context is security.ssl_context


def test_sasl_ssl_gives_faust_the_same_context() -> None:
    context = ssl.create_default_context()
    security = KafkaSecurity("SASL_SSL", mechanism="PLAIN", username="u", password="p", ssl_context=context)
    credentials = security.faust_options()["broker_credentials"]
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.ssl_context is context
    assert security.client_options()["ssl_context"] is context
