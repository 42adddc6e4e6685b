"""Read an action plan YAML file, check it thoroughly, and build an :class:`~opel.actions.ActionPlan`.

A plan that is wrong in any way is refused as a whole with a ``CatalogueError`` naming the file,
the path inside it (``actions[7].level``) and the problem, as :mod:`opel.catalogue_load` does for
trigger catalogues.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opel.actions import (
    ACTION_LEVELS,
    CONTINUING_LEVELS,
    DEFAULT_ACTION_PLAN,
    Action,
    ActionPlan,
    Note,
    PlanCell,
    PlanInfo,
    Role,
)
from opel.errors import CatalogueError
from opel.levels import Level
from opel.sources import locate
from opel.validation_errors import field_problems, first_problem
from opel.yaml_files import parse_yaml_mapping

_SLUG = re.compile(r"[a-z][a-z0-9_]*")


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


class _CellIn(_Raw):
    section: str
    row: int | None = None
    opel: int | None = None
    quote: str


class _ActionIn(_Raw):
    id: str
    role: str
    level: int
    text: str
    plan_ref: str
    source: list[_CellIn]


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


def _from_pydantic(display: str, data: Mapping[str, Any], exc: ValidationError) -> CatalogueError:
    path, problem = first_problem(field_problems(exc, model=_ActionPlanIn, data=data, noun="key"))
    return CatalogueError(display, path, problem)


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
        _check_source(display, where, action)


def _check_source(display: str, where: str, action: _ActionIn) -> None:
    """Each cell is a table cell (row and column) or a prose section (neither), with a quote;
    one table cell at least sits in the action's own level column."""
    if not action.source:
        raise CatalogueError(
            display, f"{where}.source", "must cite at least one plan cell (section, row, opel, quote)"
        )
    for index, cell in enumerate(action.source):
        at = f"{where}.source[{index}]"
        _require_text(display, f"{at}.section", cell.section)
        _require_text(display, f"{at}.quote", cell.quote)
        if (cell.row is None) != (cell.opel is None):
            raise CatalogueError(
                display,
                at,
                "a table cell needs both row and opel (its column); a prose section has neither",
            )
        if cell.row is not None and cell.row < 1:
            raise CatalogueError(display, f"{at}.row", f"rows count from 1, got {cell.row}")
        if cell.opel is not None and cell.opel not in (1, 2, 3, 4):
            raise CatalogueError(display, f"{at}.opel", f"must be 1, 2, 3 or 4, got {cell.opel}")
    if not any(cell.opel == action.level for cell in action.source):
        raise CatalogueError(
            display,
            f"{where}.source",
            f"no cited table cell is in the level {action.level} column the action starts at",
        )


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
            raise CatalogueError(display, f"continues.{role_id}", "is required")
        for level in CONTINUING_LEVELS:
            if int(level) not in raw.continues[role_id]:
                raise CatalogueError(
                    display, f"continues.{role_id}.{int(level)}", "is required (use [] for none)"
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
        actions=tuple(
            Action(
                a.id,
                a.role,
                Level(a.level),
                a.text,
                a.plan_ref,
                tuple(
                    PlanCell(c.section, c.row, None if c.opel is None else Level(c.opel), c.quote)
                    for c in a.source
                ),
            )
            for a in raw.actions
        ),
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
    return build_action_plan(parse_yaml_mapping(source.text, source.display), source.display)


@lru_cache(maxsize=1)
def default_action_plan() -> ActionPlan:
    """The shipped KCC ASCH action plan (v1.8), loaded once."""
    return load_action_plan(DEFAULT_ACTION_PLAN)
