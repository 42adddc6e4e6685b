"""Where an input goes: the core decides which stage key an input belongs to, and refuses ids
the catalogues in force do not know, before anything is sent on.

The streaming shell maps each destination's stage to its internal topic; it makes no domain
decision of its own. A reading is checked here (known indicator and area, a value of the kind
the rule takes) but assessed only once, by the area stage.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, NamedTuple

from opel.assess import rule_for
from opel.contracts.stage import (
    AcuteItem,
    AnyStageItem,
    OverrideItem,
    ReadingItem,
    ReferralItem,
    ResetItem,
    WithdrawItem,
)
from opel.errors import InputError
from opel.feeds import AnyCommand, Override, ReferralEvent, ResetScope, Withdraw
from opel.models import AcuteSubmission, Reading
from opel.scopes import parse_scope
from opel.stages.context import Context

Stage = Literal["area", "county", "system"]
Input = Reading | ReferralEvent | AcuteSubmission | AnyCommand


class Destination(NamedTuple):
    stage: Stage
    key: str
    item: AnyStageItem


def destinations(value: Input, ctx: Context, seen: datetime, source: str | None = None) -> list[Destination]:
    """The stage keys an input goes to, with the item each receives.

    ``source`` is an opaque name of where the input came from (the shell passes the topic),
    carried through for counting outcomes per source.

    Raises :class:`InputError` naming the field for an id the catalogues do not know. Inputs
    no stage takes (acknowledgements, which are alerting's, and catalogue reloads, which the
    shell carries out itself) go nowhere.
    """
    check_times(value, ctx, seen)
    if isinstance(value, Reading):
        check_reading(ctx, value)
        at = value.observed_at
        item = ReadingItem.trusted(
            kind="reading",
            indicator=value.indicator,
            area=value.area,
            value=value.value,
            # In UTC from here on: the escalation state compares and hashes times on every step.
            observed_at=at if at.tzinfo is UTC else at.astimezone(UTC),
            source=source,
            submitted_by=value.submitted_by,
        )
        return [Destination("area", value.area, item)]
    if isinstance(value, ReferralEvent):
        if value.area not in ctx.catalogue.areas:
            raise InputError("area", f"unknown area {value.area!r} in {ctx.catalogue.meta.id}")
        return [Destination("area", value.area, ReferralItem(event=value, source=source))]
    if isinstance(value, AcuteSubmission):
        item_ = AcuteItem(submission=value, seen=seen, source=source)
        return [Destination("system", system, item_) for system in systems_of(ctx, value.site)]
    if isinstance(value, ResetScope):
        scope = parse_scope(value.scope)
        if scope.kind not in ("indicator", "area"):
            raise InputError("scope", f"reset_scope repairs indicator and area scopes, not {value.scope!r}")
        return [
            Destination(stage, key, ResetItem(command=value)) for stage, key in _scope_keys(ctx, value.scope)
        ]
    if isinstance(value, Override | Withdraw):
        command = OverrideItem(command=value) if isinstance(value, Override) else WithdrawItem(command=value)
        return [Destination(stage, key, command) for stage, key in _scope_keys(ctx, value.scope)]
    return []


def check_times(value: Input, ctx: Context, now: datetime) -> None:
    """Refuse an input stamped too far ahead of ``now`` or too long before it, and an override
    that would last longer than the bounds allow: one bad clock must not move any state."""
    bounds = ctx.bounds
    if isinstance(value, Reading | AcuteSubmission):
        field, at = "observed_at", value.observed_at
    elif isinstance(value, ReferralEvent):
        field, at = "occurred_at", value.occurred_at
    else:
        field, at = "at", value.at
    if at > now + bounds.max_skew:
        raise InputError(
            field,
            f"{at.isoformat()} is more than {bounds.max_skew} ahead of the service's clock "
            f"({now.isoformat()}); check the sender's clock",
            "future_timestamp",
        )
    if at < now - bounds.max_age:
        raise InputError(
            field,
            f"{at.isoformat()} is more than {bounds.max_age.days} days before the service's clock "
            f"({now.isoformat()}); replay old data with opel assess instead",
            "too_old",
        )
    if isinstance(value, Override) and value.expires_at - value.at > bounds.max_override:
        raise InputError(
            "expires_at",
            f"an override may last at most {bounds.max_override}, "
            f"this one runs from {value.at.isoformat()} to {value.expires_at.isoformat()}",
        )


def check_reading(ctx: Context, reading: Reading) -> None:
    """Refuse a reading whose indicator or area is unknown, or whose value is of the wrong kind."""
    rule = rule_for(ctx.catalogue, reading.indicator, reading.area)
    value = reading.value
    if rule.table is not None:
        if isinstance(value, str):
            raise InputError("value", f"{rule.indicator.id} takes a number, got {value!r}")
    elif rule.categories and (not isinstance(value, str) or value not in rule.categories):
        choices = ", ".join(rule.categories)
        raise InputError("value", f"{rule.indicator.id} takes one of {choices}, got {value!r}")


def systems_of(ctx: Context, site: str) -> list[str]:
    acute = ctx.acute
    if site not in acute.sites:
        raise InputError(
            "site", f"unknown site {site!r} in {acute.meta.id} (known: {', '.join(acute.sites)})"
        )
    return [s.id for s in acute.systems.values() if site in s.weights]


def _scope_keys(ctx: Context, key: str) -> list[tuple[Stage, str]]:
    scope = parse_scope(key)
    if scope.kind in ("indicator", "area"):
        if scope.name not in ctx.catalogue.areas:
            raise InputError("scope", f"unknown area {scope.name!r} in scope {key!r}")
        if scope.indicator is not None and scope.indicator not in ctx.catalogue.indicators:
            raise InputError("scope", f"unknown indicator {scope.indicator!r} in scope {key!r}")
        return [("area", scope.name)]
    if scope.kind == "county":
        if scope.name != ctx.county:
            raise InputError("scope", f"unknown county {scope.name!r}; this service runs {ctx.county!r}")
        return [("county", scope.name)]
    if scope.kind == "site":
        return [("system", system) for system in systems_of(ctx, scope.name)]
    if scope.name not in ctx.acute.systems:
        raise InputError("scope", f"unknown system {scope.name!r} in scope {key!r}")
    return [("system", scope.name)]
