"""Render an action plan for a person: what each role does at a level, or what a change means."""

from __future__ import annotations

from opel.actions import Action, ActionPlan
from opel.levels import Level


def _level_name(level: Level | None) -> str:
    return "business as usual" if level is None or level == Level.OPEL_1 else f"{level.label} {level.colour}"


def _items(actions: tuple[Action, ...], mark: str) -> list[str]:
    return [f"    {mark} {action.text}  [{action.id}; plan {action.plan_ref}]" for action in actions]


def render_level(plan: ActionPlan, level: Level, roles: list[str]) -> str:
    lines = [f"{plan.id}: actions in force at {_level_name(level)}", ""]
    for role_id in roles:
        role = plan.roles[role_id]
        actions = plan.in_force(role_id, level)
        lines.append(f"{role.name} (plan {role.plan_ref})")
        lines += _items(actions, "-") if actions else ["    business as usual"]
        lines.append("")
    return "\n".join(lines)


def render_change(plan: ActionPlan, before: Level | None, after: Level, roles: list[str]) -> str:
    lines = [f"{plan.id}: {_level_name(before)} -> {_level_name(after)}", ""]
    for change in plan.changes(before, after):
        if change.role.id not in roles:
            continue
        lines.append(f"{change.role.name}")
        if not (change.start or change.stand_down or change.keep):
            lines.append("    business as usual")
        lines += _items(change.start, "START")
        lines += _items(change.stand_down, "STAND DOWN")
        lines += _items(change.keep, "carry on")
        lines.append("")
    return "\n".join(lines)
