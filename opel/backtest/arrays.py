"""What the columnar modules share: array types, their time base, and the signal to fall back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICRO = timedelta(microseconds=1)
"""Times are integers: microseconds since ``EPOCH`` (UTC), as Parquet timestamps are."""


class UnsupportedHistoryError(Exception):
    """A history the columnar path does not replay exactly (the per-reading replay does)."""
