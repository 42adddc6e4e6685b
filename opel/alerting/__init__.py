"""Alerting core: who is told about an escalation, when, and in what words.

Pure like the rest of :mod:`opel`: every decision takes ``now`` as an argument and returns a
reason, so the async shell in :mod:`streams.alerting` only has to carry out and log them.
"""
