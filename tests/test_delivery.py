"""The delivery guarantee chosen from OPEL_DELIVERY and what the broker gave (streams/delivery.py),
and the Faust app each mode builds. The probes against real brokers are in
tests/integration/test_exactly_once.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streams.app import Outputs, create_app
from streams.catalogues import CatalogueStore
from streams.delivery import TRANSACTION_TIMEOUT_MS, Delivery, DeliveryError, Support, choose
from streams.settings import Settings

KAFKA = Support(idempotence=True, transactions=True)
TANSU = Support(False, False, "the broker refused a producer id (UnknownError: [Error -1] UnknownError)")
IDS_ONLY = Support(True, False, "the broker has no EndTxn API")


@pytest.mark.parametrize(
    ("setting", "support", "mode"),
    [
        ("auto", KAFKA, "exactly_once"),
        ("auto", TANSU, "at_least_once"),
        ("auto", IDS_ONLY, "at_least_once"),
        ("at_least_once", KAFKA, "at_least_once"),
        ("exactly_once", KAFKA, "exactly_once"),
    ],
)
def test_the_mode_follows_the_setting_and_what_the_broker_gave(
    setting: str, support: Support, mode: str
) -> None:
    chosen = choose(setting, support)  # type: ignore[arg-type]
    assert chosen.mode == mode
    assert chosen.isolation_level == ("read_committed" if mode == "exactly_once" else "read_uncommitted")
    assert chosen.idempotent == support.idempotence


@pytest.mark.parametrize("support", [TANSU, IDS_ONLY])
def test_exactly_once_without_transactions_is_refused_naming_the_setting_and_why(support: Support) -> None:
    with pytest.raises(DeliveryError) as refused:
        choose("exactly_once", support)
    assert str(refused.value) == (
        "OPEL_DELIVERY=exactly_once needs Kafka transactions, and this broker has none "
        f"({support.detail}); use OPEL_DELIVERY=auto or at_least_once"
    )


def test_the_start_up_line_says_the_mode_and_why() -> None:
    assert choose("auto", KAFKA).describe() == (
        "exactly_once (Kafka transactions, read_committed readers, idempotent producers)"
    )
    assert choose("auto", TANSU).describe() == (
        "at_least_once (plain producers (no producer ids), idempotent stages: the broker refused a "
        "producer id (UnknownError: [Error -1] UnknownError))"
    )


async def built_app(support: Support, tmp_path: Path) -> tuple[Any, Delivery]:
    """The Faust app the worker builds for what the broker gave, and the delivery chosen.

    Built, not started: no broker is needed to see what the app was configured with."""
    settings = Settings.load(broker_url="kafka://127.0.0.1:9", data_dir=tmp_path, catalogue_dir=None)
    delivery: Delivery = choose("auto", support)
    outputs = Outputs(settings.kafka_bootstrap(), idempotent=delivery.idempotent)
    try:
        app = create_app(settings, CatalogueStore(settings), outputs, delivery=delivery)
    finally:
        await outputs.stop()  # never started: closes the producer object
    return app, delivery


@pytest.mark.parametrize("support", [KAFKA, TANSU])
async def test_each_mode_builds_its_faust_app(support: Support, tmp_path: Path) -> None:
    app, delivery = await built_app(support, tmp_path)
    assert app.in_transaction is delivery.transactional
    assert str(app.conf.processing_guarantee.value) == delivery.mode
    assert app.conf.broker_commit_interval == (0.5 if delivery.transactional else 2.8)
    assert app.conf.producer_max_batch_size == 512 * 1024


@pytest.mark.parametrize("support", [KAFKA, TANSU])
async def test_transactional_producers_outlast_a_minute_long_broker_pause(
    support: Support, tmp_path: Path
) -> None:
    """A transaction open through a 60 s pause is not aborted by the broker (its default timeout
    is 60 s, which fenced the worker's producers and stopped it: test_oracle's pause on Kafka)."""
    app, delivery = await built_app(support, tmp_path)
    extra = app.producer._settings_extra()
    assert extra.get("transaction_timeout_ms") == (TRANSACTION_TIMEOUT_MS if delivery.transactional else None)
    assert TRANSACTION_TIMEOUT_MS >= 5 * 60_000
