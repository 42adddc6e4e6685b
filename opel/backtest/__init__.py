"""Replay and backtest: a history of inputs run through the service's own semantics.

``opel replay HISTORY... --catalogue ID|FILE [--compare ID|FILE] [--out DIR]`` (docs/replay.md)
reads readings, referral events, acute returns and escalation-group commands from JSON lines or
CSV files (:mod:`opel.backtest.history`), runs them through :func:`opel.replay.replay` (the same
stage functions the worker calls) and writes the escalation events and a summary
(:mod:`opel.backtest.run`).
"""
