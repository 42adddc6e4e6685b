"""How every Kafka client of opel connects to a secured cluster: the one place that reads ``OPEL_KAFKA_*``.

:class:`KafkaSecurity` is built once from the settings (:func:`for_settings`): the protocol
(PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), the SASL mechanism and credentials, and a TLS context
from ``aiokafka.helpers.create_ssl_context`` with the CA file and the client certificate and key.
It gives aiokafka's keyword arguments (:meth:`KafkaSecurity.client_options`) and Faust's
(:meth:`KafkaSecurity.faust_options`, ``broker_credentials``); :func:`consumer`, :func:`producer`
and :func:`admin` build every aiokafka client of the worker and the commands with them, so no
client can be left on PLAINTEXT by accident.

aiokafka tries each bootstrap server, logs why it could not use one, and then says only
"Unable to bootstrap". :func:`check_access` connects and authenticates once, as every client
will, before anything starts, and turns a refusal into :class:`KafkaAccessError`: one line naming
the setting to fix (a wrong password names ``OPEL_KAFKA_SASL_PASSWORD``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context

from streams.settings import SettingsError, parse_broker_url

if TYPE_CHECKING:
    from streams.settings import Settings

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
CHECK_TIMEOUT: Final = 15.0
"""Seconds :func:`check_access` gives one bootstrap server to connect and authenticate."""


class KafkaAccessError(RuntimeError):
    """The cluster refused the configured security settings; the one-line message names which."""


@dataclass(frozen=True)
class KafkaSecurity:
    """The security settings every Kafka client of one process uses; the default is PLAINTEXT."""

    protocol: Protocol = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol.endswith("SSL")

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of every aiokafka client (consumer, producer, admin, connection)."""
        if self.protocol == "PLAINTEXT":
            return {}  # aiokafka's defaults: nothing to add for the embedded broker and tests
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context
        if self.sasl:
            options["sasl_mechanism"] = self.mechanism
            options["sasl_plain_username"] = self.username
            options["sasl_plain_password"] = self.password
        return options

    def faust_options(self) -> dict[str, Any]:
        """Keyword arguments of ``faust.App``: its ``broker_credentials`` (nothing for PLAINTEXT)."""
        import faust  # noqa: PLC0415  (only the worker builds a Faust app)

        credentials: Any
        if self.sasl:
            credentials = faust.SASLCredentials(
                username=self.username,
                password=self.password,
                mechanism=self.mechanism,
                ssl_context=self.ssl_context if self.tls else None,
            )
        elif self.tls:
            credentials = faust.SSLCredentials(self.ssl_context)
        else:
            return {}
        return {"broker_credentials": credentials}

    def describe(self) -> str:
        """For the start-up log: ``SASL_SSL (SCRAM-SHA-256 as 'opel')``; never the password."""
        return f"{self.protocol} ({self.mechanism} as {self.username!r})" if self.sasl else self.protocol


PLAINTEXT: Final = KafkaSecurity()


def for_settings(settings: Settings) -> KafkaSecurity:
    """The security of ``settings``; a CA, certificate or key that cannot be used is a SettingsError."""
    protocol: Protocol = settings.kafka_security_protocol
    context = _ssl_context(settings) if protocol.endswith("SSL") else None
    if not protocol.startswith("SASL_"):
        return KafkaSecurity(protocol, ssl_context=context)
    password = settings.kafka_sasl_password
    return KafkaSecurity(
        protocol,
        mechanism=settings.kafka_sasl_mechanism,
        username=settings.kafka_sasl_username,
        password=password.get_secret_value() if password is not None else None,
        ssl_context=context,
    )


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    cafile, certfile, keyfile = (
        settings.kafka_ssl_cafile,
        settings.kafka_ssl_certfile,
        settings.kafka_ssl_keyfile,
    )
    key_password = settings.kafka_ssl_key_password
    try:
        context: ssl.SSLContext = create_ssl_context(cafile=str(cafile) if cafile is not None else None)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(
            f"OPEL_KAFKA_SSL_CAFILE: cannot use {cafile} as CA certificates: {_reason(exc)}"
        ) from None
    if certfile is not None:
        try:
            context.load_cert_chain(
                str(certfile),
                str(keyfile) if keyfile is not None else None,
                key_password.get_secret_value() if key_password is not None else None,
            )
        except (OSError, ssl.SSLError) as exc:
            names = "OPEL_KAFKA_SSL_CERTFILE" + (", OPEL_KAFKA_SSL_KEYFILE" if keyfile is not None else "")
            raise SettingsError(
                f"{names}: cannot use {certfile}{f' with {keyfile}' if keyfile else ''} as the client "
                f"certificate and key: {_reason(exc)} (an encrypted key needs OPEL_KAFKA_SSL_KEY_PASSWORD)"
            ) from None
    return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# ---------------------------------------------------------------------- the one client factory
def consumer(
    bootstrap: str, *topics: str, security: KafkaSecurity = PLAINTEXT, **options: Any
) -> AIOKafkaConsumer:
    """An aiokafka consumer of ``bootstrap`` with ``security``; ``options`` as AIOKafkaConsumer's."""
    return AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, **security.client_options(), **options)


def producer(bootstrap: str, *, security: KafkaSecurity = PLAINTEXT, **options: Any) -> AIOKafkaProducer:
    """An aiokafka producer of ``bootstrap`` with ``security``; ``options`` as AIOKafkaProducer's."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **security.client_options(), **options)


def admin(bootstrap: str, *, security: KafkaSecurity = PLAINTEXT, **options: Any) -> AIOKafkaAdminClient:
    """An aiokafka admin client of ``bootstrap`` with ``security``; ``options`` as its class's."""
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security.client_options(), **options)


# ---------------------------------------------------------------------- checking before starting
async def check_access(bootstrap: str, security: KafkaSecurity, *, timeout: float = CHECK_TIMEOUT) -> None:
    """Connect and authenticate to the first bootstrap server that lets us, as every client will.

    Nothing to check for PLAINTEXT (the clients' own errors say enough there). Raises
    :class:`KafkaAccessError` with one line naming the setting to fix when no server accepts.
    """
    if security.protocol == "PLAINTEXT":
        return
    problems: list[tuple[int, str]] = []
    for host, port in parse_broker_url(bootstrap):
        where = f"{host}:{port}"
        try:
            conn = await asyncio.wait_for(
                create_conn(
                    host,
                    port,
                    client_id="opel-check-access",
                    request_timeout_ms=int(timeout * 1000),
                    **security.client_options(),
                ),
                timeout,
            )
        except (OSError, KafkaError, TimeoutError) as exc:
            problems.append(_explain(where, security, exc))
            continue
        with contextlib.suppress(Exception):
            conn.close()
        return
    # The most telling refusal wins: a broker that refused the password says more than one
    # that could not be reached.
    raise KafkaAccessError(max(problems)[1])


def _explain(where: str, security: KafkaSecurity, exc: BaseException) -> tuple[int, str]:
    """(how telling, one line) for why ``where`` could not be used with ``security``."""
    detail = str(exc).strip() or type(exc).__name__
    if isinstance(exc, SaslAuthenticationFailed):
        return (
            4,
            f"OPEL_KAFKA_SASL_PASSWORD: Kafka at {where} refused user {security.username!r} with "
            f"{security.mechanism}; check OPEL_KAFKA_SASL_USERNAME and OPEL_KAFKA_SASL_PASSWORD "
            f"(the broker said: {_strip_code(detail)})",
        )
    if isinstance(exc, UnsupportedSaslMechanismError):
        return (
            4,
            f"OPEL_KAFKA_SASL_MECHANISM: Kafka at {where} does not accept {security.mechanism}: {detail}",
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            3,
            f"OPEL_KAFKA_SSL_CAFILE: the certificate of Kafka at {where} cannot be verified "
            f"({exc.verify_message}); OPEL_KAFKA_SSL_CAFILE must name the CA that signed it",
        )
    if isinstance(exc, ssl.SSLError):
        return (
            3,
            f"OPEL_KAFKA_SECURITY_PROTOCOL={security.protocol}: the TLS handshake with Kafka at {where} "
            f"failed ({exc.reason or detail}); is it an SSL listener, and does it need a client "
            "certificate (OPEL_KAFKA_SSL_CERTFILE)?",
        )
    if isinstance(exc, KafkaConnectionError | TimeoutError):
        # Connected, then closed or silent: a listener of another protocol, or a broker that
        # dropped us after TLS because it wanted a client certificate.
        return (
            2,
            f"OPEL_KAFKA_SECURITY_PROTOCOL={security.protocol}: Kafka at {where} closed the connection or "
            f"did not answer ({detail}); check that the listener uses this protocol"
            + (", and OPEL_KAFKA_SSL_CERTFILE if it requires a client certificate" if security.tls else ""),
        )
    return (1, f"OPEL_BROKER_URL: cannot connect to Kafka at {where}: {_reason(exc)}")


def _strip_code(detail: str) -> str:
    """aiokafka's ``[Error 58] SaslAuthenticationFailed: message`` -> ``message``."""
    return detail.split(": ", 1)[1] if detail.startswith("[Error") and ": " in detail else detail
