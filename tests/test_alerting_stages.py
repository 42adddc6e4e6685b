"""Each delivery stage as a table of (inputs, now) -> decision and reason."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from opel.alerting import stages
from opel.alerting.routing import EscalationPolicyConfig, PolicyLevel, RetryPolicy, Timing

T0 = datetime(2025, 11, 12, 9, 30, tzinfo=UTC)
S = timedelta(seconds=1)
TIMING = Timing(group_wait=30 * S, group_interval=300 * S, repeat_interval=3600 * S, hold=600 * S)


@pytest.mark.parametrize(
    ("pending", "sent", "incoming", "act", "reason"),
    [
        (None, False, 3, False, "nothing pending"),
        (2, False, 3, True, "OPEL 3 supersedes pending OPEL 2"),
        (3, False, 2, True, "latest wins"),
        (2, True, 3, False, "already sent"),
    ],
)
def test_inhibit(pending: int | None, sent: bool, incoming: int, act: bool, reason: str) -> None:
    decision = stages.inhibit(pending, sent, incoming, "area/dgs")
    assert decision.act is act
    assert reason in decision.reason


@pytest.mark.parametrize(
    ("last_sent", "raises", "due", "reason"),
    [
        (None, True, T0 + 30 * S, "first message"),
        (T0 - 10 * S, True, T0 + 30 * S, "level rose"),
        (T0 - 10 * S, False, T0 + 290 * S, "group_interval"),
        (T0 - 1000 * S, False, T0 + 30 * S, "group_interval"),
    ],
)
def test_group_due(last_sent: datetime | None, raises: bool, due: datetime, reason: str) -> None:
    decision = stages.group_due(T0, TIMING, last_sent, raises_level=raises)
    assert decision.at == due
    assert reason in decision.reason


@pytest.mark.parametrize(
    ("dues", "now", "act", "at"),
    [
        ([], T0, False, None),
        ([T0 + 5 * S, T0 + 9 * S], T0, False, T0 + 5 * S),
        ([T0 + 5 * S, T0 + 9 * S], T0 + 5 * S, True, T0 + 5 * S),
        ([T0 - S], T0, True, T0 - S),
    ],
)
def test_group_flush(dues: list[datetime], now: datetime, act: bool, at: datetime | None) -> None:
    decision = stages.group_flush(dues, now)
    assert (decision.act, decision.at) == (act, at)


@pytest.mark.parametrize(("elapsed", "act"), [(599, False), (600, True), (900, True)])
def test_flap_hold(elapsed: int, act: bool) -> None:
    decision = stages.flap_hold(T0, TIMING.hold, T0 + elapsed * S)
    assert decision.act is act
    assert decision.at == T0 + TIMING.hold
    assert ("flap damping" in decision.reason) is not act


@pytest.mark.parametrize(
    ("told", "new", "sent", "act"),
    [
        (3, 3, False, True),
        (3, 2, False, False),
        (3, 4, False, False),
        (3, 3, True, False),
        (None, 3, False, False),
    ],
)
def test_refire_within_hold(told: int | None, new: int, sent: bool, act: bool) -> None:
    assert stages.refire_within_hold(told, new, sent).act is act


def test_dedup() -> None:
    assert stages.dedup("a", {"a", "b"}).act is False
    assert "already in the notification log" in stages.dedup("a", {"a"}).reason
    assert stages.dedup("c", {"a"}).act is True


@pytest.mark.parametrize(
    ("notified", "repeats", "acked", "now", "act", "at"),
    [
        (None, 0, False, T0, False, None),
        (T0, 0, False, T0 + 3599 * S, False, T0 + 3600 * S),
        (T0, 0, False, T0 + 3600 * S, True, T0 + 3600 * S),
        (T0, 1, False, T0 + 3600 * S, False, T0 + 7200 * S),
        (T0, 1, False, T0 + 7200 * S, True, T0 + 7200 * S),  # anchored on the first message
        (T0, 0, True, T0 + 9999 * S, False, None),
    ],
)
def test_repeat_due(  # noqa: PLR0917  (one argument per table column)
    notified: datetime | None, repeats: int, acked: bool, now: datetime, act: bool, at: datetime | None
) -> None:
    decision = stages.repeat_due(notified, repeats, TIMING.repeat_interval, acked, now)
    assert (decision.act, decision.at) == (act, at)


POLICY = EscalationPolicyConfig(
    min_level=3,
    loops=1,
    levels=(
        PolicyLevel(roles=("pascc_ops_manager",), delay=600 * S),
        PolicyLevel(roles=("assistant_director",), delay=1200 * S),
    ),
)


@pytest.mark.parametrize(
    ("step", "roles", "due"),
    [
        (0, ("pascc_ops_manager",), T0 + 600 * S),
        (1, ("assistant_director",), T0 + 1800 * S),
        (2, ("pascc_ops_manager",), T0 + 2400 * S),  # second loop
        (3, ("assistant_director",), T0 + 3600 * S),
    ],
)
def test_policy_steps(step: int, roles: tuple[str, ...], due: datetime) -> None:
    result = stages.policy_step_due(step, POLICY, T0)
    assert result is not None
    assert (result.roles, result.due) == (roles, due)


def test_policy_exhausted_after_loops() -> None:
    assert stages.policy_step_due(4, POLICY, T0) is None


@pytest.mark.parametrize(
    ("level", "policy", "notified", "steps", "acked", "now", "act", "reason"),
    [
        (3, None, T0, 0, False, T0, False, "no escalation policy"),
        (2, POLICY, T0, 0, False, T0 + 9999 * S, False, "below the policy"),
        (3, POLICY, None, 0, False, T0, False, "not sent yet"),
        (3, POLICY, T0, 0, True, T0 + 9999 * S, False, "acknowledged"),
        (3, POLICY, T0, 0, False, T0 + 599 * S, False, "step 1"),
        (4, POLICY, T0, 0, False, T0 + 600 * S, True, "tells pascc_ops_manager"),
        (3, POLICY, T0, 1, False, T0 + 1800 * S, True, "tells assistant_director"),
        (3, POLICY, T0, 4, False, T0 + 99999 * S, False, "exhausted"),
    ],
)
def test_escalate_next(  # noqa: PLR0917  (one argument per table column)
    level: int,
    policy: EscalationPolicyConfig | None,
    notified: datetime | None,
    steps: int,
    acked: bool,
    now: datetime,
    act: bool,
    reason: str,
) -> None:
    decision, _ = stages.escalate_next(
        level, policy=policy, notified_at=notified, steps_done=steps, acked=acked, now=now
    )
    assert decision.act is act
    assert reason in decision.reason


class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


RETRY = RetryPolicy(initial=2 * S, maximum=30 * S, factor=2.0, jitter=0.5, attempts=6)


@pytest.mark.parametrize(
    ("attempts", "rand", "act", "delay"),
    [
        (1, 0.0, True, 2.0),
        (2, 0.0, True, 4.0),
        (3, 0.0, True, 8.0),
        (5, 0.0, True, 30.0),  # 32 capped at 30
        (5, 1.0, True, 15.0),  # full jitter takes off half
        (2, 0.5, True, 3.0),
        (6, 0.0, False, None),
    ],
)
def test_retry_backoff(attempts: int, rand: float, act: bool, delay: float | None) -> None:
    decision = stages.retry_after(attempts, RETRY, T0, FixedRandom(rand))
    assert decision.act is act
    if delay is None:
        assert decision.at is None
        assert "gave up" in decision.reason
    else:
        assert decision.at == T0 + timedelta(seconds=delay)


def test_retry_never_exceeds_the_cap() -> None:
    rng = random.Random(7)
    for attempts in range(1, 6):
        decision = stages.retry_after(attempts, RETRY, T0, rng)
        assert decision.at is not None
        assert timedelta(0) < decision.at - T0 <= RETRY.maximum
