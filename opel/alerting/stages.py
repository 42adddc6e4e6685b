"""The delivery pipeline's decisions, one pure function per stage.

Each takes what it needs plus an explicit ``now`` and returns a :class:`Decision` whose
``reason`` the shell logs and publishes, so every message sent or held back can be explained.
Order in the pipeline: inhibit, group, flap hold, dedup, repeat, escalation policy, retry.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from opel.alerting.routing import EscalationPolicyConfig, RetryPolicy, Timing


@dataclass(frozen=True, slots=True)
class Decision:
    """``act`` says whether to go ahead now; ``at`` when to look again (None: nothing to wait for)."""

    act: bool
    reason: str
    at: datetime | None = None


# --- inhibit --------------------------------------------------------------------------------


def inhibit(pending_level: int | None, pending_sent: bool, incoming_level: int, scope: str) -> Decision:
    """Does an incoming level replace a pending (not yet sent) notice for the same scope?

    ``act`` is true when the pending notice is dropped in favour of the incoming one.
    """
    if pending_level is None:
        return Decision(False, f"nothing pending for {scope}")
    if pending_sent:
        return Decision(
            False, f"OPEL {pending_level} for {scope} was already sent; OPEL {incoming_level} follows it"
        )
    if incoming_level > pending_level:
        return Decision(True, f"OPEL {incoming_level} supersedes pending OPEL {pending_level} for {scope}")
    return Decision(
        True, f"OPEL {incoming_level} replaces pending OPEL {pending_level} for {scope} (latest wins)"
    )


# --- group ----------------------------------------------------------------------------------


def group_due(
    changed_at: datetime, timing: Timing, last_sent_at: datetime | None, *, raises_level: bool
) -> Decision:
    """When a new notice in a group may go out.

    The first message of a group waits ``group_wait`` so indicators of one area escalating
    together arrive as one message. Later updates wait ``group_interval`` after the last
    message, except a rise in level, which only waits ``group_wait``: a duty manager must not
    learn of OPEL 4 minutes late because an OPEL 3 message went out shortly before.
    """
    first = changed_at + timing.group_wait
    if last_sent_at is None:
        return Decision(True, f"first message of the group, after group_wait {timing.group_wait}", first)
    if raises_level:
        return Decision(True, f"level rose: group_wait {timing.group_wait} only", first)
    later = max(first, last_sent_at + timing.group_interval)
    return Decision(True, f"update to a group already told: group_interval {timing.group_interval}", later)


def group_flush(due_times: Sequence[datetime], now: datetime) -> Decision:
    """Flush a group when its earliest pending notice is due; everything pending goes with it."""
    if not due_times:
        return Decision(False, "nothing pending")
    earliest = min(due_times)
    if earliest <= now:
        count = len(due_times)
        return Decision(
            True,
            f"{count} notice{'s' if count != 1 else ''} pending, earliest due {earliest.isoformat()}",
            earliest,
        )
    return Decision(False, f"waiting until {earliest.isoformat()}", earliest)


# --- flap hold ------------------------------------------------------------------------------


def flap_hold(resolved_at: datetime, hold: timedelta, now: datetime) -> Decision:
    """A resolved notice waits ``hold`` so a scope bouncing back does not send resolve-then-fire."""
    release = resolved_at + hold
    if now >= release:
        return Decision(True, f"resolved for {hold} without re-firing: send the resolved notice", release)
    return Decision(False, f"holding the resolved notice until {release.isoformat()} (flap damping)", release)


def refire_within_hold(notified_level: int | None, new_level: int, resolve_sent: bool) -> Decision:
    """A scope re-fires while its resolved notice is held: drop the notice if nothing changed.

    Damped, not silenced: if the level differs from the one people were told, they are told.
    """
    if resolve_sent:
        return Decision(False, "resolved notice already sent: the re-fire is a new alert")
    if notified_level is not None and new_level == notified_level:
        return Decision(
            True, f"re-fired at OPEL {new_level} within hold: people already know; resolve dropped"
        )
    return Decision(False, f"re-fired at OPEL {new_level}, not the OPEL {notified_level} people were told")


# --- dedup ----------------------------------------------------------------------------------


def dedup(delivery_id: str, logged: Collection[str]) -> Decision:
    """Send only what the notification log has not already recorded for this recipient."""
    if delivery_id in logged:
        return Decision(False, f"delivery {delivery_id} is already in the notification log")
    return Decision(True, f"delivery {delivery_id} is new")


# --- repeat ---------------------------------------------------------------------------------


def repeat_due(
    notified_at: datetime | None, repeats_sent: int, repeat_interval: timedelta, acked: bool, now: datetime
) -> Decision:
    """Repeat an unacknowledged firing alert every ``repeat_interval`` after its first message.

    Measured from the first message, not from the previous repeat, so a late tick never
    shifts the schedule: repeat ``n`` is due at exactly ``notified_at + n * repeat_interval``.
    """
    if notified_at is None:
        return Decision(False, "not sent yet")
    if acked:
        return Decision(False, "acknowledged: no more repeats")
    due = notified_at + (repeats_sent + 1) * repeat_interval
    if now >= due:
        return Decision(True, f"repeat {repeats_sent + 1} due at {due.isoformat()}", due)
    return Decision(False, f"next repeat at {due.isoformat()}", due)


# --- escalation policy ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyStep:
    index: int
    roles: tuple[str, ...]
    due: datetime


def policy_step_due(step: int, policy: EscalationPolicyConfig, notified_at: datetime) -> PolicyStep | None:
    """Step ``step`` (0-based, counting loops) of a policy, or None once all loops are done.

    Each level's delay runs from the previous level (the first from the route's first message),
    as PagerDuty does, so a loop starts again from the first level after the last one's delay.
    """
    per_loop = len(policy.levels)
    if step >= per_loop * (policy.loops + 1):
        return None
    cycle = sum((level.delay for level in policy.levels), timedelta(0))
    loop, index = divmod(step, per_loop)
    offset = sum((level.delay for level in policy.levels[: index + 1]), timedelta(0))
    return PolicyStep(step, tuple(policy.levels[index].roles), notified_at + loop * cycle + offset)


def escalate_next(
    level: int,
    *,
    policy: EscalationPolicyConfig | None,
    notified_at: datetime | None,
    steps_done: int,
    acked: bool,
    now: datetime,
) -> tuple[Decision, PolicyStep | None]:
    """Whether the next level of the escalation policy is due for an unacknowledged alert."""
    if policy is None:
        return Decision(False, "route has no escalation policy"), None
    if level < policy.min_level:
        return Decision(False, f"OPEL {level} is below the policy's OPEL {policy.min_level}"), None
    if notified_at is None:
        return Decision(False, "not sent yet"), None
    if acked:
        return Decision(False, "acknowledged: escalation stopped"), None
    step = policy_step_due(steps_done, policy, notified_at)
    if step is None:
        return Decision(False, f"policy exhausted after {steps_done} steps"), None
    roles = ", ".join(step.roles)
    if now >= step.due:
        return Decision(True, f"unacknowledged: step {step.index + 1} tells {roles}", step.due), step
    return Decision(False, f"step {step.index + 1} ({roles}) at {step.due.isoformat()}", step.due), step


# --- retry ----------------------------------------------------------------------------------


def retry_after(attempts: int, policy: RetryPolicy, now: datetime, rng: random.Random) -> Decision:
    """After ``attempts`` failed sends: wait and retry (bounded exponential, jittered) or give up.

    Jitter only shortens the wait (by up to ``jitter`` of it) so the cap is never exceeded and
    many failed deliveries do not retry in lock-step.
    """
    if attempts >= policy.attempts:
        return Decision(False, f"gave up after {attempts} attempts")
    base = policy.initial.total_seconds() * policy.factor ** max(attempts - 1, 0)
    capped = min(base, policy.maximum.total_seconds())
    wait = capped * (1.0 - policy.jitter * rng.random())
    delay = timedelta(seconds=wait)
    return Decision(True, f"attempt {attempts} failed: retry in {wait:.1f}s", now + delay)
