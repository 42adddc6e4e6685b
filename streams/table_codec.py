"""The codec of the stages' table changelogs: the same JSON, written by pydantic-core.

Faust's default ``json`` codec goes through the standard library's pure-Python encoder with
Faust's own ``default`` hook; a stage writes its whole book once per message, and that encoder
was a visible share of the worker's time. Books are plain JSON values (the engine freezes them
so), and the bytes are ordinary JSON, so changelogs written by either codec read back alike.
"""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs
from pydantic_core import from_json, to_json

NAME = "opel-json"


class FastJSON(codecs.Codec):
    def _loads(self, s: bytes) -> Any:
        return from_json(s)

    def _dumps(self, s: Any) -> bytes:
        return to_json(s)


codecs.register(NAME, FastJSON())
