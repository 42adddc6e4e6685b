"""Runtime settings of the service and its Kafka commands, from ``OPEL_*`` variables and an env file.

Precedence, highest first: values passed in code, the process environment, the env file named by
``OPEL_CONFIG`` (default ``config/opel.env`` when that file exists), the defaults below. Every
variable is documented in ``config/opel.example.env`` and ``docs/configuration.md``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from opel.forecast.settings import WarningSettings
from opel.validation_errors import field_problems
from streams.settings_secrets import (
    SECRETS_FILE_FIELD,
    EnvFileWithoutSecrets,
    SecretSettingError,
    SecretsFileSource,
)

ENV_PREFIX: Final = "OPEL_"
CONFIG_ENV: Final = "OPEL_CONFIG"
DEFAULT_CONFIG_FILE: Final = Path("config/opel.env")
BROKER_URL_FILE: Final = "broker.url"
"""Name of the file in ``data_dir`` where `opel run` records the address of the broker it started."""

MIN_MESSAGE_BYTES: Final = 1024
MAX_MESSAGE_BYTES: Final = 10 * 1024 * 1024
STORE_SCHEMES: Final = ("memory://", "rocksdb://")
LOG_LEVELS: Final = ("debug", "info", "warning", "error", "critical")

REMOVAL: Final = re.compile(r"(area|indicator|site):[A-Za-z0-9][A-Za-z0-9_.-]*")
"""One entry of OPEL_CONFIRM_CATALOGUE_REMOVALS: what kind of thing may go, and its id."""

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")


class SettingsError(ValueError):
    """Settings that cannot be used; the message names each offending ``OPEL_*`` variable."""


def check_host(host: str) -> str:
    """``host`` if it is a literal IPv4/IPv6 address or an RFC 1123 host name, else ValueError."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if len(host) > 253 or not _HOSTNAME.fullmatch(host):
            raise ValueError(f"must be an IP address or a host name, got {host!r}") from None
    return host


def parse_broker_url(text: str) -> tuple[tuple[str, int], ...]:
    """Split ``kafka://host:port[;host2:port]`` or ``host:port[,host2:port]`` into (host, port) pairs.

    IPv6 hosts go in brackets (``[::1]:9092``). Raises ValueError naming the part that is wrong.
    """
    body = text.strip()
    if "://" in body:
        scheme, _, body = body.partition("://")
        if scheme != "kafka":
            raise ValueError(f"the only scheme understood is kafka://, got {text!r}")
    parts = [part.strip() for part in re.split(r"[;,]", body)]
    if not body or any(not part for part in parts):
        raise ValueError(f"expected host:port or kafka://host:port[;host:port], got {text!r}")
    servers: list[tuple[str, int]] = []
    for part in parts:
        if part.startswith("["):
            host, bracket, rest = part[1:].partition("]")
            port_text = rest.removeprefix(":") if bracket and rest.startswith(":") else ""
        else:
            host, _, port_text = part.rpartition(":")
        if not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"expected host:port with a port 1-65535, got {part!r} in {text!r}")
        check_host(host)
        servers.append((host, int(port_text)))
    return tuple(servers)


def _join(servers: tuple[tuple[str, int], ...], separator: str) -> str:
    return separator.join(f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host, port in servers)


def bootstrap_servers(url: str) -> str:
    """A broker URL in either accepted form as aiokafka's ``host:port,host:port``."""
    return _join(parse_broker_url(url), ",")


def faust_broker_url(url: str) -> str:
    """A broker URL in either accepted form as Faust's ``kafka://host:port;host:port``."""
    return "kafka://" + _join(parse_broker_url(url), ";")


def _default_routing_file() -> Path | None:
    # Imported when settings are built, not when this module is: the routing module brings the
    # holiday calendar, which `opel assess` (whose CLI imports this module) never needs.
    from opel.alerting.routing import default_routing_file  # noqa: PLC0415

    return default_routing_file()


class Settings(BaseSettings):
    """Everything the worker and the Kafka commands need to know about their environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        case_sensitive=False,
        env_file_encoding="utf-8",
        validate_default=True,
    )

    broker_url: str | None = Field(
        default=None,
        description=(
            "Kafka bootstrap servers as kafka://host:port[;host:port] or host:port[,host:port]. "
            "Unset: `opel run` starts the embedded broker and writes its address to <data_dir>/broker.url."
        ),
    )
    partitions: int = Field(
        default=4, description="Partition count of every OPEL topic (the worker's tables are co-partitioned)."
    )
    store: str = Field(
        default="memory://",
        description="Faust table store: memory:// (tests, demos) or rocksdb:// (production).",
    )
    data_dir: Path = Field(
        default=Path(".opel-data"), description="Folder for table stores, broker data and broker.url."
    )
    app_id: str = Field(
        default="opel", description="Faust application id: consumer group and prefix of internal topics."
    )
    web_host: str = Field(default="127.0.0.1", description="Address the web server (health, metrics) binds.")
    web_port: int = Field(default=8080, description="Port of the web server; 0 picks a free port.")
    indicator_catalogue: str = Field(
        default="kcc-asch-2025-26", description="Indicator trigger catalogue: a shipped name or a YAML path."
    )
    acute_catalogue: str = Field(
        default="nhs-acute-2023-24", description="Acute parameter catalogue: a shipped name or a YAML path."
    )
    catalogue_dir: Path | None = Field(
        default=None, description="Folder of extra catalogue YAML files, watched for new versions."
    )
    allow_draft_catalogues: bool = Field(
        default=False,
        description=(
            "Let the worker run a catalogue whose status is draft (tests, exercises). Off: a draft "
            "is refused at start-up and on reload."
        ),
    )
    confirm_catalogue_removals: str = Field(
        default="",
        description=(
            "Areas, indicators and acute sites a reloaded catalogue may drop, comma-separated as "
            "area:ID, indicator:ID or site:ID. Any other drop is refused."
        ),
    )
    step_down_dwell: timedelta | None = Field(
        default=None,
        description=(
            "How long a lower level must hold before stepping down, as ISO 8601 (PT4H) or seconds. "
            "Unset: the indicator catalogue's value."
        ),
    )
    tick_interval: float = Field(
        default=15.0, description="Seconds between clock ticks that let dwell and expiry happen without data."
    )
    idle_grace: timedelta = Field(
        default=timedelta(seconds=60),
        description=(
            "Wall time after which a silent area or site stops holding back the county or system "
            "(which merge their members in event-time order), as ISO 8601 (PT1M) or seconds."
        ),
    )
    source_idle: timedelta = Field(
        default=timedelta(seconds=10),
        description=(
            "How long an input topic must have had nothing new for an area, with its partition read "
            "to the end, before ingest stops waiting for it when merging the area's inputs in "
            "event-time order, as ISO 8601 (PT10S) or seconds."
        ),
    )
    max_clock_skew: timedelta = Field(
        default=timedelta(minutes=5),
        description="How far ahead of the worker's clock an input's time may be before it is dead-lettered.",
    )
    max_input_age: timedelta = Field(
        default=timedelta(days=400),
        description="How old an input's time may be before it is dead-lettered (too_old).",
    )
    max_override: timedelta = Field(
        default=timedelta(days=14),
        description="The longest an override may last (expires_at - at); longer ones are refused.",
    )
    warning_min_confidence: float = Field(
        default=WarningSettings().min_confidence,
        ge=0,
        le=1,
        description=(
            "Early warning: the share of pairs of recent readings that must reach the next band "
            "within a horizon for a warning to open (docs/early-warning.md)."
        ),
    )
    warning_min_lead_hours: float = Field(
        default=WarningSettings().min_lead_hours,
        ge=0,
        description=(
            "Early warning: the fewest hours ahead a projected crossing must lie for a warning to open."
        ),
    )
    max_message_bytes: int = Field(
        default=512 * 1024, description="Largest inbound message accepted; bigger ones are dead-lettered."
    )
    fetch_max_wait_ms: int = Field(
        default=100,
        description=(
            "Longest a consumer fetch may wait at the broker for data, milliseconds. Tansu holds "
            "a fetch for all of it, so it bounds each hop's latency."
        ),
    )
    session_timeout: float = Field(
        default=6.0,
        description="Kafka consumer session timeout, seconds (Tansu holds a first join for half).",
    )
    heartbeat_interval: float = Field(
        default=1.0, description="Kafka consumer heartbeat interval, seconds; below the session timeout."
    )
    delivery: Literal["auto", "at_least_once", "exactly_once"] = Field(
        default="auto",
        description=(
            "Delivery guarantee of the worker's stages: exactly_once (Kafka transactions: outputs, "
            "tables and input offsets committed together), at_least_once (idempotent consumers), "
            "or auto: exactly_once where the broker supports transactions. exactly_once on a "
            "broker without them stops the start."
        ),
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="How every Kafka client connects: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="PLAIN", description="SASL mechanism with SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(
        default=None,
        description="SASL password: from the environment or OPEL_KAFKA_SECRETS_FILE, never the env file.",
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) the brokers' certificates must chain to; unset: the system's.",
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None, description="PEM client certificate (chain), for brokers that require one."
    )
    kafka_ssl_keyfile: Path | None = Field(
        default=None,
        description="PEM private key of the client certificate (unset: in the certificate file).",
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None,
        description="Password of an encrypted client key: from the environment or the secrets file only.",
    )
    kafka_secrets_file: Path | None = Field(
        default=None,
        description="YAML file of NAME: value with OPEL_KAFKA_SASL_PASSWORD, OPEL_KAFKA_SSL_KEY_PASSWORD.",
    )
    exercise: bool = Field(
        default=False, description="Mark every escalation and alert as an exercise (training, testing)."
    )
    routing_file: Path | None = Field(
        default_factory=_default_routing_file,
        description=(
            "YAML file saying which alert goes to whom, by role and level; default: the shipped "
            "config/routing.yaml (log channel and board only, no secrets needed) in a source checkout."
        ),
    )
    partners_file: Path | None = Field(
        default=None,
        description=(
            "YAML file of partners' webhooks that receive escalation events as signed CloudEvents "
            "(config/partners.example.yaml, docs/partners.md); unset: no partner deliveries."
        ),
    )
    api_config: Path | None = Field(
        default=None,
        description=(
            "YAML file of API principals, roles and token variables (config/api.example.yaml); "
            "unset: the example, where reads are open and writes need tokens from the environment."
        ),
    )
    log_level: str = Field(default="info", description="One of debug, info, warning, error, critical.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The env file is chosen when settings are read, not at import, so OPEL_CONFIG set by a
        # test or a wrapper script after import still counts. Secrets are refused there and read
        # from the environment or the secrets file, which may itself be named in the env file.
        env_file = EnvFileWithoutSecrets(settings_cls, env_file=config_file())

        def secrets_file() -> Any:
            for source in (init_settings, env_settings, env_file):
                named = source().get(SECRETS_FILE_FIELD)
                if named is not None and str(named).strip():
                    return named
            return None

        return init_settings, env_settings, SecretsFileSource(settings_cls, secrets_file), env_file

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Read the settings, turning validation errors into a SettingsError naming the variables."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise SettingsError(describe_settings_error(exc)) from None
        except SecretSettingError as exc:
            raise SettingsError(str(exc)) from None

    @field_validator("broker_url")
    @classmethod
    def _broker_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parse_broker_url(value)
        return value.strip()

    @field_validator("routing_file", "partners_file", mode="before")
    @classmethod
    def _routing_off(cls, value: Any) -> Any:
        # OPEL_ROUTING_FILE= (empty) is how alerting is switched off now that it is on by default.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator(
        "kafka_sasl_username",
        "kafka_ssl_cafile",
        "kafka_ssl_certfile",
        "kafka_ssl_keyfile",
        "kafka_secrets_file",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")
    @classmethod
    def _existing_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file {str(value)!r}")
        return value

    @field_validator("partitions")
    @classmethod
    def _partitions(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be 1 or more, got {value}")
        return value

    @field_validator("store")
    @classmethod
    def _store(cls, value: str) -> str:
        if not value.startswith(STORE_SCHEMES):
            raise ValueError(f"must start with one of {', '.join(STORE_SCHEMES)}, got {value!r}")
        return value

    @field_validator("app_id")
    @classmethod
    def _app_id(cls, value: str) -> str:
        # It becomes part of Kafka topic and group names, which allow only these characters.
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", value):
            raise ValueError(f"must be 1-100 letters, digits, '.', '_' or '-', got {value!r}")
        return value

    @field_validator("web_host")
    @classmethod
    def _web_host(cls, value: str) -> str:
        return check_host(value)

    @field_validator("web_port")
    @classmethod
    def _web_port(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError(f"must be a port 0-65535, got {value}")
        return value

    @field_validator("indicator_catalogue", "acute_catalogue")
    @classmethod
    def _catalogue(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a catalogue or a YAML file, got an empty value")
        return value.strip()

    @field_validator("confirm_catalogue_removals")
    @classmethod
    def _removals(cls, value: str) -> str:
        items = [item.strip() for item in value.split(",") if item.strip()]
        for item in items:
            if not REMOVAL.fullmatch(item):
                raise ValueError(f"expected area:ID, indicator:ID or site:ID, got {item!r}")
        return ",".join(items)

    @field_validator(
        "step_down_dwell",
        "idle_grace",
        "source_idle",
        "max_clock_skew",
        "max_input_age",
        "max_override",
        mode="before",
    )
    @classmethod
    def _dwell_seconds(cls, value: Any) -> Any:
        # pydantic reads a bare number as seconds only when it is a number, and env values are text.
        if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value.strip()):
            return float(value)
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("step_down_dwell", "idle_grace", "source_idle", "max_clock_skew")
    @classmethod
    def _dwell(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(0):
            raise ValueError(f"must not be negative, got {value}")
        return value

    @field_validator("max_input_age", "max_override")
    @classmethod
    def _positive_span(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError(f"must be longer than zero, got {value}")
        return value

    @field_validator("tick_interval", "session_timeout", "heartbeat_interval")
    @classmethod
    def _positive_seconds(cls, value: float) -> float:
        if not value > 0 or value == float("inf"):
            raise ValueError(f"must be a positive number of seconds, got {value}")
        return value

    @field_validator("max_message_bytes")
    @classmethod
    def _max_message_bytes(cls, value: int) -> int:
        if not MIN_MESSAGE_BYTES <= value <= MAX_MESSAGE_BYTES:
            raise ValueError(
                f"must be between {MIN_MESSAGE_BYTES} and {MAX_MESSAGE_BYTES} bytes, got {value}"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().lower()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
        return level

    @model_validator(mode="after")
    def _heartbeat_below_session(self) -> Settings:
        # Kafka drops a member that misses heartbeats for a whole session timeout.
        if self.heartbeat_interval >= self.session_timeout:
            raise ValueError(
                f"OPEL_HEARTBEAT_INTERVAL ({self.heartbeat_interval}) must be less than "
                f"OPEL_SESSION_TIMEOUT ({self.session_timeout})"
            )
        return self

    @model_validator(mode="after")
    def _kafka_security(self) -> Settings:
        # Settings the chosen protocol would ignore are refused: a half-secured configuration
        # that silently connects another way is worse than one that does not start.
        protocol = self.kafka_security_protocol
        sasl = protocol.startswith("SASL_")
        tls = protocol.endswith("SSL")
        where = f"with OPEL_KAFKA_SECURITY_PROTOCOL={protocol}"
        if sasl and (self.kafka_sasl_username is None or self.kafka_sasl_password is None):
            missing = " and ".join(
                name
                for name, value in (
                    ("OPEL_KAFKA_SASL_USERNAME", self.kafka_sasl_username),
                    ("OPEL_KAFKA_SASL_PASSWORD", self.kafka_sasl_password),
                )
                if value is None
            )
            raise ValueError(f"{missing}: required {where}")
        unused: list[tuple[str, object]] = []
        if not sasl:
            unused += [
                ("OPEL_KAFKA_SASL_USERNAME", self.kafka_sasl_username),
                ("OPEL_KAFKA_SASL_PASSWORD", self.kafka_sasl_password),
            ]
        if not tls:
            unused += [
                ("OPEL_KAFKA_SSL_CAFILE", self.kafka_ssl_cafile),
                ("OPEL_KAFKA_SSL_CERTFILE", self.kafka_ssl_certfile),
                ("OPEL_KAFKA_SSL_KEYFILE", self.kafka_ssl_keyfile),
            ]
        for name, value in unused:
            if value is not None:
                uses = "SSL or SASL_SSL" if "_SSL_" in name else "SASL_PLAINTEXT or SASL_SSL"
                raise ValueError(f"{name}: only used with {uses}, not {where}")
        if self.kafka_ssl_certfile is None and self.kafka_ssl_keyfile is not None:
            raise ValueError("OPEL_KAFKA_SSL_KEYFILE: set without OPEL_KAFKA_SSL_CERTFILE")
        return self

    # ------------------------------------------------------------------ derived values
    @property
    def catalogue_removals_confirmed(self) -> frozenset[str]:
        """``OPEL_CONFIRM_CATALOGUE_REMOVALS`` as a set of ``kind:id`` entries."""
        return frozenset(item for item in self.confirm_catalogue_removals.split(",") if item)

    @property
    def broker_url_file(self) -> Path:
        """Where `opel run` records the embedded broker's address for the other commands."""
        return self.data_dir / BROKER_URL_FILE

    def with_broker(self, url: str) -> Settings:
        """A copy pointing at ``url`` (e.g. the embedded broker once it has a port)."""
        try:
            parse_broker_url(url)
        except ValueError as exc:
            raise SettingsError(f"OPEL_BROKER_URL: {exc}") from None
        return self.model_copy(update={"broker_url": url.strip()})

    def kafka_bootstrap(self) -> str:
        """The broker as aiokafka's ``bootstrap_servers`` (``host:port,host:port``)."""
        return bootstrap_servers(self._require_broker())

    def faust_broker(self) -> str:
        """The broker as Faust's ``broker`` setting (``kafka://host:port;host:port``)."""
        return faust_broker_url(self._require_broker())

    def _require_broker(self) -> str:
        if self.broker_url is None:
            raise SettingsError(
                "OPEL_BROKER_URL: not set; start the embedded broker first and use with_broker(url)"
            )
        return self.broker_url


def config_file() -> Path | None:
    """The env file to read: ``OPEL_CONFIG`` if set (it must exist), else config/opel.env if present."""
    named = os.environ.get(CONFIG_ENV, "").strip()
    if named:
        path = Path(named)
        if not path.is_file():
            raise SettingsError(f"{CONFIG_ENV}: no such file {named!r}")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def describe_settings_error(exc: ValidationError) -> str:
    """One line per problem, each starting with the ``OPEL_*`` variable it concerns."""
    lines = []
    for problem in field_problems(exc, noun="setting"):
        if not problem.loc:
            lines.append(problem.problem)  # a rule across fields already names its variables
            continue
        name = str(problem.loc[0]).upper()
        lines.append(f"{name if name.startswith(ENV_PREFIX) else env_name(name)}: {problem.problem}")
    return "\n".join(lines)
