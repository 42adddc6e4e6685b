"""Writing a replay's results into ``--out DIR`` all at once or not at all.

Everything is written into a fresh folder beside DIR and renamed into place only when complete,
so a bad input, an error or Ctrl-C never leaves a half-written DIR (an existing DIR is kept
as it was until the new one is whole, then replaced).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from opel.contracts.escalation import EscalationEvent


def write_events(path: Path, events: list[EscalationEvent]) -> None:
    """One escalation event per line, the bytes the service puts on ``opel.escalations.v1``."""
    with path.open("wb") as out:
        for event in events:
            out.write(event.to_json())
            out.write(b"\n")


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=1, sort_keys=False) + "\n", encoding="utf-8")


@contextlib.contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A temporary folder that becomes ``out`` when the block ends without an exception."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    # mkdtemp makes the folder private (0700); DIR should get the usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    temp.chmod(0o777 & ~umask)
    try:
        yield temp
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.rename(out, old / "previous")
            os.rename(temp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(temp, out)
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)


def write_all(out: Path, writers: Mapping[str, Callable[[Path], None]]) -> None:
    """Each writer fills one file of ``out``; DIR appears only once all of them have."""
    with staged(out) as temp:
        for name, writer in writers.items():
            writer(temp / name)
