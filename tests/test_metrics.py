"""streams.metrics: names, types, labels and values as Prometheus scrapes them.

Each test builds its own OpelMetrics on a fresh registry (with a clock it controls), renders the
exposition with generate_latest and parses it back, so what is asserted is what a scrape sees.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from streams import metrics
from streams.metrics import (
    ALERT_CHANNELS,
    ALERT_OUTCOMES,
    ALERTING_INPUTS,
    DEADLETTER_REASONS,
    DIRECTIONS,
    LATENCY_BUCKETS,
    READING_OUTCOMES,
    SCOPE_KINDS,
    STAGE_STEPS,
    STAGES,
    STATUS_VIEW_INPUTS,
    OpelMetrics,
)
from streams.topics import ACUTE, CAPACITY, COMMANDS, INPUT_TOPICS, REFERRALS

NOW = datetime(2025, 11, 12, 12, 0, tzinfo=UTC).timestamp()
OBSERVED = "2025-11-12T09:30:00+00:00"
OBSERVED_TS = datetime(2025, 11, 12, 9, 30, tzinfo=UTC).timestamp()
IDENT = re.compile(r"[a-z][a-z0-9_-]{0,63}")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Scrape:
    """One parsed scrape: families by name and a sample lookup by name and labels."""

    def __init__(self, registry: CollectorRegistry) -> None:
        text = generate_latest(registry).decode()
        self.families = {f.name: f for f in text_string_to_metric_families(text)}

    def samples(self, name: str) -> list[Sample]:
        return [s for f in self.families.values() for s in f.samples if s.name == name]

    def value(self, name: str, **labels: str) -> float | None:
        found = [s.value for s in self.samples(name) if s.labels == labels]
        assert len(found) <= 1, f"{name}{labels} appears {len(found)} times"
        return found[0] if found else None

    def type_of(self, family: str) -> str:
        return str(self.families[family].type)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def m(clock: Clock) -> OpelMetrics:
    return OpelMetrics(CollectorRegistry(), clock=clock)


def scrape(m: OpelMetrics) -> Scrape:
    return Scrape(m.registry)


def indicator_status(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "scope": "indicator/referrals/dgs",
        "kind": "indicator",
        "area": "dgs",
        "indicator": "referrals",
        "site": None,
        "system": None,
        "county": None,
        "level": 3,
        "colour": "red",
        "computed_level": 3,
        "computed_colour": "red",
        "state_level": 3,
        "override": None,
        "value": 48,
        "explanation": "referrals = 48 in dgs is in the published band 40-59: OPEL 3 red",
        "catalogue": "kcc-asch-2025-26",
        "catalogue_version": "1.8",
        "observed_at": OBSERVED,
        "since": OBSERVED,
        "updated_at": OBSERVED,
    }
    value.update(overrides)
    return value


def site_status(**overrides: Any) -> dict[str, Any]:
    value = indicator_status(
        scope="site/maidstone",
        kind="site",
        area=None,
        indicator=None,
        site="maidstone",
        system="west_kent",
        level=2,
        computed_level=2,
        value=None,
        score=14,
        normalised_score=31.8,
        score_max=44,
        complete=True,
        missing=[],
    )
    value.update(overrides)
    return value


def level_labels(
    kind: str, area: str = "", indicator: str = "", site: str = "", system: str = ""
) -> dict[str, str]:
    return {"kind": kind, "area": area, "indicator": indicator, "site": site, "system": system}


# ---------------------------------------------------------------------- families


def test_every_family_has_its_conventional_name_type_and_help(m: OpelMetrics) -> None:
    m.apply_status(indicator_status())
    m.apply_status(site_status())
    m.set_catalogue_info("indicators", "kcc-asch-2025-26", "1.8")
    m.set_consumer_lag(CAPACITY, 0, 5)
    m.set_delivery_mode("at_least_once")
    s = scrape(m)
    expected = {
        "opel_readings": "counter",
        "opel_deadletters": "counter",
        "opel_transitions": "counter",
        "opel_alert_deliveries": "counter",
        "opel_consumer_lag_polls": "counter",
        "opel_alerting_refused": "counter",
        "opel_partner_deliveries": "counter",
        "opel_status_view_refused": "counter",
        "opel_stage_retries": "counter",
        "opel_stage_unprocessable": "counter",
        "opel_processing_latency_seconds": "histogram",
        "opel_level": "gauge",
        "opel_computed_level": "gauge",
        "opel_acute_score": "gauge",
        "opel_acute_normalised_score": "gauge",
        "opel_catalogue_info": "gauge",
        "opel_delivery_mode": "gauge",
        "opel_exercise_running": "gauge",
        "opel_consumer_lag_messages": "gauge",
        "opel_indicator_last_update_timestamp_seconds": "gauge",
        "opel_indicator_age_seconds": "gauge",
    }
    assert {name: s.type_of(name) for name in expected} == expected
    # prometheus_client adds a <counter>_created gauge beside each counter and histogram.
    assert {name for name in s.families if not name.endswith("_created")} == set(expected)
    for family in s.families.values():
        assert family.documentation, f"{family.name} has no help text"
    assert s.samples("opel_readings_total"), "counters are exposed with the _total suffix"


def test_counters_start_at_zero_for_every_known_label_set(m: OpelMetrics) -> None:
    s = scrape(m)
    for topic in INPUT_TOPICS:
        for outcome in READING_OUTCOMES:
            assert s.value("opel_readings_total", topic=topic, outcome=outcome) == 0.0
        for reason in DEADLETTER_REASONS:
            assert s.value("opel_deadletters_total", topic=topic, reason=reason) == 0.0
    for kind in SCOPE_KINDS:
        for direction in DIRECTIONS:
            assert s.value("opel_transitions_total", kind=kind, direction=direction) == 0.0
    for channel in ALERT_CHANNELS:
        for outcome in ALERT_OUTCOMES:
            assert s.value("opel_alert_deliveries_total", channel=channel, outcome=outcome) == 0.0
    for name in ALERTING_INPUTS:
        assert s.value("opel_alerting_refused_total", input=name) == 0.0
    for name in STATUS_VIEW_INPUTS:
        assert s.value("opel_status_view_refused_total", input=name) == 0.0
    for stage in STAGES:
        assert s.value("opel_stage_unprocessable_total", stage=stage) == 0.0
        for step in STAGE_STEPS:
            assert s.value("opel_stage_retries_total", stage=stage, step=step) == 0.0


# ---------------------------------------------------------------------- counters


def test_record_reading_counts_by_topic_and_outcome(m: OpelMetrics) -> None:
    for _ in range(3):
        m.record_reading(CAPACITY, "assessed")
    m.record_reading(REFERRALS, "duplicate")
    m.record_reading(CAPACITY, "assessed", 40)  # a stage counts a whole batch at once
    s = scrape(m)
    assert s.value("opel_readings_total", topic=CAPACITY, outcome="assessed") == 43.0
    assert s.value("opel_readings_total", topic=REFERRALS, outcome="duplicate") == 1.0
    assert s.value("opel_readings_total", topic=CAPACITY, outcome="stale") == 0.0


def test_unknown_topics_outcomes_and_reasons_collapse_to_other(m: OpelMetrics) -> None:
    for i in range(50):
        m.record_reading(f"rogue.topic.{i}", f"weird{i}")
        m.record_deadletter(ACUTE, f"reason-{i}")
        m.record_transition("planet", "sideways")
        m.record_alert("pigeon", "lost")
    s = scrape(m)
    assert s.value("opel_readings_total", topic="other", outcome="other") == 50.0
    assert s.value("opel_deadletters_total", topic=ACUTE, reason="other") == 50.0
    assert s.value("opel_transitions_total", kind="other", direction="other") == 50.0
    assert s.value("opel_alert_deliveries_total", channel="other", outcome="other") == 50.0
    topics = {smp.labels["topic"] for smp in s.samples("opel_readings_total")}
    assert topics == {*INPUT_TOPICS, "other"}


def test_deadletters_transitions_and_alerts_are_counted(m: OpelMetrics) -> None:
    m.record_deadletter(CAPACITY, "bad_json")
    m.record_deadletter(CAPACITY, "bad_json")
    m.record_deadletter(COMMANDS, "invalid")
    m.record_transition("area", "escalation")
    m.record_transition("county", "de-escalation")
    m.record_alert("email", "sent")
    m.record_alert("webhook", "failed")
    m.record_alert("webhook", "retried")
    s = scrape(m)
    assert s.value("opel_deadletters_total", topic=CAPACITY, reason="bad_json") == 2.0
    assert s.value("opel_deadletters_total", topic=COMMANDS, reason="invalid") == 1.0
    assert s.value("opel_transitions_total", kind="area", direction="escalation") == 1.0
    assert s.value("opel_transitions_total", kind="county", direction="de-escalation") == 1.0
    assert s.value("opel_alert_deliveries_total", channel="email", outcome="sent") == 1.0
    assert s.value("opel_alert_deliveries_total", channel="webhook", outcome="failed") == 1.0
    assert s.value("opel_alert_deliveries_total", channel="webhook", outcome="retried") == 1.0


def test_refusals_are_counted_by_input(m: OpelMetrics) -> None:
    m.record_alerting_refused("status")
    m.record_alerting_refused("status")
    m.record_alerting_refused("escalation")
    m.record_alerting_refused("a message from nowhere")
    m.record_status_view_refused("audit")
    m.record_status_view_refused("ack")  # the view reads no acks: other
    s = scrape(m)
    assert s.value("opel_alerting_refused_total", input="status") == 2.0
    assert s.value("opel_alerting_refused_total", input="escalation") == 1.0
    assert s.value("opel_alerting_refused_total", input="ack") == 0.0
    assert s.value("opel_alerting_refused_total", input="other") == 1.0
    assert s.value("opel_status_view_refused_total", input="audit") == 1.0
    assert s.value("opel_status_view_refused_total", input="status") == 0.0
    assert s.value("opel_status_view_refused_total", input="other") == 1.0


def test_partner_deliveries_are_counted_by_partner_and_outcome(m: OpelMetrics) -> None:
    m.add_partner("kmpt")
    assert scrape(m).value("opel_partner_deliveries_total", partner="kmpt", outcome="given_up") == 0.0
    m.record_partner_delivery("kmpt", "retrying")
    m.record_partner_delivery("kmpt", "delivered")
    m.record_partner_delivery("kmpt", "no-such-outcome")
    s = scrape(m)
    assert s.value("opel_partner_deliveries_total", partner="kmpt", outcome="retrying") == 1.0
    assert s.value("opel_partner_deliveries_total", partner="kmpt", outcome="delivered") == 1.0
    assert s.value("opel_partner_deliveries_total", partner="kmpt", outcome="other") == 1.0


def test_stage_retries_and_unprocessable_messages_are_counted(m: OpelMetrics) -> None:
    m.record_stage_retry("area", "publish")
    m.record_stage_retry("area", "publish")
    m.record_stage_retry("county", "commit")
    m.record_stage_retry("a stage from nowhere", "fly")
    m.record_stage_unprocessable("system")
    m.record_stage_unprocessable("elsewhere")
    s = scrape(m)
    assert s.value("opel_stage_retries_total", stage="area", step="publish") == 2.0
    assert s.value("opel_stage_retries_total", stage="county", step="commit") == 1.0
    assert s.value("opel_stage_retries_total", stage="other", step="other") == 1.0
    assert s.value("opel_stage_unprocessable_total", stage="system") == 1.0
    assert s.value("opel_stage_unprocessable_total", stage="other") == 1.0


def test_stage_counters_live_in_the_one_metrics_module() -> None:
    # One registry, one place: the old streams.stage_metrics module is gone.
    with pytest.raises(ImportError):
        __import__("streams.stage_metrics")


def test_processing_latency_histogram_buckets_and_guards(m: OpelMetrics) -> None:
    for seconds in (0.004, 0.02, 0.3, 12.0, 45.0):
        m.observe_processing(seconds)
    m.observe_processing(-0.5)  # clock skew: counted as 0
    m.observe_processing(math.nan)  # ignored
    m.observe_processing(math.inf)  # ignored
    s = scrape(m)
    buckets = {smp.labels["le"]: smp.value for smp in s.samples("opel_processing_latency_seconds_bucket")}
    assert [float(le) for le in buckets if le != "+Inf"] == list(LATENCY_BUCKETS)
    assert LATENCY_BUCKETS[0] == 0.005
    assert LATENCY_BUCKETS[-1] == 30.0
    assert buckets["0.005"] == 2.0  # 0.004 and the clamped -0.5
    assert buckets["0.025"] == 3.0
    assert buckets["0.5"] == 4.0
    assert buckets["30.0"] == 5.0
    assert buckets["+Inf"] == 6.0
    assert s.value("opel_processing_latency_seconds_count") == 6.0
    assert s.value("opel_processing_latency_seconds_sum") == pytest.approx(0.004 + 0.02 + 0.3 + 12.0 + 45.0)


# ---------------------------------------------------------------------- status


def test_indicator_status_sets_levels_and_freshness(m: OpelMetrics, clock: Clock) -> None:
    m.apply_status(indicator_status())
    s = scrape(m)
    labels = level_labels("indicator", area="dgs", indicator="referrals")
    assert s.value("opel_level", **labels) == 3.0
    assert s.value("opel_computed_level", **labels) == 3.0
    assert s.value("opel_indicator_last_update_timestamp_seconds", area="dgs", indicator="referrals") == (
        OBSERVED_TS
    )
    assert s.value("opel_indicator_age_seconds", area="dgs", indicator="referrals") == NOW - OBSERVED_TS
    assert s.samples("opel_acute_score") == []

    clock.now += 3600.0  # the age is computed at scrape time, so it grows while the feed is silent
    later = scrape(m)
    assert later.value("opel_indicator_age_seconds", area="dgs", indicator="referrals") == (
        NOW + 3600.0 - OBSERVED_TS
    )


def test_override_shows_level_in_force_beside_computed(m: OpelMetrics) -> None:
    m.apply_status(
        indicator_status(
            scope="area/east_kent",
            kind="area",
            area="east_kent",
            indicator=None,
            level=4,
            computed_level=2,
        )
    )
    s = scrape(m)
    labels = level_labels("area", area="east_kent")
    assert s.value("opel_level", **labels) == 4.0
    assert s.value("opel_computed_level", **labels) == 2.0
    assert s.samples("opel_indicator_last_update_timestamp_seconds") == [], "only indicator scopes"


def test_null_level_removes_the_series_but_keeps_freshness(m: OpelMetrics) -> None:
    m.apply_status(indicator_status())
    m.apply_status(indicator_status(level=None, colour=None, computed_level=None, observed_at=None))
    s = scrape(m)
    assert s.samples("opel_level") == []
    assert s.samples("opel_computed_level") == []
    # No newer data arrived, so the last update stays what it was.
    assert s.value("opel_indicator_last_update_timestamp_seconds", area="dgs", indicator="referrals") == (
        OBSERVED_TS
    )

    m.apply_status(indicator_status(level=None, computed_level=1))
    s = scrape(m)
    labels = level_labels("indicator", area="dgs", indicator="referrals")
    assert s.value("opel_level", **labels) is None
    assert s.value("opel_computed_level", **labels) == 1.0


def test_county_and_system_scopes(m: OpelMetrics) -> None:
    m.apply_status(indicator_status(scope="county/kent", kind="county", area=None, indicator=None, level=2))
    m.apply_status(
        site_status(scope="system/west_kent", kind="system", site=None, system="west_kent", level=3, score=30)
    )
    s = scrape(m)
    assert s.value("opel_level", **level_labels("county")) == 2.0
    assert s.value("opel_level", **level_labels("system", system="west_kent")) == 3.0
    assert s.value("opel_acute_score", kind="system", site="", system="west_kent") == 30.0


def test_site_status_sets_scores_and_null_score_removes_them(m: OpelMetrics) -> None:
    m.apply_status(site_status())
    s = scrape(m)
    assert s.value("opel_level", **level_labels("site", site="maidstone", system="west_kent")) == 2.0
    assert s.value("opel_acute_score", kind="site", site="maidstone", system="west_kent") == 14.0
    assert s.value("opel_acute_normalised_score", kind="site", site="maidstone", system="west_kent") == 31.8

    m.apply_status(site_status(score=None, normalised_score=None, level=None, computed_level=None))
    s = scrape(m)
    assert s.samples("opel_acute_score") == []
    assert s.samples("opel_acute_normalised_score") == []
    assert s.samples("opel_level") == []


def test_scope_ids_that_are_not_identifiers_become_other(m: OpelMetrics) -> None:
    m.apply_status(
        indicator_status(scope="indicator/x/y", area="DGS; drop", indicator="x" * 80, kind="weird")
    )
    s = scrape(m)
    assert s.value("opel_level", **level_labels("other", area="other", indicator="other")) == 3.0


def test_observed_at_without_timezone_is_ignored(m: OpelMetrics) -> None:
    m.apply_status(indicator_status(observed_at="2025-11-12T09:30:00"))
    m.apply_status(
        indicator_status(scope="indicator/referrals/swale", area="swale", observed_at="not a time")
    )
    assert scrape(m).samples("opel_indicator_last_update_timestamp_seconds") == []


def test_age_is_never_negative_for_data_dated_in_the_future(m: OpelMetrics) -> None:
    m.apply_status(indicator_status(observed_at="2025-11-12T13:00:00+00:00"))
    assert scrape(m).value("opel_indicator_age_seconds", area="dgs", indicator="referrals") == 0.0


def test_forget_scope_removes_every_series_of_that_scope(m: OpelMetrics) -> None:
    m.apply_status(indicator_status())
    m.apply_status(site_status())
    m.forget_scope("indicator/referrals/dgs")
    m.forget_scope("site/maidstone")
    m.forget_scope("never/seen")
    s = scrape(m)
    for name in (
        "opel_level",
        "opel_computed_level",
        "opel_acute_score",
        "opel_acute_normalised_score",
        "opel_indicator_last_update_timestamp_seconds",
        "opel_indicator_age_seconds",
    ):
        assert s.samples(name) == [], name


def test_status_with_changed_labels_moves_its_series(m: OpelMetrics) -> None:
    m.apply_status(site_status())
    m.apply_status(site_status(system="east_kent"))
    s = scrape(m)
    assert [smp.labels["system"] for smp in s.samples("opel_level")] == ["east_kent"]
    assert [smp.labels["system"] for smp in s.samples("opel_acute_score")] == ["east_kent"]


status_values = st.dictionaries(
    st.sampled_from(
        [
            *("scope", "kind", "area", "indicator", "site", "system"),
            *("level", "computed_level", "score", "normalised_score", "observed_at"),
        ]
    ),
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 10),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=70),
        st.sampled_from([*SCOPE_KINDS, "dgs", "west_kent", OBSERVED, "2025-11-12T09:30:00"]),
        st.lists(st.integers(), max_size=2),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(status_values, max_size=6))
def test_arbitrary_status_values_never_raise_and_keep_labels_bounded(values: list[dict[str, Any]]) -> None:
    m = OpelMetrics(CollectorRegistry(), clock=Clock(NOW))
    for value in values:
        m.apply_status(value)
    s = scrape(m)
    for name in ("opel_level", "opel_computed_level", "opel_acute_score", "opel_acute_normalised_score"):
        for smp in s.samples(name):
            assert smp.labels["kind"] in {*SCOPE_KINDS, "other"}
            for key in ("area", "indicator", "site", "system"):
                part = smp.labels.get(key, "")
                assert part == "" or IDENT.fullmatch(part), (name, smp.labels)
            assert math.isfinite(smp.value)
        if name.endswith("level"):
            assert all(smp.value in {1.0, 2.0, 3.0, 4.0} for smp in s.samples(name))


# ---------------------------------------------------------------------- info and lag


def test_catalogue_info_keeps_one_series_per_catalogue(m: OpelMetrics) -> None:
    m.set_catalogue_info("indicators", "kcc-asch-2025-26", "1.7")
    m.set_catalogue_info("indicators", "kcc-asch-2025-26", "1.8")
    m.set_catalogue_info("acute", "nhs-acute-2023-24", "2023.1")
    m.set_catalogue_info("nonsense", "Bad Id", "v 1")
    s = scrape(m)
    assert {tuple(sorted(smp.labels.items())): smp.value for smp in s.samples("opel_catalogue_info")} == {
        (("catalogue", "kcc-asch-2025-26"), ("kind", "indicators"), ("version", "1.8")): 1.0,
        (("catalogue", "nhs-acute-2023-24"), ("kind", "acute"), ("version", "2023.1")): 1.0,
        (("catalogue", "other"), ("kind", "other"), ("version", "other")): 1.0,
    }


def test_delivery_mode_is_one_series_for_the_mode_in_force(m: OpelMetrics) -> None:
    m.set_delivery_mode("exactly_once")
    m.set_delivery_mode("at_least_once")  # a second start in the same process replaces it
    m.set_delivery_mode("maybe")
    s = scrape(m)
    assert {smp.labels["mode"]: smp.value for smp in s.samples("opel_delivery_mode")} == {"other": 1.0}
    m.set_delivery_mode("exactly_once")
    s = scrape(m)
    assert {smp.labels["mode"]: smp.value for smp in s.samples("opel_delivery_mode")} == {"exactly_once": 1.0}


def test_consumer_lag_gauge(m: OpelMetrics) -> None:
    m.set_consumer_lag(CAPACITY, 0, 12)
    m.set_consumer_lag(CAPACITY, 3, -4)  # a commit can briefly pass the end offset we read
    m.set_consumer_lag("elsewhere", -1, 7)
    s = scrape(m)
    assert s.value("opel_consumer_lag_messages", topic=CAPACITY, partition="0") == 12.0
    assert s.value("opel_consumer_lag_messages", topic=CAPACITY, partition="3") == 0.0
    assert s.value("opel_consumer_lag_messages", topic="other", partition="other") == 7.0


# ---------------------------------------------------------------------- module level


@pytest.fixture
def module_scrape() -> Iterator[None]:
    yield
    metrics.forget_scope("indicator/keah_capacity/swale")


def test_module_functions_feed_the_module_registry(module_scrape: None) -> None:
    before = Scrape(metrics.REGISTRY)
    metrics.record_reading(CAPACITY, "not_assessed")
    metrics.record_deadletter(CAPACITY, "too_large")
    metrics.record_transition("site", "initial")
    metrics.record_alert("log", "sent")
    metrics.record_alerting_refused("ack")
    metrics.record_status_view_refused("status")
    metrics.record_stage_retry("system", "compute")
    metrics.record_stage_unprocessable("county")
    metrics.observe_processing(0.1)
    metrics.apply_status(
        indicator_status(
            scope="indicator/keah_capacity/swale", area="swale", indicator="keah_capacity", level=1
        )
    )
    metrics.set_catalogue_info("level_map", "nhs-opel-2024-26-levels", "1.0")
    metrics.set_consumer_lag(ACUTE, 2, 9)
    after = Scrape(metrics.REGISTRY)

    def delta(name: str, **labels: str) -> float:
        return (after.value(name, **labels) or 0.0) - (before.value(name, **labels) or 0.0)

    assert delta("opel_readings_total", topic=CAPACITY, outcome="not_assessed") == 1.0
    assert delta("opel_deadletters_total", topic=CAPACITY, reason="too_large") == 1.0
    assert delta("opel_transitions_total", kind="site", direction="initial") == 1.0
    assert delta("opel_alert_deliveries_total", channel="log", outcome="sent") == 1.0
    assert delta("opel_alerting_refused_total", input="ack") == 1.0
    assert delta("opel_status_view_refused_total", input="status") == 1.0
    assert delta("opel_stage_retries_total", stage="system", step="compute") == 1.0
    assert delta("opel_stage_unprocessable_total", stage="county") == 1.0
    assert delta("opel_processing_latency_seconds_count") == 1.0
    assert (
        after.value("opel_level", **level_labels("indicator", area="swale", indicator="keah_capacity")) == 1.0
    )
    assert after.value("opel_indicator_age_seconds", area="swale", indicator="keah_capacity") is not None
    catalogue = {"kind": "level_map", "catalogue": "nhs-opel-2024-26-levels", "version": "1.0"}
    assert after.value("opel_catalogue_info", **catalogue) == 1.0
    assert after.value("opel_consumer_lag_messages", topic=ACUTE, partition="2") == 9.0
    # The module registry also carries the process's own health (CPU, memory, open files).
    assert "process_cpu_seconds" in after.families or "python_info" in after.families
