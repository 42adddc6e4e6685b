"""Kafka's default key-to-partition mapping, remembered per key.

aiokafka computes the Java client's murmur2 hash in pure Python for every keyed record; the
service sends a status and an audit record per reading under a small, fixed set of scope keys,
so hashing each key once removes a measurable share of the hot path (docs/benchmarks.md).
The mapping is exactly aiokafka's ``DefaultPartitioner``, so records keep landing where any
other Kafka client (and Faust) would put them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from aiokafka.partitioner import murmur2

# Keys are scopes and aggregate names, a few hundred at most; the bound only guards against
# an unexpected key space growing without limit.
MAX_KEYS = 65_536
MAX_CACHED_KEY_BYTES = 256
"""Longer keys are hashed every time rather than remembered: a flood of huge keys (refused
input is dead-lettered under its key) must not grow the worker for good."""


class KeyPartitioner:
    """A drop-in ``partitioner=`` for aiokafka producers."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._hashes: dict[bytes, int] = {}
        self._max_keys = max_keys

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        digest = self._hashes.get(key)
        if digest is None:
            digest = murmur2(key) & 0x7FFFFFFF
            if len(key) <= MAX_CACHED_KEY_BYTES:
                if len(self._hashes) >= self._max_keys:
                    self._hashes.clear()
                self._hashes[key] = digest
        return all_partitions[digest % len(all_partitions)]
