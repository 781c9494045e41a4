"""`RateLimit`: how many attempts of a job (or a queue) may start per period, across every worker.

A plain value, checked when it is made; the claim script enforces it in Redis (store/limits.py
renders it for that script). `parse_rate` reads the `10/s` form of `JOBS_QUEUE_RATE_LIMIT`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .errors import JobDefinitionError

_UNITS = {"s": timedelta(seconds=1), "m": timedelta(minutes=1), "h": timedelta(hours=1)}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `count` starts in any window of length `per` (a sliding window, not a fixed one)."""

    count: int
    per: timedelta = timedelta(seconds=1)

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count <= 0:
            raise JobDefinitionError(f"RateLimit count must be a positive int, got {self.count!r}")
        if not isinstance(self.per, timedelta) or self.per < timedelta(milliseconds=1):
            raise JobDefinitionError(f"RateLimit per must be a positive timedelta (1 ms or more), got {self.per!r}")

    @property
    def period_ms(self) -> int:
        return int(self.per / timedelta(milliseconds=1))

    def __str__(self) -> str:
        for unit, span in _UNITS.items():
            if self.per == span:
                return f"{self.count}/{unit}"
        return f"{self.count} per {self.per}"


def describe(rate_limit: RateLimit | None, max_running: int | None) -> str:
    """A job's limits in a few words (`jobs list`, the dashboard): `5/s, 2 running`, or `''` for none."""
    parts = ([str(rate_limit)] if rate_limit else []) + ([f"{max_running} running"] if max_running else [])
    return ", ".join(parts)


def parse_rate(text: str) -> RateLimit:
    """`10/s`, `100/m` or `5000/h`; ValueError saying the expected form otherwise."""
    count, sep, unit = text.strip().partition("/")
    unit = unit.strip().lower()
    if not sep or not count.strip().isdigit() or int(count) < 1 or unit not in _UNITS:
        raise ValueError(f"expected a rate such as 10/s, 100/m or 5000/h, got {text.strip()!r}")
    return RateLimit(int(count), _UNITS[unit])
