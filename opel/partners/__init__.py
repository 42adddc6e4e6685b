"""Partners without Kafka: escalation events as signed CloudEvents over HTTP (docs/partners.md)."""
