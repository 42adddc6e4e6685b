"""Render a compiled catalogue as plain-text tables a plan owner can check against the plan."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from opel.bands import BandTable
from opel.catalogue import AcuteCatalogue, Catalogue, CatalogueMeta, IndicatorCatalogue, IndicatorRule
from opel.levels import Level


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[col]) for row in [header, *rows]) for col in range(len(header))]
    lines = ["  " + "  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)).rstrip()]
    lines.append("  " + "  ".join("-" * width for width in widths))
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return lines


def _heading(meta: CatalogueMeta) -> list[str]:
    approved = f"{meta.approved_on} by {meta.approved_by}" if meta.approved_on else meta.approved_by
    return [
        f"{meta.title}",
        f"  id {meta.id}, version {meta.version}, status {meta.status}",
        f"  approval: {approved}",
        f"  plan: {meta.plan_title} v{meta.plan_version}"
        + (f" ({meta.plan_date})" if meta.plan_date else "")
        + f", section {meta.plan_section}",
        f"  file: {meta.source}",
        f"  content: {meta.content_hash}",
        "",
    ]


def _duration(delta: timedelta) -> str:
    hours, rest = divmod(int(delta.total_seconds()), 3600)
    minutes = rest // 60
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


def _cell(rule: IndicatorRule, level: Level) -> str:
    if rule.table is not None:
        for band in rule.table.bands:
            if band.outcome == level:
                return f"{band.published} {band.exact}"
        return "-"
    if rule.categories:
        names = [name for name, verdict in rule.categories.items() if verdict.level == level]
        return ", ".join(names) or "-"
    return "not assessed"


def _indicators(catalogue: IndicatorCatalogue) -> list[str]:
    lines = _heading(catalogue.meta)
    areas = list(catalogue.areas)
    lines.append("Areas: " + ", ".join(f"{a.id} ({a.name})" for a in catalogue.areas.values()))
    county = catalogue.county
    lines.append(
        f"Aggregation: area = worst assessed indicator; county '{county.id}' = OPEL 2 when at least "
        f"{county.some_areas_min} area(s) at OPEL 2+, OPEL 3/4 when at least "
        f"{county.county_wide_min_share:.0%} of assessed areas are at that level (county-wide)"
    )
    dwell, plan = _duration(catalogue.step_down_dwell), catalogue.action_plan or "none"
    lines.append(f"Step-down dwell: {dwell}; action plan: {plan}")
    lines.append("Cells show the published range and, after it, the exact interval used.")
    lines.append("")
    for indicator in catalogue.indicators.values():
        direction = f", {indicator.direction.value.replace('_', ' ')}" if indicator.direction else ""
        lines.append(
            f"{indicator.name} [{indicator.id}] ({indicator.unit}{direction}; plan {indicator.plan_section})"
        )
        rules = [catalogue.rules[(indicator.id, area)] for area in areas]
        if all(rule.kind == "not_assessed" for rule in rules):
            reasons = {rule.not_assessed.reason for rule in rules if rule.not_assessed}
            lines.append(f"  not assessed: {'; '.join(sorted(str(r) for r in reasons))}")
            lines.append("")
            continue
        rows = [[f"{level.label} {level.colour}", *(_cell(rule, level) for rule in rules)] for level in Level]
        lines += _table(["level", *areas], rows)
        for rule in rules:
            if rule.not_assessed is not None:
                lines.append(f"  {rule.area}: not assessed: {rule.not_assessed.reason}")
        lines.append("")
    return lines


def _level_table(table: BandTable) -> list[str]:
    rows = [[f"OPEL {b.outcome} {Level(b.outcome).colour}", b.published, str(b.exact)] for b in table.bands]
    return _table(["level", "published", "exact"], rows)


def _points(table: BandTable) -> list[list[str]]:
    return [[str(band.outcome), band.published, str(band.exact)] for band in table.bands]


def _acute(catalogue: AcuteCatalogue) -> list[str]:
    lines = _heading(catalogue.meta)
    for rule in catalogue.parameters.values():
        lines.append(f"{rule.name} [{rule.id}] ({rule.unit}; {rule.plan_ref})")
        lines += _table(["points", "published", "exact"], _points(rule.table))
        lines.append("")
    lines.append(f"Total score 0-{catalogue.max_score} to level:")
    lines += _level_table(catalogue.score_levels)
    if catalogue.normalised_map is not None:
        level_map = catalogue.normalised_map.meta.ref
        lines.append(f"Normalised score = score / {catalogue.max_score} x 100, mapped by {level_map}")
    lines.append(f"Missing parameters: {catalogue.missing_parameters.replace('_', ' ')}")
    lines.append("")
    lines.append(
        "Sites: " + ", ".join(f"{s.id} ({s.name}, {s.delivery_board})" for s in catalogue.sites.values())
    )
    for system in catalogue.systems.values():
        weights = ", ".join(f"{site} {weight:g}" for site, weight in system.weights.items())
        lines.append(
            f"System {system.id} ({system.name}): weighted mean of site scores [{weights}]; any site at "
            f"{system.enact_site_level_at_or_above.label} or above lifts the system to that level"
        )
    lines.append("")
    return lines


def render_catalogue(catalogue: Catalogue) -> str:
    if isinstance(catalogue, IndicatorCatalogue):
        lines = _indicators(catalogue)
    elif isinstance(catalogue, AcuteCatalogue):
        lines = _acute(catalogue)
    else:
        lines = _heading(catalogue.meta)
        lines += [*_level_table(catalogue.table), ""]
    return "\n".join(lines) + "\n"
