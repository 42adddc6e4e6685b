"""The stateful stages' own Prometheus series, on the service registry (``streams.metrics.REGISTRY``).

``opel_stage_retries_total{stage, step}``: transient failures a stage retried with back-off
(``step`` is ``publish``, ``commit`` or ``compute``). A broker outage shows here; the messages
are not lost, only delayed.

``opel_stage_unprocessable_total{stage}``: stage messages that can never be processed (a bad
payload or a bug), dead-lettered with reason ``internal``. Their effect on the levels is lost,
so any increase is worth an alert; the error log next to it names the message and the error.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter

from streams.metrics import REGISTRY

STAGES: Final = ("area", "county", "system")
STEPS: Final = ("compute", "publish", "commit")


class StageMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.retries = Counter(
            "opel_stage_retries",
            "Transient failures (broker time-outs, lost connections) a stage retried, by stage and step.",
            ["stage", "step"],
            registry=registry,
        )
        self.unprocessable = Counter(
            "opel_stage_unprocessable",
            "Stage messages that can never be processed (bad payload or bug), dead-lettered as internal.",
            ["stage"],
            registry=registry,
        )
        for stage in STAGES:  # start at zero, so rate() and increase() see the first event
            self.unprocessable.labels(stage)
            for step in STEPS:
                self.retries.labels(stage, step)

    def record_retry(self, stage: str, step: str) -> None:
        self.retries.labels(stage if stage in STAGES else "other", step if step in STEPS else "other").inc()

    def record_unprocessable(self, stage: str) -> None:
        self.unprocessable.labels(stage if stage in STAGES else "other").inc()


METRICS: Final = StageMetrics(REGISTRY)


def record_retry(stage: str, step: str) -> None:
    """Count one transient failure of ``step`` in ``stage`` that is being retried."""
    METRICS.record_retry(stage, step)


def record_unprocessable(stage: str) -> None:
    """Count one stage message dead-lettered because it can never be processed."""
    METRICS.record_unprocessable(stage)
