"""Wall-clock milliseconds, the unit of every score and timestamp stored in Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_ms(value: float | int | timedelta | None) -> int:
    """Seconds (or a timedelta) as whole milliseconds; None is 0."""
    if value is None:
        return 0
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        raise ValueError(f"a delay cannot be negative, got {value!r}")
    return round(seconds * 1000)


def from_ms(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)
