"""The overview's throughput chart: one small inline SVG per queue, drawn on the server.

A bar per minute, completions stacked under failures, each with a tooltip; no chart library and
no script. Built from numbers and fixed strings only, so marking it safe for Jinja is sound.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from markupsafe import Markup, escape

from ..store.throughput import Minute

WIDTH, HEIGHT = 180, 32


def sparkline(minutes: Sequence[Minute], *, width: int = WIDTH, height: int = HEIGHT) -> Markup:
    if not minutes:
        return Markup("")
    peak = max((m.completed + m.failed for m in minutes), default=0)
    slot = width / len(minutes)
    bar = max(slot - 1, 1)
    total_done = sum(m.completed for m in minutes)
    total_failed = sum(m.failed for m in minutes)
    label = f"last {len(minutes)} min: {total_done} completed, {total_failed} failed; busiest minute {peak}"
    parts = [
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}">',
        f'<line class="spark-base" x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}"/>',
    ]
    for index, minute in enumerate(minutes):
        total = minute.completed + minute.failed
        if not total:
            continue
        x = index * slot
        full = max(1.5, (height - 2) * total / peak)
        failed = full * minute.failed / total
        at = datetime.fromtimestamp(minute.start_ms / 1000, tz=UTC).strftime("%H:%M")
        tip = f"{at} UTC: {minute.completed} completed, {minute.failed} failed"
        parts.append(f"<g><title>{escape(tip)}</title>")
        top = height - full
        if minute.completed:
            parts.append(_rect("spark-ok", x, top + failed, bar, full - failed))
        if minute.failed:
            parts.append(_rect("spark-fail", x, top, bar, failed))
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def _rect(kind: str, x: float, y: float, width: float, height: float) -> str:
    return f'<rect class="{kind}" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}"/>'
