"""The limits a worker enforces on one queue, as the claim script reads them (lua/include/limits.lua).

Rendered once per queue runner and passed with every claim: each worker enforces the limits of
the job definitions it runs, and the counts they are checked against live in Redis, so every
worker process shares them. A queue without limits passes `''`, and its claim does no more work.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from .keys import Layout


@dataclass(frozen=True, slots=True)
class JobLimits:
    """One job's limits: a rate (count per period ms, or none) and max_running (or none)."""

    name: str
    rate: tuple[int, int] | None
    max_running: int | None


def guarded_ms(period_ms: int) -> int:
    """The window the script enforces: the period plus 10% (at most 100 ms), so that the starts as
    the jobs' code sees them, up to that long after their claim on a busy worker (seen: 60 ms on a
    loaded two-core machine), still keep to the limit."""
    return period_ms + min(period_ms // 10, 100)


def render(
    layout: Layout, queue: str, queue_rate: tuple[int, int] | None, jobs: Iterable[JobLimits], ttl_ms: int
) -> str:
    """The rules text of a queue, or `''` when nothing limits it. `ttl_ms` is how long the queue
    stays marked limited after a claim (at least as long as a waiting worker's registration)."""
    lines = []
    for job in jobs:
        if job.rate is None and job.max_running is None:
            continue
        count, period = job.rate or (0, 0)
        lines.append(
            f"{json.dumps(job.name)} {count} {guarded_ms(period)} {job.max_running or 0} "
            f"{layout.rate_window(queue, job.name)} {layout.running_set(queue, job.name)}"
        )
    if queue_rate is None and not lines:
        return ""
    count, period = queue_rate or (0, 0)
    head = f"{ttl_ms} {count} {guarded_ms(period)} {layout.rate_window(queue)} {layout.held_cursor(queue)}"
    return "\n".join([head, *lines])
