"""Read a trigger catalogue YAML file, check it thoroughly, and compile it.

A catalogue that is wrong in any way is refused as a whole with a ``CatalogueError`` naming
the file, the path inside it (``indicators.referrals.bands.dgs[3]``) and the problem; a
running service keeps its previous catalogue in that case. Wrong includes a band table whose
published bands leave a hole in the values it must decide (``opel.bands.check_coverage``).

Each loaded catalogue carries a hash of its canonical content (``CatalogueMeta.content_hash``):
the parsed data, not the text, so comments, layout, quoting and anchors do not count.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from opel.actions_load import load_action_plan
from opel.bands import (
    BandError,
    BandSpec,
    BandTable,
    Direction,
    Domain,
    check_coverage,
    integer_range_bands,
    parse_interval,
)
from opel.catalogue import (
    AcuteCatalogue,
    AcuteParameterRule,
    AreaDef,
    Catalogue,
    CatalogueMeta,
    CountyRule,
    IndicatorCatalogue,
    IndicatorDef,
    IndicatorRule,
    Kind,
    LevelMap,
    SiteDef,
    SystemDef,
    Verdict,
    version_key,
)
from opel.errors import CatalogueError
from opel.explain import fixed_fields, json_parts, sentence_parts
from opel.levels import Level
from opel.models import PARAMETER_IDS
from opel.sources import Source, locate, shipped_names
from opel.validation_errors import field_problems, first_problem
from opel.yaml_files import parse_yaml_mapping

ALL_AREAS = "all"
OTHER_AREAS = "otherwise"


class _Raw(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RawPlan(_Raw):
    title: str
    version: str
    date: dt.date | None = None
    section: str


class RawApproval(_Raw):
    date: dt.date | None
    body: str


class RawHeader(_Raw):
    """The metadata every catalogue starts with; the rest is checked per kind."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    kind: Kind
    version: str
    title: str
    status: Literal["approved", "draft", "superseded"]
    plan: RawPlan
    approval: RawApproval

    @field_validator("version")
    @classmethod
    def _dotted(cls, value: str) -> str:
        try:
            version_key(value)  # versions must compare: "1.10" is higher than "1.9"
        except ValueError:
            raise ValueError("must be dotted whole numbers such as 1.8 or 2023.24") from None
        return value


class RawRange(_Raw):
    level: int = Field(ge=1, le=4)
    range: tuple[int, int]


class RawInterval(_Raw):
    level: int = Field(ge=1, le=4)
    interval: str
    published: str


class RawPoints(_Raw):
    points: int = Field(ge=0)
    interval: str
    published: str


class RawNotAssessed(_Raw):
    not_assessed: str = Field(min_length=1)


class RawIndicator(_Raw):
    name: str
    unit: str
    plan_section: str
    direction: Direction | None = None
    bands: dict[str, Any] | None = None
    categories: dict[str, dict[str, int]] | None = None


class RawArea(_Raw):
    name: str


class RawCounty(_Raw):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    some_areas_min: int = Field(ge=1)
    county_wide_min_share: float = Field(gt=0, le=1)


class RawAreaRule(_Raw):
    rule: Literal["worst_indicator"]


class RawAggregation(_Raw):
    area: RawAreaRule
    county: RawCounty


class RawEscalation(_Raw):
    step_down_dwell: dt.timedelta


class RawIndicatorCatalogue(RawHeader):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action_plan: str | None
    areas: dict[str, RawArea] = Field(min_length=1)
    aggregation: RawAggregation
    escalation: RawEscalation
    indicators: dict[str, RawIndicator] = Field(min_length=1)


class RawParameter(_Raw):
    name: str
    unit: str
    plan_ref: str
    direction: Direction
    minimum: float = 0.0
    points: list[RawPoints] = Field(min_length=1)


class RawSite(_Raw):
    name: str
    delivery_board: str


class RawSystem(_Raw):
    name: str
    sites: dict[str, float] = Field(min_length=1)
    enact_site_level_at_or_above: int = Field(ge=1, le=4)


class RawAcuteCatalogue(RawHeader):
    model_config = ConfigDict(extra="forbid", frozen=True)

    score_levels: list[RawRange] = Field(min_length=1)
    normalised_level_map: str | None = None
    missing_parameters: Literal["lower_bound", "reject"]
    parameters: dict[str, RawParameter]
    sites: dict[str, RawSite] = Field(min_length=1)
    systems: dict[str, RawSystem] = Field(default_factory=dict)


class RawLevelMap(RawHeader):
    model_config = ConfigDict(extra="forbid", frozen=True)

    direction: Direction
    levels: list[RawInterval] = Field(min_length=1)


T = TypeVar("T")


_ADAPTERS: dict[object, TypeAdapter[Any]] = {}


def _adapter(kind: Any) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    return adapter


def _validate(kind: type[T], data: Any, source: Source, prefix: str = "") -> T:
    """Validate ``data`` (found at ``prefix`` in the file) as ``kind``; refuse it naming the place."""
    try:
        value: T = _adapter(kind).validate_python(data)
    except ValidationError as exc:
        problems = field_problems(exc, model=kind, data=data, noun="key", prefix=prefix)
        path, problem = first_problem(problems)
        raise CatalogueError(source.display, path, problem) from None
    return value


def _canonical(value: Any) -> Any:
    """Parsed YAML as plain JSON values, so equal content always encodes the same way."""
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


def content_hash(data: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of a catalogue's canonical content: its parsed data as sorted, compact JSON.

    Comments, layout, key order, quoting style and YAML anchors do not change it; any change to a
    value, key or list order does.
    """
    text = json.dumps(
        _canonical(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr
    )
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _meta(header: RawHeader, source: Source, data: Mapping[str, Any]) -> CatalogueMeta:
    return CatalogueMeta(
        id=header.id,
        kind=header.kind,
        version=header.version,
        title=header.title,
        status=header.status,
        plan_title=header.plan.title,
        plan_version=header.plan.version,
        plan_date=header.plan.date,
        plan_section=header.plan.section,
        approved_on=header.approval.date,
        approved_by=header.approval.body,
        source=source.display,
        content_hash=content_hash(data),
    )


def _opel(outcome: int) -> str:
    return f"OPEL {outcome}"


def _points(outcome: int) -> str:
    return f"{outcome} points"


PERCENT_UNIT = "percent"


def _indicator_domain(definition: IndicatorDef) -> Domain:
    """Percentages run 0-100 (a value above 100 takes the top band); every other unit is a count."""
    if definition.unit == PERCENT_UNIT:
        return Domain(0.0, 100.0, PERCENT_UNIT)
    return Domain(0.0, math.inf, definition.unit)


def _open_top(direction: Direction) -> int:
    """The level that may run on past the published top: the worst, or the best when lower is worse."""
    return int(Level.OPEL_4 if direction is Direction.HIGHER_IS_WORSE else Level.OPEL_1)


def _table(
    specs_or_error: list[BandSpec] | Callable[[], list[BandSpec]],
    source: Source,
    direction: Direction,
    *,
    path: str,
    domain: Domain,
    outcome_name: Callable[[int], str],
    open_top: bool = False,
) -> BandTable:
    """Compile a table, then check that its published bands cover ``domain`` (no hole at an end)."""
    try:
        specs = specs_or_error() if callable(specs_or_error) else specs_or_error
        table = BandTable(specs, direction, domain.low)
        top = _open_top(direction) if open_top else None
        check_coverage(specs, domain, path, open_top_outcome=top, outcome_name=outcome_name)
    except BandError as exc:
        raise CatalogueError(source.display, exc.path, exc.problem) from None
    return table


def _interval_specs(items: Sequence[RawPoints | RawInterval], path: str, source: Source) -> list[BandSpec]:
    specs = []
    for position, item in enumerate(items):
        where = f"{path}[{position}]"
        try:
            interval = parse_interval(item.interval)
        except ValueError as exc:
            raise CatalogueError(source.display, f"{where}.interval", str(exc)) from None
        outcome = item.points if isinstance(item, RawPoints) else item.level
        specs.append(BandSpec(outcome, interval, interval, item.published, where))
    return specs


def _range_table(
    ranges: list[RawRange], path: str, source: Source, direction: Direction, domain: Domain
) -> BandTable:
    """A table of whole-number level ranges; past an unbounded top only the extreme level runs on."""
    triples = [(r.level, r.range[0], r.range[1], f"{path}[{i}]") for i, r in enumerate(ranges)]
    return _table(
        lambda: integer_range_bands(triples, direction),
        source,
        direction,
        path=path,
        domain=domain,
        outcome_name=_opel,
        open_top=True,
    )


# ---------------------------------------------------------------- indicator catalogues


def _area_entries(
    entries: Mapping[str, Any], areas: Mapping[str, AreaDef], path: str, source: Source
) -> dict[str, tuple[str, Any]]:
    """Expand ``all`` / ``otherwise`` keys into one (path, entry) per area, checking coverage."""
    if ALL_AREAS in entries and len(entries) > 1:
        raise CatalogueError(source.display, path, f"'{ALL_AREAS}' cannot be combined with other keys")
    for key in entries:
        if key not in areas and key not in (ALL_AREAS, OTHER_AREAS):
            known = ", ".join(areas)
            raise CatalogueError(source.display, f"{path}.{key}", f"unknown area '{key}' (areas: {known})")
    expanded: dict[str, tuple[str, Any]] = {}
    for area in areas:
        key = area if area in entries else ALL_AREAS if ALL_AREAS in entries else OTHER_AREAS
        if key not in entries:
            raise CatalogueError(
                source.display, path, f"no rule for area '{area}': add it, or an '{OTHER_AREAS}' entry"
            )
        expanded[area] = (f"{path}.{key}", entries[key])
    return expanded


def _numeric_rule(
    definition: IndicatorDef, area: str, entry: Any, path: str, *, meta: CatalogueMeta, source: Source
) -> IndicatorRule:
    if isinstance(entry, dict):
        reason = _validate(RawNotAssessed, entry, source, path).not_assessed
        return IndicatorRule(definition, area, not_assessed=_verdict(definition, area, meta, reason=reason))
    ranges: list[RawRange] = _validate(list[RawRange], entry, source, path)
    if not ranges:
        raise CatalogueError(source.display, path, "a band list needs at least one band")
    if definition.direction is None:
        raise CatalogueError(
            source.display,
            f"indicators.{definition.id}.direction",
            "a table with bands needs a direction: higher_is_worse or lower_is_worse",
        )
    table = _range_table(ranges, path, source, definition.direction, _indicator_domain(definition))
    verdicts = tuple(
        _verdict(definition, area, meta, level=Level(band.outcome), band=band, table=table)
        for band in table.bands
    )
    return IndicatorRule(definition, area, table=table, band_verdicts=verdicts)


def _categorical_rule(
    definition: IndicatorDef, area: str, entry: Any, path: str, *, meta: CatalogueMeta, source: Source
) -> IndicatorRule:
    mapping: dict[str, int] = _validate(dict[str, int], entry, source, path)
    verdicts = {}
    for name, level in mapping.items():
        if not 1 <= level <= 4:
            raise CatalogueError(source.display, f"{path}.{name}", f"level must be 1-4, got {level}")
        verdicts[name] = _verdict(definition, area, meta, level=Level(level), category=name)
    return IndicatorRule(definition, area, categories=verdicts)


def _verdict(
    definition: IndicatorDef,
    area: str,
    meta: CatalogueMeta,
    *,
    level: Level | None = None,
    band: Any = None,
    category: str | None = None,
    reason: str | None = None,
    table: BandTable | None = None,
) -> Verdict:
    verdict = Verdict(
        definition.id, area, level, band, category, reason, definition.plan_section, meta, table
    )
    return replace(
        verdict,
        fixed=fixed_fields(verdict),
        sentence=sentence_parts(verdict),
        json_parts=json_parts(verdict),
    )


def compile_indicator_catalogue(data: dict[str, Any], source: Source) -> IndicatorCatalogue:
    raw = _validate(RawIndicatorCatalogue, data, source)
    meta = _meta(raw, source, data)
    areas = {key: AreaDef(key, area.name) for key, area in raw.areas.items()}
    indicators: dict[str, IndicatorDef] = {}
    rules: dict[tuple[str, str], IndicatorRule] = {}
    for ident, spec in raw.indicators.items():
        path = f"indicators.{ident}"
        definition = IndicatorDef(ident, spec.name, spec.unit, spec.plan_section, spec.direction)
        indicators[ident] = definition
        if (spec.bands is None) == (spec.categories is None):
            raise CatalogueError(source.display, path, "give exactly one of 'bands' or 'categories'")
        build = _numeric_rule if spec.bands is not None else _categorical_rule
        entries = spec.bands if spec.bands is not None else spec.categories
        assert entries is not None
        field_name = "bands" if spec.bands is not None else "categories"
        for area, (where, entry) in _area_entries(entries, areas, f"{path}.{field_name}", source).items():
            rules[(ident, area)] = build(definition, area, entry, where, meta=meta, source=source)
    if raw.action_plan is not None:
        try:
            load_action_plan(raw.action_plan)
        except CatalogueError as exc:
            raise CatalogueError(source.display, "action_plan", str(exc)) from None
    county = raw.aggregation.county
    return IndicatorCatalogue(
        meta=meta,
        areas=areas,
        indicators=indicators,
        rules=rules,
        area_rule=raw.aggregation.area.rule,
        county=CountyRule(county.id, county.some_areas_min, county.county_wide_min_share),
        step_down_dwell=raw.escalation.step_down_dwell,
        action_plan=raw.action_plan,
    )


# ---------------------------------------------------------------- acute catalogues and level maps


def compile_level_map(data: dict[str, Any], source: Source) -> LevelMap:
    raw = _validate(RawLevelMap, data, source)
    specs = _interval_specs(raw.levels, "levels", source)
    domain = Domain(0.0, 100.0, "normalised score")
    table = _table(specs, source, raw.direction, path="levels", domain=domain, outcome_name=_opel)
    return LevelMap(_meta(raw, source, data), table)


def compile_acute_catalogue(data: dict[str, Any], source: Source) -> AcuteCatalogue:
    raw = _validate(RawAcuteCatalogue, data, source)
    expected, given = set(PARAMETER_IDS), set(raw.parameters)
    for unknown in sorted(given - expected):
        raise CatalogueError(
            source.display, f"parameters.{unknown}", f"unknown parameter (known: {', '.join(PARAMETER_IDS)})"
        )
    for missing in sorted(expected - given):
        raise CatalogueError(source.display, "parameters", f"missing parameter '{missing}'")
    parameters = {}
    for ident in PARAMETER_IDS:
        spec = raw.parameters[ident]
        path = f"parameters.{ident}.points"
        table = _table(
            _interval_specs(spec.points, path, source),
            source,
            spec.direction,
            path=path,
            domain=Domain(spec.minimum, math.inf, spec.unit),
            outcome_name=_points,
        )
        parameters[ident] = AcuteParameterRule(
            ident, spec.name, spec.unit, spec.plan_ref, spec.minimum, table
        )
    max_score = sum(rule.table.worst_outcome for rule in parameters.values())
    score_domain = Domain(0.0, float(max_score), f"total score 0-{max_score}")
    score_levels = _range_table(
        raw.score_levels, "score_levels", source, Direction.HIGHER_IS_WORSE, score_domain
    )
    normalised = None
    if raw.normalised_level_map is not None:
        try:
            normalised = load_level_map(raw.normalised_level_map)
        except CatalogueError as exc:
            raise CatalogueError(source.display, "normalised_level_map", str(exc)) from None
    sites = {key: SiteDef(key, site.name, site.delivery_board) for key, site in raw.sites.items()}
    systems = {}
    for key, system in raw.systems.items():
        for site, weight in system.sites.items():
            where = f"systems.{key}.sites.{site}"
            if site not in sites:
                raise CatalogueError(
                    source.display, where, f"unknown site '{site}' (sites: {', '.join(sites)})"
                )
            if weight <= 0:
                raise CatalogueError(source.display, where, f"weight must be above 0, got {weight}")
        systems[key] = SystemDef(
            key, system.name, dict(system.sites), Level(system.enact_site_level_at_or_above)
        )
    return AcuteCatalogue(
        meta=_meta(raw, source, data),
        parameters=parameters,
        score_levels=score_levels,
        normalised_map=normalised,
        missing_parameters=raw.missing_parameters,
        sites=sites,
        systems=systems,
    )


# ---------------------------------------------------------------- entry points


def _load_uncached(name_or_path: str) -> Catalogue:
    source = locate(name_or_path)
    data = parse_yaml_mapping(source.text, source.display)
    header = _validate(RawHeader, data, source)
    by_name = not name_or_path.endswith((".yaml", ".yml")) and "/" not in name_or_path
    if by_name and header.id != name_or_path:
        raise CatalogueError(source.display, "id", f"id '{header.id}' does not match the file name")
    if header.kind is Kind.INDICATORS:
        return compile_indicator_catalogue(data, source)
    if header.kind is Kind.ACUTE:
        return compile_acute_catalogue(data, source)
    return compile_level_map(data, source)


@lru_cache(maxsize=32)
def _load_shipped(name: str) -> Catalogue:
    return _load_uncached(name)


def load_catalogue(name_or_path: str) -> Catalogue:
    """Load a shipped catalogue by name (cached) or any catalogue file by path (read afresh)."""
    if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path:
        return _load_uncached(name_or_path)
    return _load_shipped(name_or_path)


def shipped_with_same_version(catalogue: Catalogue) -> CatalogueMeta | None:
    """The shipped catalogue ``catalogue`` impersonates, if any: same id and version, other content.

    A worker running the shipped catalogue refuses such a file; ``opel catalogue validate``
    warns about it.
    """
    meta = catalogue.meta
    if meta.id not in shipped_names():
        return None
    try:
        shipped = load_catalogue(meta.id).meta
    except CatalogueError:
        return None
    if shipped.version_key != meta.version_key or shipped.content_hash == meta.content_hash:
        return None
    return shipped


def _expect(catalogue: Catalogue, wanted: type[T], kind: Kind) -> T:
    if not isinstance(catalogue, wanted):
        raise CatalogueError(
            catalogue.meta.source,
            "kind",
            f"expected a '{kind.value}' catalogue, got '{catalogue.meta.kind.value}'",
        )
    return catalogue


def load_indicator_catalogue(name_or_path: str) -> IndicatorCatalogue:
    return _expect(load_catalogue(name_or_path), IndicatorCatalogue, Kind.INDICATORS)


def load_acute_catalogue(name_or_path: str) -> AcuteCatalogue:
    return _expect(load_catalogue(name_or_path), AcuteCatalogue, Kind.ACUTE)


def load_level_map(name_or_path: str) -> LevelMap:
    return _expect(load_catalogue(name_or_path), LevelMap, Kind.LEVEL_MAP)


DEFAULT_INDICATOR_CATALOGUE = "kcc-asch-2025-26"
DEFAULT_ACUTE_CATALOGUE = "nhs-acute-2023-24"
