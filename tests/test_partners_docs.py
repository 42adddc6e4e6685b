"""docs/partners.md: its examples are what opel sends, and its sample receiver really verifies.

The receiver block is run as written, in its own Python process on a free 127.0.0.1 port, and
sent requests signed by opel's signer, a tampered one and a repeated one.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import httpx
import pytest
from standardwebhooks import Webhook

from opel.partners.docs_examples import (
    BEGIN,
    END,
    EXAMPLE_SECRET,
    SENT_AT,
    example_event,
    example_partner,
    render_examples,
)
from opel.partners.webhook import request_for
from streams.broker import free_port

REPO: Final = Path(__file__).resolve().parent.parent
DOC: Final = REPO / "docs" / "partners.md"


def test_the_examples_in_the_docs_are_the_rendered_ones() -> None:
    document = DOC.read_text(encoding="utf-8")
    assert document.count(BEGIN) == 1
    assert document.count(END) == 1
    block = document[document.index(BEGIN) : document.index(END) + len(END)]
    assert block == render_examples(), "run: python -m opel.partners.docs_examples"
    assert EXAMPLE_SECRET in document


def test_the_example_signatures_verify_with_the_published_secret() -> None:
    for mode in ("structured", "binary"):
        request = request_for(example_partner(mode), example_event(), SENT_AT)
        # The examples are dated: check the signature itself, as the verifier computes it.
        expected = Webhook(EXAMPLE_SECRET).sign(request.headers["webhook-id"], SENT_AT, request.body.decode())
        assert request.headers["webhook-signature"] == expected


def test_the_readme_links_the_partners_guide() -> None:
    assert "docs/partners.md" in (REPO / "README.md").read_text(encoding="utf-8")


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    document = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", document, flags=re.DOTALL)
    assert len(blocks) == 1, "docs/partners.md should have one Python block, the receiver"
    script = tmp_path / "receiver.py"
    script.write_text(blocks[0], encoding="utf-8")
    port = free_port()
    env = dict(os.environ, OPEL_WEBHOOK_SECRET=EXAMPLE_SECRET, PORT=str(port), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 15
    while True:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.ConnectError:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the sample receiver did not listen within 15 s"
            time.sleep(0.1)
    try:
        yield url, proc
    finally:
        proc.kill()
        proc.wait()


def test_the_sample_receiver_accepts_signed_events_once_and_refuses_the_rest(
    receiver: tuple[str, subprocess.Popen[str]],
) -> None:
    url, proc = receiver
    event = example_event()
    structured = request_for(example_partner("structured"), event, datetime.now(UTC))
    binary = request_for(example_partner("binary"), event, datetime.now(UTC))
    assert httpx.post(url, content=structured.body, headers=structured.headers).status_code == 204
    # The same event again (a retry, or binary mode): accepted, not processed twice.
    assert httpx.post(url, content=binary.body, headers=binary.headers).status_code == 204
    tampered = structured.body.replace(b'"to_level":3', b'"to_level":4')
    assert httpx.post(url, content=tampered, headers=structured.headers).status_code == 401
    wrong_key = dict(structured.headers)
    other = "whsec_" + base64.b64encode(b"z" * 32).decode()
    wrong_key["webhook-signature"] = Webhook(other).sign(
        event.id, datetime.now(UTC), structured.body.decode()
    )
    assert httpx.post(url, content=structured.body, headers=wrong_key).status_code == 401
    stale = request_for(example_partner("structured"), event, SENT_AT)
    assert httpx.post(url, content=stale.body, headers=stale.headers).status_code == 401
    unsigned = {"content-type": "application/cloudevents+json"}
    assert httpx.post(url, content=structured.body, headers=unsigned).status_code == 401
    proc.kill()
    out = proc.communicate()[0]
    processed = [line for line in out.splitlines() if line.startswith("OPEL change:")]
    assert len(processed) == 1, out
    assert event.id in processed[0]
