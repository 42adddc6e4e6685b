"""A generated test catalogue of any shape (areas x indicators) and readings that walk its bands.

Not a shipped catalogue: written where bench/stream.py or a test asks (a temporary folder), with
draft status, so a worker runs it only with ``OPEL_ALLOW_DRAFT_CATALOGUES=true``. Indicators take
the two Kent trigger kinds in turn (a staffing percentage that falls under pressure, a caseload
that rises); the action plan is Kent's, whose roles do not depend on the areas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

# (unit, direction, published ranges level 1 first, the range readings walk over)
KINDS: tuple[tuple[str, str, tuple[tuple[int, int], ...], tuple[int, int]], ...] = (
    ("percent", "lower_is_worse", ((70, 100), (50, 69), (30, 49), (0, 29)), (20, 100)),
    ("cases", "higher_is_worse", ((0, 39), (40, 59), (60, 99), (100, 500)), (0, 120)),
)


def area_ids(areas: int) -> list[str]:
    return [f"area_{n:03d}" for n in range(1, areas + 1)]


def indicator_ids(indicators: int) -> list[str]:
    return [f"indicator_{n:02d}" for n in range(1, indicators + 1)]


def catalogue(areas: int, indicators: int) -> dict[str, Any]:
    """The catalogue as a mapping (written as YAML by :func:`write_catalogue`)."""
    entries: dict[str, Any] = {}
    for n, name in enumerate(indicator_ids(indicators)):
        unit, direction, ranges, _ = KINDS[n % len(KINDS)]
        entries[name] = {
            "name": name.replace("_", " ").capitalize(),
            "plan_section": "generated",
            "unit": unit,
            "direction": direction,
            "bands": {"all": [{"level": lv, "range": list(r)} for lv, r in enumerate(ranges, start=1)]},
        }
    return {
        "id": f"bench-{areas}x{indicators}",
        "kind": "indicators",
        "version": "1",
        "title": f"Generated benchmark catalogue ({areas} areas, {indicators} indicators)",
        "status": "draft",
        "plan": {
            "title": "Generated for bench/stream.py",
            "version": "1",
            "date": "2025-10-01",
            "section": "-",
        },
        "approval": {"date": "2025-10-01", "body": "nobody: generated test data"},
        "action_plan": "kcc-asch-actions-v1.8",
        "areas": {a: {"name": a.replace("_", " ").capitalize()} for a in area_ids(areas)},
        "aggregation": {
            "area": {"rule": "worst_indicator"},
            "county": {"id": "kent", "some_areas_min": 1, "county_wide_min_share": 1.0},
        },
        "escalation": {"step_down_dwell": "P1D"},
        "indicators": entries,
    }


def write_catalogue(folder: Path, areas: int, indicators: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bench-{areas}x{indicators}.yaml"
    path.write_text(yaml.safe_dump(catalogue(areas, indicators), sort_keys=False))
    return path


def readings(count: int, start: datetime, areas: int, indicators: int) -> Iterator[dict[str, Any]]:
    """``count`` readings, one a millisecond from ``start``, over every area and indicator in turn;
    values move through the bands (a level changes on about one reading in three)."""
    area_names = area_ids(areas)
    names = indicator_ids(indicators)
    for n in range(count):
        area = area_names[n % areas]
        k = (n // areas) % indicators
        low, high = KINDS[k % len(KINDS)][3]
        yield {
            "indicator": names[k],
            "area": area,
            "value": low + (n * 7919) % (high - low + 1),
            "observed_at": (start + timedelta(milliseconds=n)).isoformat(),
        }


def encoded(count: int, start: datetime, areas: int, indicators: int) -> list[tuple[bytes, bytes]]:
    """The readings as (key, value) records for opel.capacity.v1."""
    return [(r["area"].encode(), json.dumps(r).encode()) for r in readings(count, start, areas, indicators)]
