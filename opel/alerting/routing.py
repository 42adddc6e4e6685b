"""Routing configuration: which escalations reach which plan roles, through which channels.

The file is YAML (``config/routing.example.yaml`` is Kent's). It is validated in full when
loaded; a problem raises :class:`RoutingError` naming the file, the place in it and what is
wrong, so a reload can refuse it and keep the running configuration.

Contact addresses, webhook URLs and API keys never appear in the file itself: those fields
only accept a ``${NAME}`` reference, resolved at load time from the environment or from the
``secrets_file`` the config names. Resolved values are kept out of ``repr`` and out of dumps.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError
from pydantic_core import ErrorDetails

from opel.alerting.calendar import Period, PlanCalendar
from opel.errors import CatalogueError
from opel.validation_errors import field_problems, first_problem
from opel.yaml_files import read_yaml_file

PLAN_ROLES: tuple[str, ...] = (
    "inhouse_registered_managers",
    "keah_locality_organisers",
    "senior_practitioner",
    "stp_team_manager",
    "pascc_ops_manager",
    "community_team_managers",
    "assistant_director",
    "director_asc",
)
DUTY_ROLE = "duty"
"""Not a plan role: whoever holds the duty phone or mailbox; gets daily summaries."""
SERVICE_ROLES: tuple[str, ...] = (
    "out_of_hours_service",
    "arranging_support_team",
    "icb_commissioning_lead",
    "nhs_director_on_call",
)
"""Services and partners the plan names without actions in section 8: the KCC Out of Hours
Service (6.2), the Arranging Support Team's bank-holiday skeleton service (7.5), and the two
NHS contacts of the NHS 111 protocol's step (b) (6.1): the ICB commissioning lead in hours,
the NHS Director on Call out of hours."""
ROLE_IDS: tuple[str, ...] = (*PLAN_ROLES, DUTY_ROLE, *SERVICE_ROLES)

RoleId = Literal[
    "inhouse_registered_managers",
    "keah_locality_organisers",
    "senior_practitioner",
    "stp_team_manager",
    "pascc_ops_manager",
    "community_team_managers",
    "assistant_director",
    "director_asc",
    "duty",
    "out_of_hours_service",
    "arranging_support_team",
    "icb_commissioning_lead",
    "nhs_director_on_call",
]
ScopeKind = Literal["indicator", "area", "county", "site", "system"]
MatchKind = Literal["indicator", "area", "county", "site", "system", "warning"]
"""What a route matches: a kind of scope whose level changed, or ``warning``: an opened early
warning, told to the indicator's owner when the route lists it (opel.alerting.early_warning)."""
Direction = Literal["initial", "escalation", "de-escalation"]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)]

_REF = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


class RoutingError(CatalogueError):
    """A routing file that cannot be used: ``source`` is the file, ``path`` the place in it."""


def parse_duration(value: Any) -> timedelta:
    """Seconds as a number, or text such as ``90s``, ``5m``, ``4h``, ``1h30m``, ``2d``."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"must be a duration such as 30s, 5m or 4h, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"must not be negative, got {value!r}")
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match and any(match.groups()):
            days, hours, minutes, seconds = match.groups()
            return timedelta(
                days=int(days or 0),
                hours=int(hours or 0),
                minutes=int(minutes or 0),
                seconds=float(seconds or 0),
            )
    raise ValueError(f"must be a duration such as 30s, 5m or 4h, got {value!r}")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
SecretRef = Annotated[
    str,
    Field(
        pattern=r"^\$\{[A-Z][A-Z0-9_]*\}$",
        description="A ${NAME} reference to the environment or the secrets file; never a literal.",
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timing(_Model):
    """How long to wait before the first message, between updates, and before repeating."""

    group_wait: Duration = timedelta(seconds=30)
    group_interval: Duration = timedelta(minutes=5)
    repeat_interval: Duration = timedelta(hours=4)
    hold: Duration = Field(
        default=timedelta(minutes=15),
        description="How long a resolved notice waits in case the scope re-fires (flap damping).",
    )


class TimingOverride(_Model):
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    hold: Duration | None = None


class RetryPolicy(_Model):
    """Bounded exponential backoff for failed sends: initial * factor**n, capped, with jitter."""

    initial: Duration = timedelta(seconds=5)
    maximum: Duration = timedelta(minutes=5)
    factor: Annotated[float, Field(ge=1.0, le=10.0)] = 2.0
    jitter: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    attempts: Annotated[int, Field(ge=1, le=100)] = 12


class LogChannel(_Model):
    type: Literal["log"]
    timeout: Duration | None = None


class WebhookChannel(_Model):
    type: Literal["webhook"]
    url: SecretRef
    style: Literal["slack", "teams"] = "slack"
    timeout: Duration | None = None


class EmailChannel(_Model):
    type: Literal["email"]
    host: str = Field(description="SMTP host, literal or ${NAME}.")
    port: int | str = Field(default=25, description="SMTP port, literal or ${NAME}.")
    sender: SecretRef
    username: SecretRef | None = None
    password: SecretRef | None = None
    starttls: bool = False
    timeout: Duration | None = None


class NotifyChannel(_Model):
    """GOV.UK Notify: the template must have ((subject)) (email only) and ((body)) fields."""

    type: Literal["notify_sms", "notify_email"]
    api_key: SecretRef
    template_id: str
    base_url: str | None = None
    timeout: Duration | None = None


Channel = Annotated[LogChannel | WebhookChannel | EmailChannel | NotifyChannel, Field(discriminator="type")]


class Contact(_Model):
    """One way to reach someone in a role; ``areas`` limits it to those areas (None: all)."""

    id: Name
    name: str = Field(min_length=1, max_length=100)
    channel: Name
    address: SecretRef | None = None
    areas: tuple[str, ...] | None = None
    out_of_hours_min_level: Annotated[int, Field(ge=1, le=4)] | None = Field(
        default=None,
        description=(
            "Outside office hours (evenings, nights, weekends, bank holidays) use this contact only "
            "for alerts at or above this level, e.g. 4 for a senior manager's mobile; None: always."
        ),
    )


class RoleContacts(_Model):
    contacts: tuple[Contact, ...] = ()


class PolicyLevel(_Model):
    roles: tuple[RoleId, ...] = Field(min_length=1)
    delay: Duration = Field(description="Time since the first message after which this level is told.")


class EscalationPolicyConfig(_Model):
    """PagerDuty-style: unacknowledged alerts go to each level in turn, then loop."""

    min_level: Annotated[int, Field(ge=1, le=4)] = 3
    loops: Annotated[int, Field(ge=0, le=5)] = 0
    levels: tuple[PolicyLevel, ...] = Field(min_length=1)


class Match(_Model):
    """Every given field must match; a missing field matches anything."""

    kinds: tuple[MatchKind, ...] | None = None
    areas: tuple[str, ...] | None = None
    indicators: tuple[str, ...] | None = None
    sites: tuple[str, ...] | None = None
    level_at_least: Annotated[int, Field(ge=1, le=4)] = 2
    directions: tuple[Direction, ...] | None = None
    exercise: bool = Field(default=False, description="True: only exercise traffic; false: only live.")


class Route(_Model):
    name: Name
    plan_ref: str | None = Field(
        default=None, max_length=200, description="The plan sections this route carries out."
    )
    when: Period = Field(
        default="always",
        description=(
            "always, office_hours, out_of_hours or bank_holiday (plan calendar, Europe/London), "
            "judged at the time of the level change."
        ),
    )
    match: Match = Match()
    roles: tuple[RoleId, ...] = Field(min_length=1)
    escalation_policy: Name | None = None
    timing: TimingOverride = TimingOverride()
    group_by: Literal["area", "scope"] = Field(
        default="area", description="area: one message for several indicators of one area."
    )


class SummaryAction(_Model):
    """Who does an action the action plan gives to a pseudo-role (Appendix 3's ``kcc_summary``).

    Either ``roles``: the action is added to those roles' messages; or ``same_as``: it is the
    same step as that role's own section 8 action, which the role already receives.
    """

    roles: tuple[RoleId, ...] = ()
    same_as: str | None = None
    plan_ref: str = Field(min_length=1, max_length=100, description="Where the plan says who does it.")


class CalendarConfig(_Model):
    """Office hours (plan 5.1: Monday to Friday) and the bank-holiday calendar (holidays package)."""

    office_hours_start: time = time(9, 0)
    office_hours_end: time = time(17, 0)
    workdays: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = (
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
    )
    bank_holidays: str = Field(
        default="GB-ENG",
        description="holidays package country and subdivision: GB-ENG is England (and Wales) bank holidays.",
    )


class ClockConfig(_Model):
    """The plan's time-based duties (sections 3.1, 6.1, 6.3, 7.3, 7.6 and Appendix 3)."""

    timezone: str = "Europe/London"
    daily_assessment: time = time(10, 0)
    stale_after: Duration = Field(
        default=timedelta(hours=26), description="An indicator with no update for this long is stale."
    )
    dos_activation_level: Annotated[int, Field(ge=2, le=4)] = Field(
        default=3,
        description=(
            "The level at which an area or the county activates the NHS 111 DoS protocol (6.1: "
            "'when indicated by the OPEL status level'; the plan names none, see docs/semantics.md)."
        ),
    )
    dos_review_every: Duration = timedelta(hours=4)
    dos_review_role: RoleId = "pascc_ops_manager"
    keah_within: Duration = timedelta(hours=2)
    keah_role: RoleId = "keah_locality_organisers"
    assessment_bed_escalate_after: Duration = Field(
        default=timedelta(weeks=3), description="6.3: placements past 3 weeks are escalated for action."
    )
    assessment_bed_escalate_role: RoleId = "stp_team_manager"
    assessment_bed_notify_after: Duration = Field(
        default=timedelta(weeks=7),
        description="6.3: providers are told in the eighth week of the 12-week disregard (from 7 weeks).",
    )
    assessment_bed_notify_role: RoleId = "arranging_support_team"
    deadline_role: RoleId = Field(
        default="stp_team_manager", description="Told about a missed update when no owner is listed."
    )
    indicator_owners: dict[str, RoleId] = Field(default_factory=dict)
    areas: tuple[str, ...] = ("dgs", "east_kent", "swale", "west_kent")
    submission_deadline: time = Field(
        default=time(10, 0),
        description=(
            "3.1: the first assessment is completed no later than 10:00; at this local time each "
            "owner of an indicator with no reading since midnight is reminded."
        ),
    )
    submission_days: Literal["every_day", "workdays"] = Field(
        default="every_day",
        description=(
            "every_day: 3.1 asks for the 10:00 assessment 7 days per week, so weekends and bank "
            "holidays too; workdays: only on the calendar's working days that are not bank holidays."
        ),
    )
    board_url: str = Field(
        default="http://127.0.0.1:8080",
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        max_length=200,
        description="Where people open the board; reminders link to its /submit page.",
    )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _log_only() -> dict[str, Channel]:
    return {"log": LogChannel(type="log")}


class RoutingConfig(_Model):
    version: Literal[1] = 1
    secrets_file: str | None = None
    defaults: Timing = Timing()
    retry: RetryPolicy = RetryPolicy()
    channel_timeout: Duration = timedelta(seconds=10)
    channels: dict[Name, Channel] = Field(default_factory=_log_only)
    roles: dict[RoleId, RoleContacts] = Field(default_factory=dict)
    escalation_policies: dict[Name, EscalationPolicyConfig] = Field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    summary_actions: dict[str, SummaryAction] = Field(
        default_factory=dict,
        description="Actions of a pseudo-role in the action plan (Appendix 3), by action id: who does them.",
    )
    calendar: CalendarConfig = CalendarConfig()
    clock: ClockConfig = ClockConfig()

    _secrets: dict[str, str] = PrivateAttr(default_factory=dict)
    _source: str = PrivateAttr(default="<routing>")
    _calendar: PlanCalendar | None = PrivateAttr(default=None)

    @property
    def source(self) -> str:
        """The file this configuration was loaded from."""
        return self._source

    @property
    def plan_calendar(self) -> PlanCalendar:
        if self._calendar is None:
            country, _, subdivision = self.calendar.bank_holidays.partition("-")
            self._calendar = PlanCalendar(
                zone=self.clock.zone,
                start=self.calendar.office_hours_start,
                end=self.calendar.office_hours_end,
                workdays=tuple(self.calendar.workdays),
                country=country,
                subdivision=subdivision or None,
            )
        return self._calendar

    def live_channels(self) -> list[str]:
        """``name (type)`` of each channel some contact uses: where messages can actually go."""
        used = {c.channel for entry in self.roles.values() for c in entry.contacts}
        return [f"{name} ({channel.type})" for name, channel in self.channels.items() if name in used]

    def describe(self) -> str:
        """One line for the start-up log: which file, how many routes, which channels are live."""
        channels = ", ".join(self.live_channels()) or "none"
        return f"routing {self.source}: {len(self.routes)} routes; channels live: {channels}"

    def expand(self, value: str) -> str:
        """Replace ``${NAME}`` references with the values resolved at load time."""
        return _REF.sub(lambda m: self._secrets.get(m.group(1), m.group(0)), value)

    def timing(self, route: Route) -> Timing:
        override = route.timing.model_dump(exclude_none=True)
        return self.defaults.model_copy(update=override)

    def route(self, name: str) -> Route | None:
        return next((route for route in self.routes if route.name == name), None)

    def contacts(
        self, role: str, area: str | None, *, at: datetime | None = None, level: int | None = None
    ) -> tuple[Contact, ...]:
        """The role's contacts for ``area`` (a contact with no areas covers every area).

        With ``at``: a contact with ``out_of_hours_min_level`` is left out outside office hours
        unless ``level`` reaches it (a duty notice, with no level, never does).
        """
        entry = self.roles.get(role)  # type: ignore[call-overload]
        if entry is None:
            return ()
        found = tuple(c for c in entry.contacts if c.areas is None or area is None or area in c.areas)
        if at is None or self.plan_calendar.is_office_hours(at):
            return found
        return tuple(
            c
            for c in found
            if c.out_of_hours_min_level is None or (level is not None and level >= c.out_of_hours_min_level)
        )

    def timeout(self, channel: str) -> timedelta:
        configured = self.channels[channel].timeout
        return configured if configured is not None else self.channel_timeout


# --- loading ------------------------------------------------------------------------------------


def _explain(error: ErrorDetails) -> str | None:
    """A literal where only a ``${NAME}`` reference may stand: say so, without echoing the value."""
    pattern = str(error.get("ctx", {}).get("pattern", ""))
    if error["type"] == "string_pattern_mismatch" and r"\$\{" in pattern:
        return "must be a ${NAME} reference to the environment or secrets file, not the value itself"
    return None


def _from_pydantic(display: str, data: Mapping[str, Any], exc: ValidationError) -> RoutingError:
    # show_input=False: this file holds contact details, and a secret written literally (a
    # phone number or PIN left unquoted, a key under a misspelt name) must not reach the log,
    # the audit topic or /history through the refusal. The place is named; the value never.
    problems = field_problems(
        exc, model=RoutingConfig, data=data, noun="key", explain=_explain, show_input=False
    )
    path, problem = first_problem(problems)
    return RoutingError(display, path, problem)


def _walk(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


def _read_secrets(display: str, secrets_file: str, base: Path | None) -> dict[str, str]:
    path = Path(secrets_file)
    if not path.is_absolute() and base is not None:
        path = base / path
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoutingError(display, "secrets_file", f"cannot read {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        # Only where: YAML's own message quotes the offending line, which is a secret here.
        raise RoutingError(display, "secrets_file", f"{path} is not valid YAML{_yaml_where(exc)}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise RoutingError(display, "secrets_file", f"{path} must be a mapping of NAME: value")
    return {str(k): str(v) for k, v in data.items()}


def _yaml_where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _check_references(display: str, config: RoutingConfig) -> None:
    for name, channel in config.channels.items():
        if (
            isinstance(channel, EmailChannel)
            and isinstance(channel.port, str)
            and not _REF.fullmatch(channel.port)
        ):
            raise RoutingError(display, f"channels.{name}.port", "must be a number or a ${NAME} reference")
    seen: dict[str, str] = {}
    for role, entry in config.roles.items():
        for index, contact in enumerate(entry.contacts):
            where = f"roles.{role}.contacts[{index}]"
            if contact.id in seen:
                raise RoutingError(
                    display, f"{where}.id", f"contact id {contact.id!r} is already used at {seen[contact.id]}"
                )
            seen[contact.id] = where
            if contact.channel not in config.channels:
                known = ", ".join(config.channels) or "none"
                raise RoutingError(
                    display, f"{where}.channel", f"unknown channel {contact.channel!r} (known: {known})"
                )
            kind = config.channels[contact.channel].type
            if kind in {"email", "notify_sms", "notify_email"} and contact.address is None:
                raise RoutingError(
                    display, f"{where}.address", f"a {kind} contact needs an address reference"
                )
    for index, route in enumerate(config.routes):
        where = f"routes[{index}]"
        if route.escalation_policy is not None and route.escalation_policy not in config.escalation_policies:
            known = ", ".join(config.escalation_policies) or "none"
            raise RoutingError(
                display,
                f"{where}.escalation_policy",
                f"unknown policy {route.escalation_policy!r} (known: {known})",
            )
        for role in route.roles:
            if role not in config.roles:
                raise RoutingError(display, f"{where}.roles", f"role {role!r} has no entry under roles")
    names = [route.name for route in config.routes]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise RoutingError(
            display, "routes", f"route names must be unique, repeated: {', '.join(duplicates)}"
        )
    for name, policy in config.escalation_policies.items():
        delays = [level.delay for level in policy.levels]
        if delays != sorted(delays):
            raise RoutingError(display, f"escalation_policies.{name}.levels", "delays must not decrease")
        for index, level in enumerate(policy.levels):
            for role in level.roles:
                if role not in config.roles:
                    raise RoutingError(
                        display,
                        f"escalation_policies.{name}.levels[{index}].roles",
                        f"role {role!r} has no entry under roles",
                    )
    for action_id, summary in config.summary_actions.items():
        where = f"summary_actions.{action_id}"
        if bool(summary.roles) == (summary.same_as is not None):
            raise RoutingError(display, where, "give either roles or same_as, not both or neither")
        for role in summary.roles:
            if role not in config.roles:
                raise RoutingError(display, f"{where}.roles", f"role {role!r} has no entry under roles")
    country, _, subdivision = config.calendar.bank_holidays.partition("-")
    try:
        holidays.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError:
        raise RoutingError(
            display, "calendar.bank_holidays", f"no bank-holiday calendar {config.calendar.bank_holidays!r}"
        ) from None
    if config.calendar.office_hours_start >= config.calendar.office_hours_end:
        raise RoutingError(display, "calendar", "office_hours_start must be before office_hours_end")
    try:
        config.clock.zone  # noqa: B018  (resolving the zone is the check)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RoutingError(display, "clock.timezone", f"unknown time zone {config.clock.timezone!r}") from exc
    if DUTY_ROLE not in config.roles:
        raise RoutingError(display, "roles", "the duty role must be listed: it receives the daily summary")


def build_routing(
    data: Mapping[str, Any],
    display: str = "<routing>",
    *,
    env: Mapping[str, str] | None = None,
    base: Path | None = None,
) -> RoutingConfig:
    """Validate parsed YAML and resolve its ``${NAME}`` references from ``env`` and the secrets file."""
    try:
        config = RoutingConfig.model_validate(data)
    except ValidationError as exc:
        raise _from_pydantic(display, data, exc) from None
    _check_references(display, config)
    environment = dict(os.environ if env is None else env)
    secrets = _read_secrets(display, config.secrets_file, base) if config.secrets_file else {}
    resolved: dict[str, str] = {}
    for path, text in _walk(data, ""):
        for name in _REF.findall(text):
            value = environment.get(name, secrets.get(name))
            if value is None:
                raise RoutingError(
                    display, path, f"${{{name}}} is not set in the environment or the secrets file"
                )
            resolved[name] = value
    config._secrets = resolved
    config._source = display
    return config


def load_routing(path: str | Path, *, env: Mapping[str, str] | None = None) -> RoutingConfig:
    """Read, validate and resolve a routing file; any problem is a :class:`RoutingError`."""
    file = Path(path)
    try:
        data = read_yaml_file(file, error=RoutingError)
    except RoutingError as exc:
        # The YAML error it wraps quotes the offending line, maybe a secret: not chained on.
        raise RoutingError(exc.source, exc.path, exc.problem) from None
    return build_routing(data, str(file), env=env, base=file.parent)


def with_grouping_at_most(
    config: RoutingConfig, group_wait: timedelta, group_interval: timedelta
) -> RoutingConfig:
    """``config`` with every route's ``group_wait`` and ``group_interval`` cut to at most these.

    For a demonstration, whose alerts must arrive while people watch; a real service keeps
    its file's waits. Repeats, holds and escalation delays are left as the file sets them.
    """

    def capped(value: timedelta | None, limit: timedelta) -> timedelta | None:
        return None if value is None else min(value, limit)

    defaults = config.defaults.model_copy(
        update={
            "group_wait": min(config.defaults.group_wait, group_wait),
            "group_interval": min(config.defaults.group_interval, group_interval),
        }
    )
    routes = tuple(
        route.model_copy(
            update={
                "timing": route.timing.model_copy(
                    update={
                        "group_wait": capped(route.timing.group_wait, group_wait),
                        "group_interval": capped(route.timing.group_interval, group_interval),
                    }
                )
            }
        )
        for route in config.routes
    )
    return config.model_copy(update={"defaults": defaults, "routes": routes})


DEFAULT_ROUTING_FILE = Path(__file__).resolve().parents[2] / "config" / "routing.yaml"
"""The shipped routing: every plan route, each role's contact on the log channel (no secrets)."""


def default_routing_file() -> Path | None:
    """The shipped ``config/routing.yaml`` when this is a source checkout, else None."""
    return DEFAULT_ROUTING_FILE if DEFAULT_ROUTING_FILE.is_file() else None
