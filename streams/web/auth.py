"""Who may call the API: principals, their roles, and bearer tokens taken from the environment.

The config file (``config/api.example.yaml``) never holds a secret: it names, per principal,
the environment variable that does. A principal whose variable is unset cannot authenticate,
which is reported by :attr:`AuthConfig.without_token` so the server can say so at start-up.
"""

from __future__ import annotations

import datetime as dt
import enum
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from opel.alerting.routing import PLAN_ROLES
from opel.validation_errors import field_problems, first_problem

__all__ = [
    "DEFAULT_MAX_EVENT_STREAMS",
    "MIN_TOKEN_LENGTH",
    "ApiConfig",
    "AuthConfig",
    "AuthConfigError",
    "BoardConfig",
    "Permission",
    "Principal",
    "load_api_config",
]

MIN_TOKEN_LENGTH: Final = 16
"""Shorter secrets are refused at load: a guessable token is worse than none."""
DEFAULT_MAX_EVENT_STREAMS: Final = 100
"""Open ``/events`` streams allowed by default: every board screen holds one."""

RoleName = Literal[
    "escalation_group",
    "duty_manager",
    "viewer",
    # The plan's roles (section 8): each marks its own action items.
    "inhouse_registered_managers",
    "keah_locality_organisers",
    "senior_practitioner",
    "stp_team_manager",
    "pascc_ops_manager",
    "community_team_managers",
    "assistant_director",
    "director_asc",
    # Placement Co-ordinators report each assessment-bed placement (plan 6.3).
    "placement_coordinator",
    # Indicator owners and their systems submit readings (POST /readings), for their areas.
    "area_submitter",
    # A partner organisation's system: reads /status and /history, changes nothing (docs/partners.md).
    "partner",
]


class Permission(enum.Enum):
    READ = "read"
    OVERRIDE = "override"
    ACK = "ack"
    MARK_ITEMS = "mark_items"
    """Mark the action items the principal's plan roles own (never another role's)."""
    CONFIRM_KEAH = "confirm_keah"
    """Confirm that a KEaH referrer was told (plan 7.6): what the 2-hour rule counts."""
    RECORD_PLACEMENTS = "record_placements"
    """Record an assessment-bed placement starting or ending (plan 6.3)."""
    SUBMIT_READINGS = "submit_readings"
    """Submit indicator readings (``POST /readings``) for the principal's areas."""
    EXERCISE = "exercise"
    """Start and stop a live exercise (``POST /exercise``, docs/exercises.md)."""


ROLE_PERMISSIONS: Final[Mapping[str, frozenset[Permission]]] = {
    "escalation_group": frozenset({Permission.READ, Permission.OVERRIDE, Permission.EXERCISE}),
    "duty_manager": frozenset({Permission.READ, Permission.ACK}),
    "viewer": frozenset({Permission.READ}),
    **dict.fromkeys(PLAN_ROLES, frozenset({Permission.READ, Permission.MARK_ITEMS})),
    "keah_locality_organisers": frozenset({Permission.READ, Permission.MARK_ITEMS, Permission.CONFIRM_KEAH}),
    "placement_coordinator": frozenset({Permission.READ, Permission.RECORD_PLACEMENTS}),
    "area_submitter": frozenset({Permission.READ, Permission.SUBMIT_READINGS}),
    "partner": frozenset({Permission.READ}),
}


class AuthConfigError(ValueError):
    """The API config file is unreadable or invalid; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An API caller. ``token`` is the secret read from ``token_env`` (None when unset).

    ``areas`` limits what it may submit readings for (None: every area).
    """

    name: str
    roles: frozenset[str]
    token_env: str
    token: str | None = None
    areas: frozenset[str] | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        granted: set[Permission] = set()
        for role in self.roles:
            granted |= ROLE_PERMISSIONS.get(role, frozenset())
        return frozenset(granted)

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions

    def __repr__(self) -> str:  # never print the secret
        return f"Principal(name={self.name!r}, roles={sorted(self.roles)!r}, token_env={self.token_env!r})"

    def may_submit_for(self, area: str) -> bool:
        return self.areas is None or area in self.areas


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """Principals with their tokens resolved, and whether reading needs a token at all."""

    principals: tuple[Principal, ...] = ()
    reads_require_token: bool = False

    def authenticate(self, token: str) -> Principal | None:
        """The principal holding ``token``, compared in constant time against every principal."""
        supplied = token.encode("utf-8")
        found: Principal | None = None
        for principal in self.principals:
            if principal.token is None:
                continue
            # Every principal is compared, matched or not, so timing says nothing about which one.
            if hmac.compare_digest(supplied, principal.token.encode("utf-8")) and found is None:
                found = principal
        return found

    @property
    def without_token(self) -> tuple[str, ...]:
        """Principals whose token variable is unset: they cannot call the API."""
        return tuple(p.name for p in self.principals if p.token is None)


@dataclass(frozen=True, slots=True)
class BoardConfig:
    """Settings the status board needs from the server."""

    stale_after: dt.timedelta = dt.timedelta(hours=26)
    max_event_streams: int = DEFAULT_MAX_EVENT_STREAMS
    """How many ``GET /events`` streams may be open at once; the next one gets 503."""


@dataclass(frozen=True, slots=True)
class ApiConfig:
    auth: AuthConfig
    board: BoardConfig


# --- file shape -------------------------------------------------------------------------------

PrincipalName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")]
AreaName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


class _PrincipalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    roles: list[RoleName] = Field(min_length=1)
    token_env: EnvName
    # The areas it may submit readings for (POST /readings); omitted: every area.
    areas: list[AreaName] | None = Field(default=None, min_length=1)


class _BoardIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stale_after_hours: float = Field(default=26, gt=0, le=24 * 30)
    max_event_streams: int = Field(default=DEFAULT_MAX_EVENT_STREAMS, ge=1, le=10_000)


class _ApiConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reads_require_token: bool = False
    principals: dict[PrincipalName, _PrincipalIn] = Field(default_factory=dict)
    board: _BoardIn = Field(default_factory=_BoardIn)


def build_api_config(data: object, environ: Mapping[str, str], display: str = "<api config>") -> ApiConfig:
    """Validate parsed YAML and resolve tokens from ``environ``."""
    try:
        raw = _ApiConfigIn.model_validate(data)
    except ValidationError as exc:
        # show_input=False: a token pasted into the file by mistake must not reach the log.
        problems = field_problems(exc, model=_ApiConfigIn, data=data, noun="key", show_input=False)
        where, problem = first_problem(problems)
        raise AuthConfigError(f"{display}: {where or '<top level>'}: {problem}") from None
    principals: list[Principal] = []
    seen_env: dict[str, str] = {}
    for name, entry in raw.principals.items():
        if entry.token_env in seen_env:
            raise AuthConfigError(
                f"{display}: principals.{name}.token_env: {entry.token_env} is already used by "
                f"{seen_env[entry.token_env]}; each principal needs its own token"
            )
        seen_env[entry.token_env] = name
        token = environ.get(entry.token_env) or None
        if token is not None and len(token) < MIN_TOKEN_LENGTH:
            raise AuthConfigError(
                f"{display}: principals.{name}: the token in ${entry.token_env} is shorter than "
                f"{MIN_TOKEN_LENGTH} characters"
            )
        areas = None if entry.areas is None else frozenset(entry.areas)
        principals.append(Principal(name, frozenset(entry.roles), entry.token_env, token, areas))
    return ApiConfig(
        auth=AuthConfig(tuple(principals), raw.reads_require_token),
        board=BoardConfig(
            stale_after=dt.timedelta(hours=raw.board.stale_after_hours),
            max_event_streams=raw.board.max_event_streams,
        ),
    )


def load_api_config(path: str | Path, environ: Mapping[str, str] | None = None) -> ApiConfig:
    """Read the API config file; tokens come from ``environ`` (default: the process environment)."""
    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AuthConfigError(f"{source}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise AuthConfigError(f"{source}: invalid YAML: {exc}") from exc
    return build_api_config(data or {}, os.environ if environ is None else environ, str(source))
