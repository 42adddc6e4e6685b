"""Which delivery guarantee the worker runs with, chosen once at start from what the broker offers.

``OPEL_DELIVERY`` is ``auto`` (the default), ``at_least_once`` or ``exactly_once``:

- **exactly_once**: Kafka transactions. Each stateful stage commits its outputs (statuses,
  escalations, audit records, county reports), its table's changelog and its input offsets in
  one transaction (``streams/app.py``, ``streams/faust_transport.py``), and ingest commits the
  stage messages it produces with its input offsets likewise (``streams/ingest.py``); every
  reader of those topics that matters reads ``read_committed``. A kill -9 then leaves no record
  of an unfinished transaction visible, so none is published twice.
- **at_least_once**: what runs where the broker has no transactions: outputs are acknowledged
  before the table and the offsets are written, and a crash replays the rest, which the stages'
  deterministic ids and duplicate checks make harmless (docs/semantics.md).

Producers are idempotent wherever the broker gives producer ids, in either mode, so a retried
send is never written twice.

What the broker offers is found out, not assumed: an API listed in ApiVersions is not enough
(the embedded Tansu broker lists InitProducerId and the transaction APIs, then answers every
InitProducerId with an unknown error). :func:`probe` asks for a producer id, first plain
(idempotence) and then with a transactional id (transactions); neither writes a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Final, Literal

from aiokafka.conn import create_conn

from streams import kafka_security
from streams.kafka_security import PLAINTEXT, KafkaSecurity
from streams.settings import parse_broker_url

log = logging.getLogger(__name__)

Mode = Literal["exactly_once", "at_least_once"]
Setting = Literal["auto", "at_least_once", "exactly_once"]

INIT_PRODUCER_ID: Final = 22
TRANSACTION_APIS: Final = {
    24: "AddPartitionsToTxn",
    25: "AddOffsetsToTxn",
    26: "EndTxn",
    28: "TxnOffsetCommit",
}
TRANSACTION_TIMEOUT_MS: Final = 300_000
"""How long the broker lets a transaction stay open before it aborts it and fences its producer
(aiokafka's default is 60 s). A broker paused or a leader elected for longer than that while a
commit was in flight fenced the worker's producers, and the worker stopped with status 1 for its
supervisor to restart; 5 minutes rides out such a pause instead. It costs nothing after a crash:
whichever worker takes the partition next fences the old producer and aborts its open transaction
at once (same transactional id). It must not exceed the brokers' ``transaction.max.timeout.ms``
(15 minutes by default, and on the managed services)."""

PROBE_TIMEOUT: Final = 30.0
"""Seconds a probe may take: Apache Kafka creates its transaction log on the first transactional
producer, which takes a few seconds on a fresh cluster."""


class DeliveryError(RuntimeError):
    """``OPEL_DELIVERY=exactly_once`` on a broker without transactions: the one-line reason."""


@dataclass(frozen=True)
class Support:
    """What the broker gave when asked (``detail`` says why not, for the start-up log)."""

    idempotence: bool
    transactions: bool
    detail: str = ""


@dataclass(frozen=True)
class Delivery:
    """The mode in force and what it rests on; every Kafka client of the worker is built from it."""

    mode: Mode
    support: Support

    @property
    def transactional(self) -> bool:
        return self.mode == "exactly_once"

    @property
    def idempotent(self) -> bool:
        return self.support.idempotence

    @property
    def isolation_level(self) -> str:
        """What readers of opel's topics use: read_committed once transactions write them."""
        return "read_committed" if self.transactional else "read_uncommitted"

    def describe(self) -> str:
        producers = "idempotent producers" if self.idempotent else "plain producers (no producer ids)"
        if self.transactional:
            return f"exactly_once (Kafka transactions, read_committed readers, {producers})"
        why = f": {self.support.detail}" if self.support.detail else ""
        return f"at_least_once ({producers}, idempotent stages{why})"


AT_LEAST_ONCE: Final = Delivery("at_least_once", Support(idempotence=False, transactions=False))
"""Plain producers, no transactions: what tests and tools get unless they ask."""


async def _api_versions(
    bootstrap: str, security: KafkaSecurity, timeout: float
) -> dict[int, tuple[int, int]]:
    problems = []
    for host, port in parse_broker_url(bootstrap):
        try:
            conn = await asyncio.wait_for(
                create_conn(host, port, client_id="opel-delivery-probe", **security.client_options()), timeout
            )
        except Exception as exc:  # the next server may answer; the last error is said if none does
            problems.append(f"{host}:{port}: {type(exc).__name__}: {exc}")
            continue
        try:
            return dict(conn._versions)
        finally:
            with contextlib.suppress(Exception):
                conn.close()
    raise ConnectionError("; ".join(problems) or f"no server in {bootstrap!r}")


async def _producer_id(
    bootstrap: str, security: KafkaSecurity, timeout: float, **options: object
) -> str | None:
    """None when a producer with ``options`` got its producer id; else why not."""
    producer = kafka_security.producer(
        bootstrap, security=security, client_id="opel-delivery-probe", **options
    )
    try:
        await asyncio.wait_for(producer.start(), timeout)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), timeout)
    return None


async def probe(
    bootstrap: str, *, security: KafkaSecurity = PLAINTEXT, probe_id: str, timeout: float = PROBE_TIMEOUT
) -> Support:
    """Ask the broker for a producer id, plain and then transactional (``probe_id``)."""
    versions = await _api_versions(bootstrap, security, timeout)
    if INIT_PRODUCER_ID not in versions:
        return Support(False, False, "the broker has no InitProducerId API")
    refused = await _producer_id(bootstrap, security, timeout, enable_idempotence=True)
    if refused is not None:
        return Support(False, False, f"the broker refused a producer id ({refused})")
    missing = [name for key, name in TRANSACTION_APIS.items() if key not in versions]
    if missing:
        return Support(True, False, f"the broker has no {', '.join(missing)} API")
    refused = await _producer_id(bootstrap, security, timeout, transactional_id=probe_id)
    if refused is not None:
        return Support(True, False, f"the broker refused a transactional producer id ({refused})")
    return Support(True, True)


def choose(setting: Setting, support: Support) -> Delivery:
    """The mode for ``setting`` on a broker with ``support``; DeliveryError if it cannot be had."""
    if setting == "exactly_once" and not support.transactions:
        raise DeliveryError(
            "OPEL_DELIVERY=exactly_once needs Kafka transactions, and this broker has none "
            f"({support.detail or 'not offered'}); use OPEL_DELIVERY=auto or at_least_once"
        )
    if setting == "at_least_once" or not support.transactions:
        return Delivery("at_least_once", support)
    return Delivery("exactly_once", support)


async def resolve(
    setting: Setting, bootstrap: str, *, security: KafkaSecurity = PLAINTEXT, probe_id: str
) -> Delivery:
    """Probe the broker and choose the mode for ``setting`` (see :func:`choose`)."""
    return choose(setting, await probe(bootstrap, security=security, probe_id=probe_id))
