"""Alerting service: consumes escalations, acks and referral events; sends and records alerts."""
