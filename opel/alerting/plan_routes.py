"""The actions each role reads in its message, as the plan gives them.

Two gaps between the escalation event and the people the plan names are closed here, before a
record is opened, so every message (first, repeat, escalated, resolved) carries the same list:

* **Appendix 3.** The action plan keeps the appendix's authority-wide summary under a
  pseudo-role (``kcc_summary``) that no person holds. Each such action is given to the roles
  that do it (``summary_actions`` in the routing file, each citing the plan): an action the
  appendix repeats from section 8 (``same_as``) already reaches its role and is not added
  twice; an action found only in the appendix (``roles``) is added to those roles' lists.
* **Hospital sites and the system.** The worker attaches actions to area and county changes
  only. Appendix 4 expects the OPEL 3/4 actions when any provider is at OPEL 3/4, and section 8
  lets KCC decide whether responding to the wider economy would help; so a site or system
  change carries each role's actions for that level from the action plan, for the roles its
  routes reach to consider.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from opel.actions import ActionPlan
from opel.alerting.message import ROLE_NAMES
from opel.alerting.routing import ROLE_IDS, Route, RoutingConfig
from opel.contracts.escalation import EscalationData, PlanAction, RoleActions
from opel.levels import Level

PLAN_ACTION_KINDS: tuple[str, ...] = ("site", "system")
"""Scope kinds whose actions alerting takes from the action plan (the worker attaches none)."""


def _from_plan(data: EscalationData, plan: ActionPlan) -> tuple[RoleActions, ...]:
    before = None if data.from_level is None else Level(data.from_level)
    return tuple(
        RoleActions(
            role=change.role.id,
            role_name=change.role.name,
            start=tuple(
                PlanAction(id=a.id, level=int(a.level), text=a.text, plan_ref=a.plan_ref)
                for a in change.start
            ),
            stand_down=tuple(
                PlanAction(id=a.id, level=int(a.level), text=a.text, plan_ref=a.plan_ref)
                for a in change.stand_down
            ),
        )
        for change in plan.changes(before, Level(data.to_level))
        if change.changed
    )


def _attributed(action: PlanAction, why: str) -> PlanAction:
    """The action with the plan places that say who does it added to its reference, each once."""
    refs = [part.strip() for part in action.plan_ref.split(";") if part.strip()]
    refs += [part.strip() for part in why.split(";") if part.strip() and part.strip() not in refs]
    return action.model_copy(update={"plan_ref": "; ".join(refs)})


def attribute(actions: Iterable[RoleActions], config: RoutingConfig) -> tuple[RoleActions, ...]:
    """Fold pseudo-role actions into the roles that do them (``summary_actions``).

    A pseudo-role is any role in the event that is not a routing role. Its actions with a
    ``same_as`` are dropped (the role's own copy is there); those with ``roles`` are appended
    to each named role's start or stand-down list. An action with no entry stays under the
    pseudo-role, where :func:`unrouted` finds it.
    """
    own: dict[str, dict[str, list[PlanAction]]] = {}
    names: dict[str, str] = {}
    order: list[str] = []
    leftover: list[RoleActions] = []

    def slot(role: str) -> dict[str, list[PlanAction]]:
        if role not in own:
            own[role] = {"start": [], "stand_down": []}
            order.append(role)
        return own[role]

    entries = list(actions)
    for entry in entries:
        if entry.role in ROLE_IDS:
            names[entry.role] = entry.role_name
            lists = slot(entry.role)
            lists["start"] += entry.start
            lists["stand_down"] += entry.stand_down
    for entry in entries:
        if entry.role in ROLE_IDS:
            continue
        kept: dict[str, list[PlanAction]] = {"start": [], "stand_down": []}
        for which, items in (("start", entry.start), ("stand_down", entry.stand_down)):
            for action in items:
                summary = config.summary_actions.get(action.id)
                if summary is None:
                    kept[which].append(action)
                    continue
                for role in summary.roles:
                    names.setdefault(role, ROLE_NAMES.get(role, role))
                    target = slot(role)[which]
                    if all(a.id != action.id for a in target):
                        target.append(_attributed(action, summary.plan_ref))
        if kept["start"] or kept["stand_down"]:
            leftover.append(
                entry.model_copy(
                    update={"start": tuple(kept["start"]), "stand_down": tuple(kept["stand_down"])}
                )
            )
    folded = tuple(
        RoleActions(
            role=role,
            role_name=names.get(role, role),
            start=tuple(own[role]["start"]),
            stand_down=tuple(own[role]["stand_down"]),
        )
        for role in order
    )
    return folded + tuple(leftover)


def with_plan_actions(data: EscalationData, config: RoutingConfig, plan: ActionPlan | None) -> EscalationData:
    """``data`` with the actions each routed role must read (see the module docstring)."""
    actions: tuple[RoleActions, ...] = data.actions
    if not actions and data.kind in PLAN_ACTION_KINDS and plan is not None:
        actions = _from_plan(data, plan)
    if not actions:
        return data
    folded = attribute(actions, config)
    return data if folded == data.actions else data.model_copy(update={"actions": folded})


# --- coverage: which route carries which action ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Carrier:
    """A route that tells ``role`` of a change to ``level`` at a scope of ``kind``."""

    route: Route
    role: str
    kind: str
    level: int


def carriers(config: RoutingConfig, role: str, level: int, kind: str) -> list[Carrier]:
    """Live (not exercise) routes that tell ``role`` of a ``kind`` scope reaching ``level``."""
    out: list[Carrier] = []
    for route in config.routes:
        match = route.match
        if match.exercise or role not in route.roles or level < match.level_at_least:
            continue
        if match.kinds is not None and kind not in match.kinds:
            continue
        if match.directions is not None and "escalation" not in match.directions:
            continue
        out.append(Carrier(route, role, kind, level))
    return out


def action_owners(action_id: str, role: str, config: RoutingConfig) -> tuple[str, ...]:
    """The routing roles who receive an action: its own role, or those it is attributed to."""
    if role in ROLE_IDS:
        return (role,)
    summary = config.summary_actions.get(action_id)
    if summary is None:
        return ()
    if summary.same_as is not None:
        return (summary.same_as.split(".", 1)[0],)
    return tuple(summary.roles)


def unrouted(plan: ActionPlan, config: RoutingConfig, kinds: Iterable[str] = ("area", "county")) -> list[str]:
    """Every action of ``plan`` that no route delivers at its level for a scope of ``kinds``.

    Empty when the routing is complete. An appendix action with ``same_as`` must name an action
    of the plan at the same level.
    """
    known: Mapping[str, int] = {a.id: int(a.level) for a in plan.actions}
    problems: list[str] = []
    for action in plan.actions:
        summary = config.summary_actions.get(action.id)
        if (
            summary is not None
            and summary.same_as is not None
            and known.get(summary.same_as) != int(action.level)
        ):
            problems.append(
                f"{action.id}: same_as {summary.same_as} is not a level {int(action.level)} action"
            )
            continue
        owners = action_owners(action.id, action.role, config)
        if not owners:
            problems.append(
                f"{action.id}: role {action.role} is no routing role and no summary_actions entry"
            )
            continue
        for owner in owners:
            for kind in kinds:
                if not carriers(config, owner, int(action.level), kind):
                    problems.append(
                        f"{action.id}: no route tells {owner} of a {kind} at OPEL {int(action.level)}"
                    )
    return problems
