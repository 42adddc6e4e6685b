"""The action plan: which role does what at each OPEL level (plan v1.8 sections 7, 8, Appendix 3).

The plan itself lives in YAML under ``triggers/actions``; this module validates it and answers
two questions cheaply: what is in force for a role at a level, and what starts, stands down or
carries on when the level changes. Pure: the only I/O is reading the YAML via ``opel.sources``.

Level 1 (and "no level yet", ``None``) is business as usual: nothing is in force.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opel.errors import CatalogueError
from opel.levels import Level
from opel.sources import locate, parse_yaml

DEFAULT_ACTION_PLAN = "kcc-asch-actions-v1.8"
ACTION_LEVELS: tuple[Level, ...] = (Level.OPEL_2, Level.OPEL_3, Level.OPEL_4)
"""Levels that carry actions; level 1 is business as usual."""
CONTINUING_LEVELS: tuple[Level, ...] = (Level.OPEL_3, Level.OPEL_4)
"""Levels that may keep lower levels' actions in force (level 2 has none below it)."""

_SLUG = re.compile(r"[a-z][a-z0-9_]*")


# --- public data ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Role:
    """Someone (or, for ``kcc_summary``, the authority as a whole) who acts at some levels."""

    id: str
    name: str
    plan_ref: str


@dataclass(frozen=True, slots=True)
class Action:
    """One thing one role does, first at ``level``."""

    id: str
    role: str
    level: Level
    text: str
    plan_ref: str


@dataclass(frozen=True, slots=True)
class Note:
    """An interpretive decision taken while encoding the plan, with the reasoning behind it."""

    id: str
    applies_to: str
    decision: str
    reasoning: str
    confirm_with_plan_owner: bool


@dataclass(frozen=True, slots=True)
class PlanInfo:
    """The published plan the action data was taken from."""

    title: str
    version: str
    date: dt.date
    approved_by: str
    sections: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoleChanges:
    """What a level change means for one role. Each tuple is in level-then-plan order."""

    role: Role
    start: tuple[Action, ...]
    stand_down: tuple[Action, ...]
    keep: tuple[Action, ...]

    @property
    def changed(self) -> bool:
        return bool(self.start or self.stand_down)


def _bau(level: Level | None) -> Level | None:
    """None for business as usual (no level, or level 1); otherwise the level itself."""
    if level is None or level <= Level.OPEL_1:
        return None
    return Level(level)


@dataclass(frozen=True, slots=True)
class ActionPlan:
    """A validated action plan. Build it with :func:`load_action_plan` or :func:`build_action_plan`.

    ``continues[role][level]`` lists the lower levels whose actions stay in force at ``level``;
    it is applied transitively. In-force sets and level changes are computed once, here.
    """

    id: str
    version: str
    roles: Mapping[str, Role]
    actions: tuple[Action, ...]
    continues: Mapping[str, Mapping[Level, tuple[Level, ...]]]
    notes: tuple[Note, ...] = ()
    plan: PlanInfo | None = None
    _in_force: Mapping[tuple[str, Level], tuple[Action, ...]] = field(init=False, repr=False, compare=False)
    _changes: Mapping[tuple[Level | None, Level | None], tuple[RoleChanges, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        in_force: dict[tuple[str, Level], tuple[Action, ...]] = {}
        for role_id in self.roles:
            own = [action for action in self.actions if action.role == role_id]
            for level in ACTION_LEVELS:
                reached = _reachable(self.continues.get(role_id, {}), level)
                # sorted() is stable, so actions at the same level keep their YAML order.
                in_force[(role_id, level)] = tuple(
                    sorted((a for a in own if a.level in reached), key=lambda a: a.level)
                )
        object.__setattr__(self, "_in_force", MappingProxyType(in_force))

        keys: tuple[Level | None, ...] = (None, *ACTION_LEVELS)
        changes = {
            (before, after): tuple(self._role_changes(role, before, after) for role in self.roles.values())
            for before in keys
            for after in keys
        }
        object.__setattr__(self, "_changes", MappingProxyType(changes))

    def _role_changes(self, role: Role, before: Level | None, after: Level | None) -> RoleChanges:
        old = self.in_force(role.id, before)
        new = self.in_force(role.id, after)
        old_ids = {action.id for action in old}
        new_ids = {action.id for action in new}
        return RoleChanges(
            role=role,
            start=tuple(a for a in new if a.id not in old_ids),
            stand_down=tuple(a for a in old if a.id not in new_ids),
            keep=tuple(a for a in new if a.id in old_ids),
        )

    def in_force(self, role_id: str, level: Level | None) -> tuple[Action, ...]:
        """The role's actions at ``level`` plus those continued from lower levels.

        Ordered by level, then plan order. ``None`` or level 1 gives an empty tuple.
        """
        if role_id not in self.roles:
            raise ValueError(f"unknown role {role_id!r} (known roles: {', '.join(self.roles)})")
        key = _bau(level)
        if key is None:
            return ()
        return self._in_force[(role_id, key)]

    def changes(self, from_level: Level | None, to_level: Level | None) -> tuple[RoleChanges, ...]:
        """For every role, in plan order: what starts, stands down and carries on."""
        return self._changes[(_bau(from_level), _bau(to_level))]


def _reachable(continues: Mapping[Level, Sequence[Level]], level: Level) -> frozenset[Level]:
    """``level`` and every level whose actions it keeps in force, following ``continues``."""
    seen: set[Level] = set()
    todo = [level]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(continues.get(current, ()))
    return frozenset(seen)


# --- raw YAML shape ---------------------------------------------------------------------------


class _Raw(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _PlanIn(_Raw):
    title: str
    version: str
    date: dt.date
    approved_by: str
    sections: list[str]


class _RoleIn(_Raw):
    name: str
    plan_ref: str


class _ActionIn(_Raw):
    id: str
    role: str
    level: int
    text: str
    plan_ref: str


class _NoteIn(_Raw):
    id: str
    applies_to: str
    decision: str
    reasoning: str
    confirm_with_plan_owner: bool


class _ActionPlanIn(_Raw):
    id: str
    version: str
    plan: _PlanIn
    roles: dict[str, _RoleIn]
    actions: list[_ActionIn]
    continues: dict[str, dict[int, list[int]]]
    notes: list[_NoteIn] = Field(default_factory=list)


# Which model a pydantic error location points into, by the first element of the location.
_MODELS_BY_SECTION: dict[str, type[BaseModel]] = {
    "plan": _PlanIn,
    "roles": _RoleIn,
    "actions": _ActionIn,
    "notes": _NoteIn,
}


# Wording for the type errors a hand-edited YAML file is likely to hit.
_PLAIN_MESSAGES: dict[str, str] = {
    "model_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "int_type": "must be a whole number",
    "string_type": "must be text (quote values that look like numbers)",
    "date_type": "must be a date written YYYY-MM-DD, unquoted",
    "bool_type": "must be true or false",
}


def _format_path(data: Any, loc: Sequence[int | str]) -> str:
    """``('actions', 7, 'level')`` -> ``actions[7].level``, using the raw data to tell lists from maps."""
    path = ""
    node: Any = data
    for item in loc:
        if item == "[key]":  # pydantic marks a bad mapping key this way; the key is already named
            continue
        if isinstance(node, list) and isinstance(item, int):
            path += f"[{item}]"
            node = node[item] if 0 <= item < len(node) else None
        else:
            path += f".{item}" if path else str(item)
            node = node.get(item, node.get(str(item))) if isinstance(node, dict) else None
    return path


def _describe(error: Mapping[str, Any]) -> str:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    kind = error["type"]
    if kind == "missing":
        return "missing required key"
    if kind == "extra_forbidden":
        model: type[BaseModel] = _ActionPlanIn if len(loc) == 1 else _MODELS_BY_SECTION[str(loc[0])]
        return f"unknown key (allowed: {', '.join(model.model_fields)})"
    message = _PLAIN_MESSAGES.get(kind)
    if message is None:
        message = str(error["msg"])
        message = message[:1].lower() + message[1:]
    if "[key]" in loc:
        message = f"bad key: {message}"
    return f"{message}, got {error['input']!r}"


def _from_pydantic(display: str, data: Mapping[str, Any], exc: ValidationError) -> CatalogueError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    problem = _describe(first)
    if len(errors) > 1:
        problem += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return CatalogueError(display, _format_path(data, first["loc"]), problem)


# --- validation and building ------------------------------------------------------------------


def _require_text(display: str, path: str, value: str) -> None:
    if not value.strip():
        raise CatalogueError(display, path, "must not be empty")


def _check_roles(display: str, raw: _ActionPlanIn) -> None:
    if not raw.roles:
        raise CatalogueError(display, "roles", "must list at least one role")
    for role_id, role in raw.roles.items():
        if not _SLUG.fullmatch(role_id):
            raise CatalogueError(
                display, f"roles.{role_id}", "role id must be lower_snake_case (a-z, 0-9, _)"
            )
        _require_text(display, f"roles.{role_id}.name", role.name)
        _require_text(display, f"roles.{role_id}.plan_ref", role.plan_ref)


def _check_actions(display: str, raw: _ActionPlanIn) -> None:
    seen: dict[str, int] = {}
    for index, action in enumerate(raw.actions):
        where = f"actions[{index}]"
        if action.role not in raw.roles:
            raise CatalogueError(
                display,
                f"{where}.role",
                f"unknown role {action.role!r} (known roles: {', '.join(raw.roles)})",
            )
        if action.level not in ACTION_LEVELS:
            raise CatalogueError(
                display,
                f"{where}.level",
                f"level must be 2, 3 or 4 (level 1 is business as usual), got {action.level!r}",
            )
        prefix = f"{action.role}.l{action.level}."
        if not action.id.startswith(prefix) or not _SLUG.fullmatch(action.id[len(prefix) :]):
            raise CatalogueError(
                display,
                f"{where}.id",
                f"id must be {prefix}<lower_snake_case name> (its role and level), got {action.id!r}",
            )
        if action.id in seen:
            raise CatalogueError(
                display,
                f"{where}.id",
                f"duplicate action id {action.id!r} (first at actions[{seen[action.id]}])",
            )
        seen[action.id] = index
        _require_text(display, f"{where}.text", action.text)
        _require_text(display, f"{where}.plan_ref", action.plan_ref)


def _check_continues(display: str, raw: _ActionPlanIn) -> None:
    for role_id, by_level in raw.continues.items():
        if role_id not in raw.roles:
            raise CatalogueError(
                display, f"continues.{role_id}", f"unknown role (known roles: {', '.join(raw.roles)})"
            )
        for level, lower in by_level.items():
            where = f"continues.{role_id}.{level}"
            if level not in CONTINUING_LEVELS:
                raise CatalogueError(
                    display,
                    where,
                    "unknown level: only 3 and 4 may continue lower levels "
                    "(level 2 has no action level below it)",
                )
            allowed = [n for n in ACTION_LEVELS if n < level]
            for kept in lower:
                if kept not in allowed:
                    raise CatalogueError(
                        display,
                        where,
                        f"level {level} can only continue action levels below it "
                        f"({', '.join(str(int(n)) for n in allowed)}), got {kept!r}",
                    )
            if len(set(lower)) != len(lower):
                raise CatalogueError(display, where, f"lists a level twice: {lower!r}")
    for role_id in raw.roles:
        if role_id not in raw.continues:
            raise CatalogueError(display, f"continues.{role_id}", "missing required key")
        for level in CONTINUING_LEVELS:
            if int(level) not in raw.continues[role_id]:
                raise CatalogueError(
                    display, f"continues.{role_id}.{int(level)}", "missing required key (use [] for none)"
                )


def _check_notes(display: str, raw: _ActionPlanIn) -> None:
    seen: set[str] = set()
    for index, note in enumerate(raw.notes):
        if note.id in seen:
            raise CatalogueError(display, f"notes[{index}].id", f"duplicate note id {note.id!r}")
        seen.add(note.id)
        for name in ("applies_to", "decision", "reasoning"):
            _require_text(display, f"notes[{index}].{name}", getattr(note, name))


def build_action_plan(data: Mapping[str, Any], display: str = "<action plan>") -> ActionPlan:
    """Validate parsed YAML and build the plan; problems raise CatalogueError naming ``display``."""
    try:
        raw = _ActionPlanIn.model_validate(data)
    except ValidationError as exc:
        raise _from_pydantic(display, data, exc) from None
    _require_text(display, "id", raw.id)
    _require_text(display, "version", raw.version)
    _check_roles(display, raw)
    _check_actions(display, raw)
    _check_continues(display, raw)
    _check_notes(display, raw)

    roles = {role_id: Role(role_id, role.name, role.plan_ref) for role_id, role in raw.roles.items()}
    return ActionPlan(
        id=raw.id,
        version=raw.version,
        roles=MappingProxyType(roles),
        actions=tuple(Action(a.id, a.role, Level(a.level), a.text, a.plan_ref) for a in raw.actions),
        continues=MappingProxyType(
            {
                role_id: MappingProxyType(
                    {
                        Level(level): tuple(Level(kept) for kept in sorted(lower))
                        for level, lower in by_level.items()
                    }
                )
                for role_id, by_level in raw.continues.items()
            }
        ),
        notes=tuple(
            Note(n.id, n.applies_to, n.decision, n.reasoning, n.confirm_with_plan_owner) for n in raw.notes
        ),
        plan=PlanInfo(
            raw.plan.title, raw.plan.version, raw.plan.date, raw.plan.approved_by, tuple(raw.plan.sections)
        ),
    )


def load_action_plan(name_or_path: str) -> ActionPlan:
    """Load a shipped action plan by name (``kcc-asch-actions-v1.8``) or a YAML file by path."""
    source = locate(name_or_path, subdir="actions")
    return build_action_plan(parse_yaml(source), source.display)


@lru_cache(maxsize=1)
def default_action_plan() -> ActionPlan:
    """The shipped KCC ASCH action plan (v1.8), loaded once."""
    return load_action_plan(DEFAULT_ACTION_PLAN)
