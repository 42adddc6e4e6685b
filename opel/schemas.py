"""JSON Schemas of every input and output contract, generated from the models and committed in
docs/schemas/.

Inputs: readings, acute submissions, referral events and commands. Outputs (what opel writes,
:mod:`opel.contracts`): statuses, escalation events, alert messages, audit records and dead
letters, published for partners to validate what they read. ``stage.schema.json`` describes the
messages between the worker's own stages: internal, documented so they can be inspected, not a
contract with anyone outside. Reports opel writes as files (the exercise after-action report)
are under docs/schemas/reports/.

`python -m opel.schemas` rewrites them; `python -m opel.schemas --check` (run by ``make lint``
and the test suite) fails when any is out of date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, TypeAdapter

from opel.contracts.action_item import ActionItem
from opel.contracts.alert import ALERT_MESSAGE
from opel.contracts.audit import AuditRecord
from opel.contracts.deadletter import DeadLetter
from opel.contracts.escalation import EscalationEvent
from opel.contracts.exercise_report import ExerciseReport
from opel.contracts.exercise_state import ExerciseState
from opel.contracts.partner_delivery import PartnerDelivery
from opel.contracts.stage import StageMessage
from opel.contracts.status import STATUS
from opel.contracts.warning import WarningEvent
from opel.feeds import Command, ReferralEvent
from opel.models import AcuteSubmission, Reading

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "schemas"
BASE_ID = "https://opel.invalid/schemas/"
DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"

Source = type[BaseModel] | TypeAdapter[Any]

INPUTS: Final[dict[str, Source]] = {
    "reading.schema.json": Reading,
    "acute-submission.schema.json": AcuteSubmission,
    "referral-event.schema.json": ReferralEvent,
    # A union of four shapes told apart by "type", so it has no model class of its own.
    "command.schema.json": TypeAdapter(Command),
}
OUTPUTS: Final[dict[str, Source]] = {
    "status.schema.json": STATUS,
    "escalation.schema.json": EscalationEvent,
    "alert.schema.json": ALERT_MESSAGE,
    "audit.schema.json": AuditRecord,
    "deadletter.schema.json": DeadLetter,
    "action-item.schema.json": ActionItem,
    "warning.schema.json": WarningEvent,
}
INTERNAL: Final[dict[str, Source]] = {
    "stage.schema.json": StageMessage,
    "partner-delivery.schema.json": PartnerDelivery,
}
MODELS: Final[dict[str, Source]] = {**INPUTS, **OUTPUTS, **INTERNAL}
REPORTS: Final[dict[str, Source]] = {
    "exercise-report.schema.json": ExerciseReport,
    "exercise-state.schema.json": ExerciseState,
}
"""Files and API answers opel writes rather than messages on a topic, published under
docs/schemas/reports/ so the topic contracts stay one-to-one with docs/asyncapi.yaml."""
REPORTS_SUBDIR: Final = "reports"

# Unions have no class to take a title from.
_TITLES: Final = {
    "command.schema.json": "Command",
    "status.schema.json": "Status",
    "alert.schema.json": "AlertMessage",
}
_DESCRIPTIONS: Final = {
    "status.schema.json": (
        "opel.status.v1 (compacted; key = scope): the level in force for one scope, one shape per "
        'kind of scope, told apart by "kind".'
    ),
    "escalation.schema.json": (
        "opel.escalations.v1 (key = subject): a change of the level in force, as a CloudEvents 1.0 "
        "structured-mode event."
    ),
    "alert.schema.json": (
        "opel.alerts.v1: one delivery of an alert or duty notice to one contact (key = its first "
        "alert id), or the daily snapshot of every status (kind daily_snapshot, key = snapshot/<date>)."
    ),
    "partner-delivery.schema.json": (
        "opel.partner-deliveries.v1 (compacted; key = <consumer group>/<event id>): the latest attempt "
        "to deliver one escalation event to one partner's webhook (internal: the operators' delivery log)."
    ),
    "warning.schema.json": (
        "opel.warnings.v1 (key = subject, the indicator scope): an early warning that an indicator is "
        "projected to cross into a worse band, opened, come true or closed, as a CloudEvents 1.0 "
        "structured-mode event. Information only: a warning never changes a level."
    ),
    "audit.schema.json": "opel.audit.v1 (key = scope or the input's key): one decision opel took.",
    "deadletter.schema.json": "opel.deadletter.v1 (key = the refused record's key): a refused input record.",
    "action-item.schema.json": (
        "opel.action-items.v1 (compacted; key = item id): one action started for a role at an area's "
        "or the county's level, and where it stands (open, done, not applicable, stood down)."
    ),
    "stage.schema.json": (
        "INTERNAL, not a published contract: one batch of items for one aggregate key on the worker's "
        "own topics (opel.internal.area.v1, opel.internal.county.v1, opel.internal.system.v1)."
    ),
}
TOPIC_SCHEMAS: Final[dict[str, str]] = {
    "opel.capacity.v1": "reading.schema.json",
    "opel.referrals.v1": "reading.schema.json",
    "opel.referral-events.v1": "referral-event.schema.json",
    "opel.acute.v1": "acute-submission.schema.json",
    "opel.commands.v1": "command.schema.json",
    "opel.status.v1": "status.schema.json",
    "opel.escalations.v1": "escalation.schema.json",
    "opel.alerts.v1": "alert.schema.json",
    "opel.audit.v1": "audit.schema.json",
    "opel.deadletter.v1": "deadletter.schema.json",
    "opel.action-items.v1": "action-item.schema.json",
    "opel.warnings.v1": "warning.schema.json",
    "opel.internal.area.v1": "stage.schema.json",
    "opel.internal.county.v1": "stage.schema.json",
    "opel.internal.system.v1": "stage.schema.json",
    "opel.partner-deliveries.v1": "partner-delivery.schema.json",
}
"""Which schema every message on a topic validates against (names as in :mod:`streams.topics`)."""


def schema_for(filename: str) -> dict[str, Any]:
    source = MODELS[filename] if filename in MODELS else REPORTS[filename]
    schema = source.json_schema() if isinstance(source, TypeAdapter) else source.model_json_schema()
    head: dict[str, Any] = {"$schema": DIALECT, "$id": BASE_ID + relative(filename)}
    if filename in _TITLES:
        head["title"] = _TITLES[filename]
    if filename in _DESCRIPTIONS:
        head["description"] = _DESCRIPTIONS[filename]
    return {**head, **{k: v for k, v in schema.items() if k not in head}}


def relative(filename: str) -> str:
    """Where the schema lives under docs/schemas/."""
    return f"{REPORTS_SUBDIR}/{filename}" if filename in REPORTS else filename


def render(filename: str) -> str:
    return json.dumps(schema_for(filename), indent=2, sort_keys=False) + "\n"


def stale(directory: Path | None = None) -> list[Path]:
    """The schema files under ``directory`` (docs/schemas/) that are missing or differ from the models."""
    directory = SCHEMA_DIR if directory is None else directory
    out: list[Path] = []
    for filename in MODELS:
        path = directory / filename
        if not path.exists() or path.read_text(encoding="utf-8") != render(filename):
            out.append(path)
    return out


def stale_reports(directory: Path | None = None) -> list[Path]:
    """As :func:`stale`, for the report schemas under ``directory``/reports/."""
    directory = SCHEMA_DIR if directory is None else directory
    return [
        directory / relative(filename)
        for filename in REPORTS
        if not (directory / relative(filename)).exists()
        or (directory / relative(filename)).read_text(encoding="utf-8") != render(filename)
    ]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        out_of_date = stale() + stale_reports()
        for path in out_of_date:
            print(f"out of date: {path} (run python -m opel.schemas)", file=sys.stderr)
        return 1 if out_of_date else 0
    (SCHEMA_DIR / REPORTS_SUBDIR).mkdir(parents=True, exist_ok=True)
    for filename in (*MODELS, *REPORTS):
        (SCHEMA_DIR / relative(filename)).write_text(render(filename), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
