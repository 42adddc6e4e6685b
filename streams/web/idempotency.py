"""Idempotency keys of ``POST /readings``: a retried request is answered again, never applied twice.

Kept in memory, per server process: at most :data:`MAX_KEYS` keys, each for :data:`KEEP_FOR`
(24 hours) after its first answer; past either bound the oldest key is forgotten. A key belongs
to the principal that sent it (two callers may use the same key). What is kept is a digest of
the request (its content type and body) and the answer given, so the same key with the same
body gets that answer again, and with another body a 422 saying so. A restart forgets every key.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

__all__ = ["KEEP_FOR", "MAX_KEYS", "Answer", "IdempotencyStore", "request_digest"]

KEEP_FOR: Final = timedelta(hours=24)
MAX_KEYS: Final = 10_000


def request_digest(content_type: str, body: bytes) -> str:
    return hashlib.sha256(content_type.encode("utf-8") + b"\0" + body).hexdigest()


@dataclass(frozen=True, slots=True)
class Answer:
    """The first answer to a key: its HTTP status and JSON body, and the request it answered."""

    digest: str
    status: int
    body: dict[str, Any]
    at: datetime


@dataclass(slots=True)
class IdempotencyStore:
    clock: Callable[[], datetime]
    keep_for: timedelta = KEEP_FOR
    max_keys: int = MAX_KEYS
    _answers: OrderedDict[tuple[str, str], Answer] = field(default_factory=OrderedDict)
    _pending: set[tuple[str, str]] = field(default_factory=set)

    def _expire(self) -> None:
        cutoff = self.clock() - self.keep_for
        while self._answers:
            oldest = next(iter(self._answers))
            if self._answers[oldest].at > cutoff and len(self._answers) <= self.max_keys:
                break
            del self._answers[oldest]

    def get(self, principal: str, key: str) -> Answer | None:
        self._expire()
        return self._answers.get((principal, key))

    def begin(self, principal: str, key: str) -> bool:
        """Mark a key as being answered; False when a request with it is under way already."""
        if (principal, key) in self._pending:
            return False
        self._pending.add((principal, key))
        return True

    def end(self, principal: str, key: str, answer: Answer | None) -> None:
        """The key's request is over; ``answer`` (None: nothing was applied) is kept for retries."""
        self._pending.discard((principal, key))
        if answer is not None:
            self._answers[(principal, key)] = answer
            self._answers.move_to_end((principal, key))
            self._expire()

    def __len__(self) -> int:
        return len(self._answers)
