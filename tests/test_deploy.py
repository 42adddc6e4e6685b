"""deploy/: Prometheus config and rules (checked by promtool), Grafana dashboard, Kafka compose.

The dashboard's and the rules' PromQL may only name metrics that streams/metrics.py really
exposes (read back from a rendered exposition), Prometheus's own ``up``, or a recording rule
defined in rules.yml. promtool comes from the Debian package ``prometheus``; without it these
tests skip with the command that installs it, as the browser tests do without Chromium, unless
``OPEL_REQUIRE_PROMTOOL=1`` (set by .ci/run) makes its absence a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streams.broker import EmbeddedBroker
from streams.metrics import OpelMetrics
from streams.topics import ALL_TOPIC_NAMES, CAPACITY, all_topics

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
KAFKA = DEPLOY / "kafka"
DASHBOARD = GRAFANA / "opel-dashboard.json"
METRICS_DOC = ROOT / "docs" / "metrics.md"

PROMQL_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless"}
    | {"offset", "inf", "nan", "atan2"}
)
BUILTIN_SERIES = frozenset({"up"})


# ---------------------------------------------------------------------- helpers


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def promql_metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers that are not functions, keywords or labels."""
    label_values = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", expr, re.DOTALL)
    if label_values:  # Grafana's template query: only its first argument is PromQL
        expr = label_values.group(1)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\$\{?\w+\}?", "", text)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, is_call = match.group(1), match.group(2)
        if not is_call and name not in PROMQL_KEYWORDS:
            names.add(name)
    return names


def exposition() -> str:
    """The text exposition of a registry where every OPEL metric has at least one series."""
    m = OpelMetrics(CollectorRegistry())
    m.record_reading(CAPACITY, "assessed")
    m.observe_processing(0.1)
    m.apply_status(
        {"scope": "indicator/referrals/dgs", "kind": "indicator", "area": "dgs", "indicator": "referrals"}
        | {"level": 2, "computed_level": 2, "observed_at": "2025-11-12T09:30:00+00:00"}
    )
    m.apply_status(
        {"scope": "site/maidstone", "kind": "site", "site": "maidstone", "system": "west_kent"}
        | {"level": 3, "computed_level": 3, "score": 20, "normalised_score": 45.5}
    )
    m.set_catalogue_info("indicators", "kcc-asch-2025-26", "1.8")
    m.set_consumer_lag(CAPACITY, 0, 1)
    m.record_partner_delivery("kmpt", "delivered")
    return generate_latest(m.registry).decode()


def exposed_series_names() -> set[str]:
    return {s.name for family in text_string_to_metric_families(exposition()) for s in family.samples}


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = load_yaml(PROMETHEUS / "rules.yml")["groups"]
    return groups


def rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"]]


def recorded_names() -> set[str]:
    return {str(rule["record"]) for rule in rules() if "record" in rule}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def dashboard_panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_exprs() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query-driven template variable."""
    found = [
        (f"panel {panel['title']!r} target {target['refId']}", str(target["expr"]))
        for panel in dashboard_panels()
        for target in panel.get("targets", [])
    ]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            found.append((f"variable {variable['name']}", str(text)))
    return found


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        why = "promtool not found: install the Debian package with `apt-get install -y prometheus`"
        if os.environ.get("OPEL_REQUIRE_PROMTOOL") == "1":
            pytest.fail(f"{why} (OPEL_REQUIRE_PROMTOOL=1 requires it)")
        pytest.skip(f"{why}; the Prometheus rule checks are skipped")
    return path


def run_promtool(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120, check=False
    )


# ---------------------------------------------------------------------- the PromQL name checker


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (topic) (rate(opel_readings_total{outcome="x"}[5m]))', {"opel_readings_total"}),
        ("histogram_quantile(0.99, sum by (le) (rate(a_bucket[$__rate_interval])))", {"a_bucket"}),
        ("opel_indicator_age_seconds > 26 * 3600", {"opel_indicator_age_seconds"}),
        ("a and on (job, instance) b == 0", {"a", "b"}),
        ("count(x != y) or vector(0)", {"x", "y"}),
        ('label_values(opel_level{kind="area"}, area)', {"opel_level"}),
        ("opel:x:rate5m offset 5m > 1e3", {"opel:x:rate5m"}),
    ],
)
def test_promql_name_extraction(expr: str, names: set[str]) -> None:
    assert promql_metric_names(expr) == names


# ---------------------------------------------------------------------- Prometheus


def test_promtool_check_config(promtool: str) -> None:
    result = run_promtool(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_rules(promtool: str) -> None:
    result = run_promtool(promtool, "check", "rules", "rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests(promtool: str) -> None:
    result = run_promtool(promtool, "test", "rules", "rules_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_prometheus_scrapes_the_worker_on_loopback() -> None:
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    assert config["rule_files"] == ["rules.yml"]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "opel"]
    assert job["metrics_path"] == "/metrics"
    assert [t for sc in job["static_configs"] for t in sc["targets"]] == ["127.0.0.1:8080"]


def test_rule_expressions_name_only_exposed_metrics() -> None:
    known = exposed_series_names() | BUILTIN_SERIES | recorded_names()
    for rule in rules():
        unknown = promql_metric_names(str(rule["expr"])) - known
        assert not unknown, f"{rule.get('alert') or rule.get('record')}: unknown metrics {sorted(unknown)}"


def test_rules_follow_naming_conventions() -> None:
    for name in recorded_names():
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", name), f"{name} is not level:metric:operations"
    for rule in rules():
        if "alert" in rule:
            assert re.fullmatch(r"Opel[A-Z][A-Za-z0-9]+", rule["alert"])
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}
            assert {"summary", "description", "runbook"} <= set(rule["annotations"])


def test_every_alert_is_tested_firing_and_silent() -> None:
    tests = load_yaml(PROMETHEUS / "rules_test.yml")["tests"]
    firing: set[str] = set()
    silent: set[str] = set()
    for test in tests:
        for case in test.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    alerts = {str(rule["alert"]) for rule in rules() if "alert" in rule}
    assert alerts - firing == set(), "alerts never shown firing"
    assert alerts - silent == set(), "alerts never shown silent"


def test_required_alerts_exist() -> None:
    alerts = {str(rule["alert"]): rule for rule in rules() if "alert" in rule}
    assert {
        "OpelWorkerDown",
        "OpelConsumerLagHigh",
        "OpelIndicatorStale",
        "OpelDeadLettersHigh",
        "OpelAlertDeliveryFailing",
        "OpelCountyLevelHigh",
        "OpelAlertingInputRefused",
        "OpelStatusViewRefused",
        "OpelStageUnprocessable",
    } <= set(alerts)
    assert "opel_stage_unprocessable_total" in alerts["OpelStageUnprocessable"]["expr"]
    assert alerts["OpelStageUnprocessable"]["labels"]["severity"] == "critical"
    assert alerts["OpelWorkerDown"]["expr"] == 'up{job="opel"} == 0'
    assert alerts["OpelWorkerDown"]["for"] == "2m"
    assert alerts["OpelCountyLevelHigh"]["labels"]["severity"] == "info"


# ---------------------------------------------------------------------- Grafana


def test_dashboard_parses_and_is_provisionable() -> None:
    board = dashboard()
    assert board["uid"] == "opel-overview"
    assert board["title"]
    assert board["timezone"] == "Europe/London"
    ids = [panel["id"] for panel in dashboard_panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard_panels():
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], f"panel {panel['title']!r} has no query"
            assert panel["description"], f"panel {panel['title']!r} has no description"


def test_dashboard_covers_what_the_reader_needs() -> None:
    exprs = " ".join(expr for _, expr in dashboard_exprs())
    for metric in (
        "opel_level",
        "opel_computed_level",
        "opel_acute_score",
        "opel_acute_normalised_score",
        "opel_indicator_age_seconds",
        "opel_deadletters_total",
        "opel_transitions_total",
        "opel_alert_deliveries_total",
        "opel_consumer_lag_messages",
        "opel_processing_latency_seconds_bucket",
        "opel_readings_total",
        "opel_catalogue_info",
        "opel_alerting_refused_total",
        "opel_status_view_refused_total",
    ):
        assert metric in exprs, f"no panel shows {metric}"
    assert "histogram_quantile(0.5," in exprs
    assert "histogram_quantile(0.99," in exprs


def test_dashboard_queries_name_only_exposed_metrics() -> None:
    known = exposed_series_names() | BUILTIN_SERIES | recorded_names()
    for where, expr in dashboard_exprs():
        names = promql_metric_names(expr)
        assert names, f"{where}: no metric found in {expr!r}"
        assert names <= known, f"{where}: unknown metrics {sorted(names - known)}"


def test_grafana_provisioning_points_at_prometheus_and_the_dashboard() -> None:
    datasources = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://127.0.0.1:9090"
    providers = load_yaml(GRAFANA / "provisioning" / "dashboards" / "opel.yml")
    (provider,) = providers["providers"]
    compose = load_yaml(KAFKA / "compose.yaml")
    mounts = compose["services"]["grafana"]["volumes"]
    assert any(m.endswith(f"{provider['options']['path']}/opel-dashboard.json:ro") for m in mounts)


# ---------------------------------------------------------------------- Kafka deployment


def test_compose_file_describes_kafka_worker_and_monitoring() -> None:
    compose = load_yaml(KAFKA / "compose.yaml")
    services = compose["services"]
    assert {"kafka", "topics", "opel", "prometheus", "grafana"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    worker = services["opel"]["environment"]
    assert worker["OPEL_BROKER_URL"] == "kafka://127.0.0.1:9092"
    assert worker["OPEL_STORE"] == "rocksdb://"
    assert worker["OPEL_WEB_PORT"] == "8080"
    assert services["opel"]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert "create_topics.py" in " ".join(services["topics"]["command"])
    text = (KAFKA / "compose.yaml").read_text(encoding="utf-8")
    assert "0.0.0.0" not in text, "services bind loopback only"
    assert all(service.get("network_mode") == "host" for service in services.values())


def test_create_topics_dry_run_lists_every_topic(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("create_topics", KAFKA / "create_topics.py")
    assert spec is not None
    assert spec.loader is not None
    create_topics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(create_topics)
    assert create_topics.main(["--bootstrap", "127.0.0.1:1", "--dry-run", "--partitions", "6"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(ALL_TOPIC_NAMES)
    assert all("partitions=6" in line for line in lines)
    assert "opel.status.v1 partitions=6 replicas=1 config=cleanup.policy=compact" in lines
    assert create_topics.main(["--bootstrap", "127.0.0.1:1", "--partitions", "0"]) == 2


@pytest.mark.integration
@pytest.mark.slow
def test_create_topics_against_a_real_broker(tmp_path: Path) -> None:
    broker = EmbeddedBroker(log_path=tmp_path / "tansu.log")
    broker.start(timeout=60)
    try:
        script = [sys.executable, str(KAFKA / "create_topics.py"), "--bootstrap", broker.bootstrap]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        def run(*extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*script, *extra], capture_output=True, text=True, timeout=180, check=False, env=env
            )

        first = run("--timeout", "60")
        assert first.returncode == 0, first.stdout + first.stderr
        assert sorted(line.split()[1] for line in first.stdout.splitlines()) == sorted(ALL_TOPIC_NAMES)
        assert all(line.startswith("created ") for line in first.stdout.splitlines())

        again = run("--timeout", "60")  # idempotent: everything exists as specified
        assert again.returncode == 0, again.stdout + again.stderr
        assert all(line.startswith("exists ") for line in again.stdout.splitlines())

        mismatch = run("--timeout", "60", "--partitions", "2")
        assert mismatch.returncode == 1
        assert f"{all_topics()[0].name}: exists with 4 partitions, opel needs 2" in mismatch.stderr

        unreachable = subprocess.run(
            [sys.executable, str(KAFKA / "create_topics.py"), "--bootstrap", "127.0.0.1:1", "--timeout", "3"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
        )
        assert unreachable.returncode == 1
        assert "cannot create topics on 127.0.0.1:1" in unreachable.stderr
    finally:
        broker.stop()


# ---------------------------------------------------------------------- the runbook


def test_metrics_doc_covers_every_metric_and_alert() -> None:
    doc = METRICS_DOC.read_text(encoding="utf-8")
    families = {
        f.name for f in text_string_to_metric_families(exposition()) if not f.name.endswith("_created")
    }
    assert len(families) == 21
    assert {
        "opel_stage_retries",
        "opel_stage_unprocessable",
        "opel_delivery_mode",
        "opel_partner_deliveries",
        "opel_exercise_running",
    } <= families
    for family in families:
        assert f"`{family}" in doc, f"docs/metrics.md does not describe {family}"
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in doc.splitlines()
        if line.startswith("#")
    }
    for rule in rules():
        if "alert" in rule:
            anchor = str(rule["annotations"]["runbook"]).split("#", 1)[1]
            assert anchor in headings, f"runbook anchor #{anchor} of {rule['alert']} is not a heading"


def test_deploy_readme_names_only_real_settings_and_commands() -> None:
    """deploy/README.md documents the launcher and the managed-cluster settings (issue 12, point
    9): each OPEL_ setting it names is documented in docs/configuration.md, the launcher command
    it shows parses, and the docs/kafka.md section it sends readers to exists."""
    readme = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    configuration = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\bOPEL_[A-Z_]+[A-Z]\b", readme))
    assert {"OPEL_KAFKA_SECURITY_PROTOCOL", "OPEL_KAFKA_SECRETS_FILE"} <= named
    assert sorted(n for n in named if f"`{n}`" not in configuration) == []
    assert "python -m streams.apache_kafka run --nodes 3" in readme
    from streams.apache_kafka import main  # noqa: PLC0415

    with pytest.raises(SystemExit) as done:
        main(["run", "--nodes", "3", "--help"])
    assert done.value.code == 0
    kafka_doc = (ROOT / "docs" / "kafka.md").read_text(encoding="utf-8")
    assert "## A managed cluster" in kafka_doc
