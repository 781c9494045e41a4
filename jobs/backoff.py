"""Retry delays: a pure policy object, so the schedule is testable without Redis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BackoffKind = Literal["exponential", "fixed"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before the next attempt after a failed one.

    Build it with `Backoff.exponential(delay_ms=...)` or `Backoff.fixed(delay_ms=...)`.
    """

    kind: BackoffKind
    delay_ms: int

    def __post_init__(self) -> None:
        if self.delay_ms < 0:
            raise ValueError(f"Backoff delay_ms must be >= 0, got {self.delay_ms}")

    @classmethod
    def exponential(cls, *, delay_ms: int = 3000) -> Backoff:
        """Wait `delay_ms * 2**(n-1)` after the n-th failed attempt: 3 s, 6 s, 12 s, 24 s by default."""
        return cls("exponential", delay_ms)

    @classmethod
    def fixed(cls, *, delay_ms: int) -> Backoff:
        """Wait the same `delay_ms` after every failed attempt."""
        return cls("fixed", delay_ms)

    def delay_after(self, failed_attempt: int) -> int:
        """Milliseconds to wait after the `failed_attempt`-th (1-based) attempt failed."""
        if failed_attempt < 1:
            raise ValueError(f"failed_attempt is 1-based, got {failed_attempt}")
        if self.kind == "fixed":
            return self.delay_ms
        return int(self.delay_ms * 2 ** (failed_attempt - 1))

    def __str__(self) -> str:
        return f"{self.kind}({self.delay_ms}ms)"
