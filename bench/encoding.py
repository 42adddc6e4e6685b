"""Message encoding on the hot path: the pydantic v2 contracts against msgspec (issue 9).

    pip install msgspec orjson          # not project dependencies; only this script needs them
    python bench/encoding.py            # as recorded in docs/benchmarks.md
    python bench/encoding.py --n 5000   # quicker

One run, the same data for every variant. Each figure is the best of --repeat passes over the
data, single process, so one core:
  (a) one audit record per reading, built (content-hash id included) and encoded:
      opel.contracts.audit.audit_record(...).to_json()  vs  an equivalent msgspec.Struct and
      msgspec.json.Encoder  vs  a plain dict and pydantic_core.to_json (the old way; reference).
      The same three encoders on records built beforehand isolate the encoding.
  (b) one StageMessage of 1,000 ReadingItems encoded: the contract's to_json()  vs  an
      equivalent msgspec Struct tree (items a union tagged on ``kind``)  vs  plain dicts with
      timestamps as strings and pydantic_core.to_json (reference).
  (c) that message's JSON decoded back: StageMessage.model_validate_json  vs  a msgspec Decoder
      for the Struct mirror (``msgspec.json.decode(raw, type=...)`` with its type work done once)
      vs  untyped dicts, timestamps left as strings: pydantic_core.from_json (the project's
      decoder; reference) and orjson.loads.
  (d) one status value of each of the five kinds, decoded: STATUS.validate_json  vs  a msgspec
      Decoder for the mirrored tagged union  vs  untyped dicts as in (c).

The msgspec mirrors state the same fields, defaults, tags, bounds (levels 1-4, aware
datetimes, id patterns) and refusal of unknown fields as the contracts; what msgspec cannot
state (pydantic's whitespace stripping, the cross-field checks of Override and ReferralEvent)
is left out, and none of it is on a measured path. The mirrors are not frozen (no cost either
way). Before timing, the script checks that each
variant writes the same JSON and decodes to the same content.
"""

# msgspec and orjson ship types but are not project dependencies, and `make lint` runs mypy on
# venvs without them. There msgspec is Any: the mirrors subclass Any and their class keywords
# (tag=, tag_field=, ...) look like arguments to object.__init_subclass__, hence the
# "type: ignore"s on the imports and class lines; each is unused, and allowed to be, when
# msgspec is installed.
# mypy: allow-subclassing-any

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import pydantic
from pydantic_core import from_json, to_json

from opel.catalogue_load import load_indicator_catalogue
from opel.contracts.audit import NAMESPACE, AuditRecord, Decision, audit_record
from opel.contracts.base import Colour, Contract
from opel.contracts.stage import ReadingItem, StageMessage
from opel.contracts.status import STATUS, AnyStatus
from opel.feeds import Override

try:
    import msgspec  # type: ignore[import-not-found, unused-ignore]
    import orjson  # type: ignore[import-not-found, unused-ignore]
    from msgspec import Meta, Struct, field  # type: ignore[import-not-found, unused-ignore]
except ModuleNotFoundError as missing:
    sys.exit(f"bench/encoding.py needs {missing.name}: pip install msgspec orjson")

START = datetime(2025, 11, 12, tzinfo=UTC)
BATCH = 1_000
CATALOGUE = "kcc-asch-2025-26"


# --------------------------------------------------------------------------- msgspec mirrors
# The contracts measured here restated as msgspec Structs: what a switch would look like.
Level = Annotated[int, Meta(ge=1, le=4)]
Aware = Annotated[datetime, Meta(tz=True)]
Identifier = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]*$", min_length=1, max_length=64)]
Ref = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
ScopeKey = Annotated[
    str, Meta(pattern=r"^(indicator/[a-z][a-z0-9_]*/|area/|county/|site/|system/)[a-z][a-z0-9_-]*$")
]
Text = Annotated[str, Meta(min_length=1, max_length=500)]
Author = Annotated[str, Meta(min_length=1, max_length=100)]
Count = Annotated[int, Meta(ge=0)]
Measure = Annotated[float, Meta(ge=0)] | None
Value = int | float | str


class MsContract(Struct, forbid_unknown_fields=True):  # type: ignore[call-arg, unused-ignore]
    """Unknown fields refused, as the contracts do. (frozen=True would change nothing measured here,
    and mypy would want it restated on every subclass.)"""


class MsAuditRecord(MsContract):
    id: str
    at: Aware
    decision: Decision
    scope: str | None = None
    input: dict[str, Any] | None = None
    rule: str | None = None
    catalogue: str | None = None
    catalogue_version: str | None = None
    author: str | None = None
    reason: str | None = None
    outcome: dict[str, Any] | None = None


class MsOverride(MsContract):
    type: Literal["override"]
    id: Ref
    scope: ScopeKey
    level: Level
    author: Author
    reason: Text
    at: Aware
    expires_at: Aware
    declaration: bool = False


class MsWithdraw(MsContract):
    type: Literal["withdraw"]
    id: Ref
    scope: ScopeKey
    author: Author
    reason: Text
    at: Aware


class MsReferralEvent(MsContract):
    event_id: Ref
    area: Identifier
    kind: Literal["received", "accepted", "closed", "snapshot"]
    occurred_at: Aware
    service: Literal["stp", "keah"] = "stp"
    count: Annotated[int, Meta(ge=1, le=10_000)] = 1
    caseload: Literal["health", "social"] | None = None
    ref: Ref | None = None
    start_date_within_24h: bool | None = None
    pending: Count | None = None
    health_caseload: Count | None = None
    social_caseload: Count | None = None


class MsAcuteParameters(MsContract):
    ambulance_handover_mean_min: Measure = None
    ed_4h_performance_pct: Measure = None
    ed_attendances_vs_expected_pct: Annotated[float, Meta(ge=-100)] | None = None
    majors_resus_occupancy_pct: Measure = None
    time_to_treatment_median_min: Measure = None
    ed_over_12h_pct: Measure = None
    ga_bed_occupancy_pct: Measure = None
    escalation_beds_pct: Measure = None
    nctr_beds_pct: Measure = None


class MsAcuteSubmission(MsContract):
    site: Identifier
    observed_at: Aware
    parameters: MsAcuteParameters


# Stage messages: items tagged on "kind".
class MsItem(MsContract, tag_field="kind"):  # type: ignore[call-arg, unused-ignore]
    pass


class MsReadingItem(MsItem, tag="reading"):  # type: ignore[call-arg, unused-ignore]
    indicator: str
    area: str
    value: Value
    observed_at: Aware


class MsReferralItem(MsItem, tag="referral"):  # type: ignore[call-arg, unused-ignore]
    event: MsReferralEvent


class MsAcuteItem(MsItem, tag="acute"):  # type: ignore[call-arg, unused-ignore]
    submission: MsAcuteSubmission
    seen: Aware


class MsOverrideItem(MsItem, tag="override"):  # type: ignore[call-arg, unused-ignore]
    command: MsOverride


class MsWithdrawItem(MsItem, tag="withdraw"):  # type: ignore[call-arg, unused-ignore]
    command: MsWithdraw


class MsTickItem(MsItem, tag="tick"):  # type: ignore[call-arg, unused-ignore]
    now: Aware


class MsAreaChange(MsContract):
    at: Aware
    level: Level | None
    seq: int


class MsAreaReport(MsItem, tag="area_report"):  # type: ignore[call-arg, unused-ignore]
    area: str
    changes: tuple[MsAreaChange, ...]
    watermark: Aware
    seen: Aware


MsStageItem = (
    MsReadingItem | MsReferralItem | MsAcuteItem | MsOverrideItem | MsWithdrawItem | MsTickItem | MsAreaReport
)


class MsStageMessage(MsContract):
    items: tuple[MsStageItem, ...]
    seen: Aware
    ts: int | None = None
    reload: bool = False


# Status values: one Struct per kind, tagged on "kind".
class MsHeld(MsContract):
    level: Level
    computed_level: Level
    lower_since: Aware
    next_level: Level
    until: Aware


# kw_only: the required updated_at follows fields with defaults.
class MsStatusBase(MsContract, tag_field="kind", kw_only=True):  # type: ignore[call-arg, unused-ignore]
    scope: str
    level: Level | None
    colour: Colour | None
    computed_level: Level | None
    computed_colour: Colour | None
    state_level: Level | None
    held: MsHeld | None = None
    override: MsOverride | None = None
    explanation: str | None = None
    catalogue: str | None = None
    catalogue_version: str | None = None
    observed_at: Aware | None = None
    since: Aware | None = None
    updated_at: Aware


class MsIndicatorStatus(MsStatusBase, tag="indicator"):  # type: ignore[call-arg, unused-ignore]
    area: str
    indicator: str
    value: Value | None = None
    band: str | None = None


class MsAreaStatus(MsStatusBase, tag="area"):  # type: ignore[call-arg, unused-ignore]
    area: str
    driving: list[str] = field(default_factory=list)


class MsCountyStatus(MsStatusBase, tag="county"):  # type: ignore[call-arg, unused-ignore]
    county: str
    areas_assessed: int = 0
    late: bool | None = None


class MsSitePoints(MsContract):
    value: Value | None
    points: int | float
    band: str


class MsSiteStatus(MsStatusBase, tag="site"):  # type: ignore[call-arg, unused-ignore]
    site: str
    score: float | None = None
    score_max: float | None = None
    complete: bool | None = None
    missing: list[str] = field(default_factory=list)
    normalised_score: float | None = None
    normalised_level: Level | None = None
    points: dict[str, MsSitePoints] = field(default_factory=dict)


class MsSystemStatus(MsStatusBase, tag="system"):  # type: ignore[call-arg, unused-ignore]
    system: str
    score: float | None = None
    score_max: float | None = None
    normalised_score: float | None = None
    aggregate_level: Level | None = None
    driving: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    late: bool | None = None


MsStatus = MsIndicatorStatus | MsAreaStatus | MsCountyStatus | MsSiteStatus | MsSystemStatus


# --------------------------------------------------------------------------- data
@dataclass(frozen=True, slots=True)
class AuditArgs:
    """What the area stage hands audit_record() for one assessed reading."""

    decision: Any
    scope: str
    at: datetime
    input: dict[str, Any]
    rule: str
    catalogue: str
    catalogue_version: str
    outcome: dict[str, Any]


def make_readings(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Readings as they arrive: every indicator and area of the catalogue, ints and decimals."""
    rng = random.Random(seed)
    pairs = sorted(load_indicator_catalogue(CATALOGUE).rules)
    readings = []
    for i in range(count):
        indicator, area = rng.choice(pairs)
        value: float = rng.randint(0, 120) if rng.random() < 0.7 else round(rng.uniform(0, 120), 1)
        at = (START + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
        readings.append({"indicator": indicator, "area": area, "value": value, "observed_at": at})
    return readings


def audit_args(readings: Sequence[dict[str, Any]]) -> list[AuditArgs]:
    rng = random.Random(11)
    return [
        AuditArgs(
            decision="assessed",
            scope=f"indicator/{r['indicator']}/{r['area']}",
            at=datetime.fromisoformat(r["observed_at"]),
            input=r,
            rule=rng.choice(["[0, 20)", "[20, 40)", "[40, 60)", ">= 60"]),
            catalogue=CATALOGUE,
            catalogue_version="2025.11.1",
            outcome={"level": rng.randint(1, 4)},
        )
        for r in readings
    ]


def audit_id(decision: str, scope: str | None, at: datetime, inputs: dict[str, Any] | None) -> str:
    """The content-hash id, computed exactly as opel.contracts.audit.audit_record does."""
    basis = f"{decision}|{scope}|{at.isoformat()}|{sorted((inputs or {}).items())!r}|{None}"
    digest = hashlib.blake2b(basis.encode(), digest_size=16, key=NAMESPACE.bytes).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"


def status_samples() -> list[AnyStatus]:
    """One realistic status value of each kind (a held level, an override, site points)."""
    at = START + timedelta(hours=9, minutes=30)
    common: dict[str, Any] = {
        "catalogue": CATALOGUE,
        "catalogue_version": "2025.11.1",
        "observed_at": at,
        "since": at - timedelta(hours=2),
        "updated_at": at,
    }
    held = {
        "level": 3,
        "computed_level": 1,
        "lower_since": at,
        "next_level": 2,
        "until": at + timedelta(days=1),
    }
    override = Override(
        type="override",
        id="ovr-20251112-01",
        scope="area/west_kent",
        level=4,
        author="duty-manager",
        reason="Two homecare providers handed back packages this morning",
        at=at,
        expires_at=at + timedelta(hours=12),
    )
    points = {
        p: {"value": v, "points": pts, "band": band}
        for p, v, pts, band in [
            ("ambulance_handover_mean_min", 42.5, 3, "30-45"),
            ("ed_4h_performance_pct", 71.2, 2, "70-76"),
            ("ed_attendances_vs_expected_pct", 12.0, 2, "10-20"),
            ("majors_resus_occupancy_pct", 104.0, 4, ">100"),
            ("time_to_treatment_median_min", 95, 3, "90-120"),
            ("ed_over_12h_pct", 8.1, 2, "5-10"),
            ("ga_bed_occupancy_pct", 96.4, 3, "95-98"),
            ("escalation_beds_pct", 3.0, 2, "2-5"),
            ("nctr_beds_pct", 18.5, 3, "15-20"),
        ]
    }
    raw: list[dict[str, Any]] = [
        {
            "kind": "indicator",
            "scope": "indicator/stp_referrals_pending/west_kent",
            "area": "west_kent",
            "indicator": "stp_referrals_pending",
            "level": 3,
            "colour": "red",
            "computed_level": 1,
            "computed_colour": "green",
            "state_level": 3,
            "held": held,
            "explanation": "71 referrals pending: OPEL 1 (below 80); held at OPEL 3 by the step-down wait",
            "value": 71,
            "band": "< 80",
            **common,
        },
        {
            "kind": "area",
            "scope": "area/west_kent",
            "area": "west_kent",
            "level": 4,
            "colour": "black",
            "computed_level": 3,
            "computed_colour": "red",
            "state_level": 3,
            "override": override,
            "explanation": "OPEL 3 driven by 2 indicators at OPEL 3; overridden to OPEL 4",
            "driving": ["stp_referrals_pending", "keah_waiting"],
            **common,
        },
        {
            "kind": "county",
            "scope": "county/kent",
            "county": "kent",
            "level": 3,
            "colour": "red",
            "computed_level": 3,
            "computed_colour": "red",
            "state_level": 3,
            "explanation": "Highest area level: west_kent at OPEL 3",
            "areas_assessed": 4,
            "late": False,
            **common,
        },
        {
            "kind": "site",
            "scope": "site/maidstone",
            "site": "maidstone",
            "level": 3,
            "colour": "red",
            "computed_level": 3,
            "computed_colour": "red",
            "state_level": 3,
            "explanation": "Score 24 of 36 (67 %): OPEL 3",
            "score": 24.0,
            "score_max": 36.0,
            "complete": True,
            "normalised_score": 66.7,
            "normalised_level": 3,
            "points": points,
            **common,
        },
        {
            "kind": "system",
            "scope": "system/kent_medway",
            "system": "kent_medway",
            "level": 3,
            "colour": "red",
            "computed_level": 3,
            "computed_colour": "red",
            "state_level": 3,
            "explanation": "Aggregate of 6 sites: OPEL 3",
            "score": 132.0,
            "score_max": 216.0,
            "normalised_score": 61.1,
            "aggregate_level": 3,
            "driving": ["maidstone", "darent_valley"],
            "missing": ["william_harvey"],
            "late": False,
            **common,
        },
    ]
    return [STATUS.validate_python(r) for r in raw]


# --------------------------------------------------------------------------- timing
@dataclass(frozen=True, slots=True)
class Row:
    case: str
    variant: str
    rate: float  # ops/s
    reference: bool = False


def measure(case: str, variants: Sequence[tuple[str, Callable[[], int]]], repeat: int) -> list[Row]:
    """Best rate of each variant; the first is the reference. Passes are interleaved (a, b, c, a,
    b, c, ...) so that load from other work on the machine falls on every variant alike."""
    for _, work in variants:
        work()  # warm up: caches, lazily built serializers
    best = [0.0] * len(variants)
    for _ in range(repeat):
        for i, (_, work) in enumerate(variants):
            gc.collect()
            started = time.perf_counter()
            done = work()
            best[i] = max(best[i], done / (time.perf_counter() - started))
    return [
        Row(case, name, rate, i == 0) for i, ((name, _), rate) in enumerate(zip(variants, best, strict=True))
    ]


def over(items: Sequence[Any], fn: Callable[[Any], object]) -> Callable[[], int]:
    def run() -> int:
        for item in items:
            fn(item)
        return len(items)

    return run


def _normalise(value: Any) -> Any:
    """JSON content with timestamps as instants, so "+00:00" and "Z" compare equal."""
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, str) and len(value) >= 20 and value[10:11] == "T":
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def same_json(*encoded: bytes) -> None:
    first = _normalise(from_json(encoded[0]))
    for other in encoded[1:]:
        if _normalise(from_json(other)) != first:
            raise SystemExit(f"variants disagree:\n{encoded[0]!r}\n{other!r}")


# --------------------------------------------------------------------------- the cases
def contract_audit(a: AuditArgs) -> AuditRecord:
    return audit_record(
        a.decision,
        a.scope,
        a.at,
        input=a.input,
        rule=a.rule,
        catalogue=a.catalogue,
        catalogue_version=a.catalogue_version,
        outcome=a.outcome,
    )


def case_audit(args: Sequence[AuditArgs], repeat: int) -> list[Row]:
    encoder = msgspec.json.Encoder()

    def contract(a: AuditArgs) -> bytes:
        return contract_audit(a).to_json()

    def msgspec_struct(a: AuditArgs) -> bytes:
        inputs = dict(a.input)
        record = MsAuditRecord(
            id=audit_id(a.decision, a.scope, a.at, inputs),
            at=a.at,
            decision=a.decision,
            scope=a.scope,
            input=inputs,
            rule=a.rule,
            catalogue=a.catalogue,
            catalogue_version=a.catalogue_version,
            outcome=dict(a.outcome),
        )
        return encoder.encode(record)  # type: ignore[no-any-return, unused-ignore]

    def plain_dict(a: AuditArgs) -> bytes:
        inputs = dict(a.input)
        return to_json(
            {
                "id": audit_id(a.decision, a.scope, a.at, inputs),
                "at": a.at.isoformat(),
                "decision": a.decision,
                "scope": a.scope,
                "input": inputs,
                "rule": a.rule,
                "catalogue": a.catalogue,
                "catalogue_version": a.catalogue_version,
                "author": None,
                "reason": None,
                "outcome": dict(a.outcome),
            }
        )

    same_json(plain_dict(args[0]), contract(args[0]), msgspec_struct(args[0]))
    if contract(args[0]) != msgspec_struct(args[0]):
        raise SystemExit("the audit contract and its msgspec mirror write different bytes")

    # The same records built beforehand: what the encoder alone costs.
    models = [contract_audit(a) for a in args]
    structs = [MsAuditRecord(**m.model_dump()) for m in models]
    dicts = [m.model_dump() | {"at": m.at.isoformat()} for m in models]

    built = [
        ("dict + pydantic_core.to_json (old way)", over(args, plain_dict)),
        ("contract: audit_record().to_json()", over(args, contract)),
        ("msgspec Struct + Encoder", over(args, msgspec_struct)),
    ]
    encoded = [
        ("dict + pydantic_core.to_json", over(dicts, to_json)),
        ("contract: AuditRecord.to_json()", over(models, Contract.to_json)),
        ("msgspec Struct + Encoder", over(structs, encoder.encode)),
    ]
    return [
        *measure("(a) audit record, build + encode", built, repeat),
        *measure("(a') audit record, encode only", encoded, repeat),
    ]


def stage_messages(
    readings: Sequence[dict[str, Any]],
) -> tuple[list[StageMessage], list[MsStageMessage], list[dict[str, Any]]]:
    """The readings in messages of BATCH items: as contracts, as msgspec Structs, as dicts."""
    contracts, structs, dicts = [], [], []
    for start in range(0, len(readings) - BATCH + 1, BATCH):
        batch = readings[start : start + BATCH]
        seen = datetime.fromisoformat(batch[-1]["observed_at"]) + timedelta(milliseconds=40)
        ts = int(datetime.fromisoformat(batch[0]["observed_at"]).timestamp() * 1000)
        contracts.append(
            StageMessage(items=tuple(ReadingItem.model_validate(r) for r in batch), seen=seen, ts=ts)
        )
        items = tuple(
            MsReadingItem(
                indicator=r["indicator"],
                area=r["area"],
                value=r["value"],
                observed_at=datetime.fromisoformat(r["observed_at"]),
            )
            for r in batch
        )
        structs.append(MsStageMessage(items=items, seen=seen, ts=ts))
        dicts.append(
            {
                "items": [{"kind": "reading", **r} for r in batch],
                "seen": seen.isoformat().replace("+00:00", "Z"),
                "ts": ts,
                "reload": False,
            }
        )
    return contracts, structs, dicts


def case_stage(readings: Sequence[dict[str, Any]], repeat: int) -> list[Row]:
    contracts, structs, dicts = stage_messages(readings)
    encoder = msgspec.json.Encoder()
    same_json(to_json(dicts[0]), contracts[0].to_json(), encoder.encode(structs[0]))

    encoded = [
        ("dicts + pydantic_core.to_json", over(dicts, to_json)),
        ("contract: StageMessage.to_json()", over(contracts, Contract.to_json)),
        ("msgspec Struct + Encoder", over(structs, encoder.encode)),
    ]

    raw = [m.to_json() for m in contracts]
    decoder = msgspec.json.Decoder(MsStageMessage)
    if decoder.decode(raw[0]) != structs[0]:
        raise SystemExit("the msgspec stage message does not decode back to what it encoded")
    if StageMessage.model_validate_json(raw[0]) != contracts[0]:
        raise SystemExit("the stage message contract does not decode back to what it encoded")

    decoded = [
        ("pydantic_core.from_json -> dicts", over(raw, from_json)),
        ("orjson.loads -> dicts", over(raw, orjson.loads)),
        ("contract: StageMessage.model_validate_json", over(raw, StageMessage.model_validate_json)),
        ("msgspec Decoder(StageMessage)", over(raw, decoder.decode)),
    ]
    return [
        *measure(f"(b) stage message of {BATCH:,} readings, encode", encoded, repeat),
        *measure(f"(c) stage message of {BATCH:,} readings, decode", decoded, repeat),
    ]


def case_status(count: int, repeat: int) -> list[Row]:
    samples = [STATUS.dump_json(s) for s in status_samples()]
    decoder = msgspec.json.Decoder(MsStatus)
    for raw in samples:  # the same content through both readers
        back = msgspec.json.encode(decoder.decode(raw))
        same_json(raw, STATUS.dump_json(STATUS.validate_json(raw)), back)
    raws = [samples[i % len(samples)] for i in range(count)]

    decoded = [
        ("pydantic_core.from_json -> dict", over(raws, from_json)),
        ("orjson.loads -> dict", over(raws, orjson.loads)),
        ("contract: STATUS.validate_json", over(raws, STATUS.validate_json)),
        ("msgspec Decoder(Status union)", over(raws, decoder.decode)),
    ]
    return measure("(d) status value (5 kinds in turn), decode", decoded, repeat)


# --------------------------------------------------------------------------- output
def table(rows: Sequence[Row]) -> str:
    lines = [
        "| case | variant | us/op | ops/s | speed vs reference |",
        "|---|---|---:|---:|---:|",
    ]
    reference = 0.0
    for row in rows:
        if row.reference:
            reference = row.rate
        ratio = "1.00 (reference)" if row.reference else f"{row.rate / reference:.2f}"
        lines.append(f"| {row.case} | {row.variant} | {1e6 / row.rate:,.2f} | {row.rate:,.0f} | {ratio} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n",
        type=int,
        default=20_000,
        help="readings: audit records and status decodes; stage messages = n/1000",
    )
    parser.add_argument("--repeat", type=int, default=9, help="passes per variant; the best is reported")
    args = parser.parse_args(argv)
    if args.n < BATCH:
        parser.error(f"--n must be at least {BATCH} (one stage message)")

    readings = make_readings(args.n)
    rows = case_audit(audit_args(readings), args.repeat)
    rows += case_stage(readings, args.repeat)
    rows += case_status(args.n, args.repeat)

    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"pydantic {pydantic.VERSION}, msgspec {msgspec.__version__}, orjson {orjson.__version__}; "
        f"n={args.n:,}, best of {args.repeat}"
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
