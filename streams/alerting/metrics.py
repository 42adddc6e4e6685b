"""The alerting service's own Prometheus series, on the service registry (``streams.metrics.REGISTRY``).

``opel_alerting_refused_total{input}``: messages alerting read but could not use, by input
(``status``, ``escalation``, ``ack``). A refused status is a scope whose deadlines go
unwatched and a refused escalation an alert nobody gets, so any increase is worth an alert;
the error log next to it says which message and why.
"""

from __future__ import annotations

from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter

from streams.metrics import REGISTRY

RefusedInput = Literal["status", "escalation", "ack"]
REFUSED_INPUTS: Final[tuple[RefusedInput, ...]] = ("status", "escalation", "ack")


class AlertingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.refused = Counter(
            "opel_alerting_refused",
            "Messages the alerting service read but refused (not valid against their contract), by input.",
            ["input"],
            registry=registry,
        )
        for name in REFUSED_INPUTS:
            self.refused.labels(name)  # start at zero, so rate() sees the first refusal

    def record_refused(self, input: RefusedInput) -> None:
        self.refused.labels(input).inc()


METRICS: Final = AlertingMetrics(REGISTRY)


def record_refused(input: RefusedInput) -> None:
    METRICS.record_refused(input)
