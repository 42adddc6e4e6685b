"""Delivery of escalation events to partners' webhooks (docs/partners.md)."""
