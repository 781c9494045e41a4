"""Durations, timestamps and one-line values for people: what the CLI and the dashboard print."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

CELL_WIDTH = 60
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str) -> timedelta:
    """`30s`, `5m`, `1h`, `250ms`, `1h30m`, or plain seconds (`90`); ValueError otherwise."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return timedelta(seconds=float(value))
    parts = _PART.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise ValueError(f"expected a duration such as 30s, 5m, 1h, 250ms or 1h30m, got {text!r}")
    return timedelta(milliseconds=sum(float(n) * _UNITS_MS[u] for n, u in parts))


def duration(ms: float) -> str:
    """Milliseconds as the shortest exact form among ms, s, m, h: 250ms, 30s, 5m, 1h30m."""
    if ms < 1000 or ms % 1000:
        return f"{ms:g}ms" if ms < 1000 else f"{ms / 1000:g}s"
    seconds, out = int(ms // 1000), ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out


def timestamp(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def short(value: Any, width: int = CELL_WIDTH) -> str:
    """One line, at most `width` characters: JSON for data, text as is."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."
