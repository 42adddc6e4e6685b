"""docs/alerting.md's message examples are rendered from the real catalogue, action plan and routing.

They cannot cite a band the catalogue does not have, nor an action or route that is not shipped.
Set OPEL_REGENERATE_DOCS=1 to rewrite the block after a deliberate change.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from opel.alerting.docs_examples import BEGIN, END, render_examples, replace_block
from opel.catalogue_load import load_indicator_catalogue

DOCS = Path(__file__).resolve().parents[1] / "docs" / "alerting.md"


def test_the_examples_in_the_docs_are_the_rendered_ones() -> None:
    document = DOCS.read_text(encoding="utf-8")
    block = render_examples()
    if os.environ.get("OPEL_REGENERATE_DOCS") == "1":
        DOCS.write_text(replace_block(document, block), encoding="utf-8")
        document = DOCS.read_text(encoding="utf-8")
    assert document.count(BEGIN) == 1
    assert document.count(END) == 1
    start = document.index(BEGIN)
    assert document[start : document.index(END) + len(END)] == block, (
        "docs/alerting.md examples are stale: run OPEL_REGENERATE_DOCS=1 pytest tests/test_alerting_docs.py"
    )


def test_every_band_the_docs_cite_is_in_the_catalogue() -> None:
    catalogue = load_indicator_catalogue("kcc-asch-2025-26")
    published = {
        str(verdict.band.published)
        for rule in catalogue.rules.values()
        for verdict in rule.band_verdicts
        if verdict.band
    }
    cited = re.findall(r"published band (\S+):", DOCS.read_text(encoding="utf-8"))
    assert cited
    assert set(cited) <= published
    assert "45-59" not in DOCS.read_text(encoding="utf-8")
    assert "100-129" not in DOCS.read_text(encoding="utf-8")
