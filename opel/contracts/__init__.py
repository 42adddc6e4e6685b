"""Every message opel writes, declared once: its writer and all its readers use these models.

``status`` (opel.status.v1), ``escalation`` (opel.escalations.v1, a CloudEvent),
``alert`` (opel.alerts.v1), ``audit`` (opel.audit.v1), ``deadletter`` (opel.deadletter.v1) and
``stage`` (the internal topics between ingest and the stateful stages). The published JSON
Schemas in docs/schemas/ are generated from them (:mod:`opel.schemas`).

Pure pydantic models: no Kafka, no asyncio. Every model refuses fields it does not know, so a
writer that adds a field without changing its model fails the contract tests instead of
silencing a reader in production.
"""
