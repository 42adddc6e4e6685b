"""README.md as tests read it: a section, its shell blocks, the line `opel token create` prints.

Shared by tests/test_first_hour.py (the README's API steps against a recorder) and
tests/integration/test_readme_demo.py (the same steps against a real `opel run --demo`), so
both read the very text a newcomer copies.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
README = REPO / "README.md"


def readme_section(title: str) -> str:
    """The text of README's ``## title`` section, up to the next ``## `` heading."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def shell_blocks(section: str) -> list[str]:
    """The bodies of the section's ```` ```sh ```` blocks, in order."""
    return re.findall(r"^```sh\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)


def exported(line: str) -> tuple[str, str]:
    """Variable and token of the one ``export NAME=TOKEN`` line `opel token create` prints."""
    match = re.fullmatch(r"export ([A-Z_][A-Z0-9_]*)=([A-Za-z0-9_-]+)", line)
    assert match is not None, line
    return match.group(1), match.group(2)
