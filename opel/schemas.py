"""JSON Schemas of the input contracts, generated from the models and committed in docs/schemas/.

`python -m opel.schemas` rewrites them; the test suite fails when they are out of date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from opel.feeds import Command, ReferralEvent
from opel.models import AcuteSubmission, Reading

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "schemas"
BASE_ID = "https://opel.invalid/schemas/"
MODELS: dict[str, type[BaseModel] | TypeAdapter[Any]] = {
    "reading.schema.json": Reading,
    "acute-submission.schema.json": AcuteSubmission,
    "referral-event.schema.json": ReferralEvent,
    # A union of four shapes told apart by "type", so it has no model class of its own.
    "command.schema.json": TypeAdapter(Command),
}


def schema_for(filename: str) -> dict[str, Any]:
    source = MODELS[filename]
    if isinstance(source, TypeAdapter):
        schema = {"title": "Command", **source.json_schema()}
    else:
        schema = source.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": BASE_ID + filename, **schema}


def render(filename: str) -> str:
    return json.dumps(schema_for(filename), indent=2, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale: list[str] = []
    for filename in MODELS:
        path = SCHEMA_DIR / filename
        text = render(filename)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for name in stale:
        print(f"out of date: {name} (run python -m opel.schemas)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
