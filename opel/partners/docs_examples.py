"""The request examples of ``docs/partners.md``, made by the real contract, filter and signer.

The event is one the core really writes: readings go through :func:`opel.replay.replay` with
the shipped 2025-26 catalogue (as ``docs/alerting.md``'s examples do), and the referrals
indicator's change in Dartford, Gravesham and Swanley from OPEL 2 to 3 is signed for each mode
with a published example secret. ``tests/test_partners_docs.py`` checks the block in the docs
is what this renders; ``python -m opel.partners.docs_examples`` rewrites it.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Final

from opel.actions_load import default_action_plan
from opel.catalogue_load import load_acute_catalogue, load_indicator_catalogue
from opel.contracts.escalation import EscalationEvent
from opel.escalation import EscalationPolicy
from opel.models import Reading
from opel.partners.config import Mode, Partner, Retry
from opel.partners.webhook import request_for
from opel.replay import replay
from opel.stages.context import Context

BEGIN: Final = "<!-- BEGIN GENERATED EXAMPLES: python -m opel.partners.docs_examples -->"
END: Final = "<!-- END GENERATED EXAMPLES -->"
EXAMPLE_SECRET: Final = "whsec_" + base64.b64encode(b"opel docs example key: never use").decode()
"""A published secret, so a reader can check the examples' signatures; never configure it."""
T0: Final = datetime(2025, 11, 12, 9, 0, tzinfo=UTC)
SENT_AT: Final = T0 + timedelta(hours=2, seconds=3)
URL: Final = "https://opel-hook.partner.example/escalations"


def example_event() -> EscalationEvent:
    ctx = Context(
        catalogue=load_indicator_catalogue("kcc-asch-2025-26"),
        acute=load_acute_catalogue("nhs-acute-2023-24"),
        actions=default_action_plan(),
        policy=EscalationPolicy(timedelta(minutes=30)),
    )
    readings = [
        Reading(indicator="referrals", area="dgs", value=12, observed_at=T0),
        Reading(indicator="referrals", area="dgs", value=17, observed_at=T0 + timedelta(hours=2)),
    ]
    return next(
        e
        for e in replay(readings, ctx).escalations
        if e.subject == "indicator/referrals/dgs" and e.data.to_level == 3
    )


def example_partner(mode: Mode) -> Partner:
    key = base64.b64decode(EXAMPLE_SECRET.removeprefix("whsec_"))
    return Partner(
        name="example",
        url=URL,
        mode=mode,
        key=key,
        scopes=(),
        min_level=1,
        timeout_seconds=10,
        retry=Retry(),
    )


def render_request(mode: Mode, event: EscalationEvent) -> str:
    request = request_for(example_partner(mode), event, SENT_AT)
    lines = [f"POST {URL.removeprefix('https://opel-hook.partner.example')} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    body = json.dumps(json.loads(request.body), indent=2, ensure_ascii=False)
    return "\n".join([*lines, "", body])


def render_examples() -> str:
    event = example_event()
    parts = [BEGIN, ""]
    modes: tuple[tuple[Mode, str], ...] = (("structured", "Structured mode"), ("binary", "Binary mode"))
    for mode, title in modes:
        parts += [f"### {title}", "", "```http", render_request(mode, event), "```", ""]
    parts.append(END)
    return "\n".join(parts)


def replace_block(document: str, block: str) -> str:
    """``document`` with the text from :data:`BEGIN` to :data:`END` replaced by ``block``."""
    start = document.index(BEGIN)
    end = document.index(END) + len(END)
    return document[:start] + block + document[end:]


if __name__ == "__main__":  # pragma: no cover
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "partners.md"
    docs.write_text(replace_block(docs.read_text(encoding="utf-8"), render_examples()), encoding="utf-8")
