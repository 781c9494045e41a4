"""What `trigger(key=..., debounce=... | throttle=...)` asks for, checked before anything is written.

Pure: the rule of one keyed trigger (its mode, how long its key lives, when its job is due), so
the options are tested without Redis. The atomic step itself is `store/lua/enqueue_keyed.lua`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .clock import to_ms

Delay = float | int | timedelta

KEY_TTL_MS = 7 * 86_400_000  # a key alone lives this long past its job's due time
DEBOUNCE_GRACE_MS = 60_000  # a debounce key outlives its window by this: a trigger just after still finds the job
MAX_KEY_LENGTH = 512


@dataclass(frozen=True, slots=True)
class KeyRule:
    key: str
    mode: str  # 'debounce', 'throttle' or 'key'
    window_ms: int  # the debounce delay or the throttle window; 0 for a key alone

    def delay_ms(self, delay: Delay | None) -> int:
        """When the job is due, from now: a debounced job one window after this trigger."""
        return self.window_ms if self.mode == "debounce" else to_ms(delay)

    def ttl_ms(self, delay: Delay | None) -> int:
        """How long the key lives: as long as it decides anything."""
        if self.mode == "debounce":
            return self.window_ms + DEBOUNCE_GRACE_MS
        if self.mode == "throttle":
            return self.window_ms
        return to_ms(delay) + KEY_TTL_MS


def rule(
    key: str | None, *, debounce: Delay | None = None, throttle: Delay | None = None, delay: Delay | None = None
) -> KeyRule | None:
    """The rule of a trigger's key options; None without a key. Raises ValueError for options
    that cannot go together (both debounce and throttle; either without a key; a debounce with
    its own delay, which the debounce already sets)."""
    if key is None:
        if debounce is not None or throttle is not None:
            raise ValueError("debounce= and throttle= need a key= to tell which triggers belong together")
        return None
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"key must be a non-empty string of at most {MAX_KEY_LENGTH} characters, got {key!r}")
    if debounce is not None and throttle is not None:
        raise ValueError("a trigger takes debounce= or throttle=, not both")
    if debounce is not None:
        if delay is not None:
            raise ValueError("debounce= already sets when the job runs (that long after the last trigger); drop delay=")
        return KeyRule(key, "debounce", _positive("debounce", debounce))
    if throttle is not None:
        return KeyRule(key, "throttle", _positive("throttle", throttle))
    return KeyRule(key, "key", 0)


def _positive(what: str, value: Delay) -> int:
    ms = to_ms(value)
    if ms <= 0:
        raise ValueError(f"{what} must be positive, got {value!r}")
    return ms
