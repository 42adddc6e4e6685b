"""opel_readings_total labels each reading with the topic it really came from (it used to call
every reading a capacity reading, whatever its topic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opel.actions_load import default_action_plan
from opel.catalogue_load import load_acute_catalogue, load_indicator_catalogue
from opel.contracts.stage import ReadingItem
from opel.escalation import EscalationPolicy
from opel.stages.area import apply_area
from opel.stages.context import Context
from streams import metrics, topics
from streams.app import record_metrics

AT = datetime.now(UTC) - timedelta(hours=1)


def count(topic: str, outcome: str) -> float:
    value = metrics.REGISTRY.get_sample_value("opel_readings_total", {"topic": topic, "outcome": outcome})
    return value or 0.0


def test_each_outcome_is_counted_under_the_topic_the_reading_came_from() -> None:
    catalogue = load_indicator_catalogue("kcc-asch-2025-26")
    ctx = Context(
        catalogue=catalogue,
        acute=load_acute_catalogue("nhs-acute-2023-24"),
        actions=default_action_plan(),
        policy=EscalationPolicy(catalogue.step_down_dwell),
    )
    items = [
        ReadingItem(
            indicator="health_caseload", area="dgs", value=40, observed_at=AT, source=topics.REFERRALS
        ),
        ReadingItem(
            indicator="stp_staffing_pct", area="dgs", value=80, observed_at=AT, source=topics.CAPACITY
        ),
    ]
    before = (count(topics.REFERRALS, "assessed"), count(topics.CAPACITY, "assessed"))
    _, emit, statuses = apply_area(None, "dgs", items, ctx, AT)
    record_metrics(emit, statuses, None)
    after = (count(topics.REFERRALS, "assessed"), count(topics.CAPACITY, "assessed"))
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


def test_every_dead_letter_reason_of_the_contract_has_its_own_label() -> None:
    before = metrics.REGISTRY.get_sample_value(
        "opel_deadletters_total", {"topic": topics.CAPACITY, "reason": "future_timestamp"}
    )
    metrics.record_deadletter(topics.CAPACITY, "future_timestamp")
    after = metrics.REGISTRY.get_sample_value(
        "opel_deadletters_total", {"topic": topics.CAPACITY, "reason": "future_timestamp"}
    )
    assert (after or 0) - (before or 0) == 1
