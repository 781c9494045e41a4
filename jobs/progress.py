"""A running job's progress: a fraction done (0 to 1) and an optional message, checked once here."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from .clock import now_ms
from .errors import JobsError

MAX_MESSAGE_CHARS = 500


class InvalidProgressError(JobsError, ValueError):
    """`report_progress` was given a fraction outside 0..1 (or not a number) or a message that is not text."""


@dataclass(frozen=True, slots=True)
class Progress:
    """What a job last reported: `fraction` from 0 to 1, `message` (or None), when (ms)."""

    fraction: float
    message: str | None
    at_ms: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Progress | None:
        """A stored progress read back; None for one that cannot be read."""
        try:
            data = json.loads(raw)
            return cls(float(data["fraction"]), data.get("message"), int(data["at_ms"]))
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


def checked(fraction: float, message: str | None) -> Progress:
    """A valid `Progress` of now; `InvalidProgressError` saying what is wrong otherwise."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not math.isfinite(fraction):
        raise InvalidProgressError(f"progress must be a number from 0 to 1, got {fraction!r}")
    if not 0 <= fraction <= 1:
        raise InvalidProgressError(f"progress must be from 0 to 1 (0.4 is 40%), got {fraction!r}")
    if message is not None and not isinstance(message, str):
        raise InvalidProgressError(f"the progress message must be text, got {type(message).__name__}")
    if message is not None and len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "..."
    return Progress(float(fraction), message, now_ms())
