"""The action plan: which role does what at each OPEL level (plan section 8 and its appendix summary).

Each published plan version has its own YAML under ``triggers/actions`` (v1.8:
``kcc-asch-actions-v1.8``, v1.7: ``kcc-asch-actions-v1.7``), named by the trigger catalogue of the
same plan version and read by :mod:`opel.actions_load`. Every action cites the plan cells it was
taken from (:class:`PlanCell`), so its wording can be checked against the plan text;
this module holds the validated plan and answers two questions cheaply: what is in force for a role
at a level, and what starts, stands down or carries on when the level changes. Pure: no I/O.

Level 1 (and "no level yet", ``None``) is business as usual: nothing is in force.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from opel.levels import Level

DEFAULT_ACTION_PLAN = "kcc-asch-actions-v1.8"
ACTION_LEVELS: tuple[Level, ...] = (Level.OPEL_2, Level.OPEL_3, Level.OPEL_4)
"""Levels that carry actions; level 1 is business as usual."""
CONTINUING_LEVELS: tuple[Level, ...] = (Level.OPEL_3, Level.OPEL_4)
"""Levels that may keep lower levels' actions in force (level 2 has none below it)."""

# --- public data ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Role:
    """A post the plan names, which acts at some levels (one row of the section 8 table)."""

    id: str
    name: str
    plan_ref: str


@dataclass(frozen=True, slots=True)
class PlanCell:
    """Where in the plan an action comes from.

    ``section`` is the plan's own numbering: ``"8"`` (the role / response table), ``"App. 3"``
    (an appendix table) or a prose section such as ``"7.6"``. For a table, ``row`` counts the
    table's rows from 1 (header rows left out, a row broken across a page counted once) and
    ``opel`` is the level's column; a prose section has neither. ``quote`` is a short phrase
    copied from that cell: it pins which item of the cell the action encodes.
    """

    section: str
    row: int | None
    opel: Level | None
    quote: str

    @property
    def is_table_cell(self) -> bool:
        return self.row is not None


@dataclass(frozen=True, slots=True)
class Action:
    """One thing one role does, first at ``level``, with the plan cells it was taken from."""

    id: str
    role: str
    level: Level
    text: str
    plan_ref: str
    source: tuple[PlanCell, ...] = ()


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
    """A validated action plan. Build it with :func:`opel.actions_load.load_action_plan`
    or :func:`opel.actions_load.build_action_plan`.

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


PlanSource = Callable[[], ActionPlan]
"""The action plan in force, asked for at each use: a catalogue reload that names another plan
changes what the next message or request shows."""


def plan_source(plan: ActionPlan | PlanSource) -> PlanSource:
    """``plan`` as a :data:`PlanSource`; a fixed plan (tests, no catalogue store) stays as it is."""
    if isinstance(plan, ActionPlan):
        return lambda: plan
    return plan
