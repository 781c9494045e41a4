"""Completions and failures per queue and minute, for the dashboard's chart.

Workers count outcomes in memory (`QueueRunner.counts`); each heartbeat adds what finished
since the last one to a hash per queue and hour, so the chart costs no Redis work per job.
The hashes expire a few hours after their last write: nothing to prune, at most three per queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline

from ..clock import now_ms
from .connection import Client
from .keys import DEFAULT, Layout

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
KEEP_MS = 3 * HOUR_MS
MAX_MINUTES = 120


@dataclass(frozen=True, slots=True)
class Minute:
    """The outcomes stored in one minute (`start_ms` is its first millisecond, UTC)."""

    start_ms: int
    completed: int
    failed: int


def add(
    pipe: Pipeline | ClusterPipeline, queue: str, completed: int, failed: int, at_ms: int, layout: Layout = DEFAULT
) -> None:
    """Queue the commands that count `completed` and `failed` outcomes of `queue` in the minute of `at_ms`."""
    minute = at_ms // MINUTE_MS
    key = layout.throughput(queue, at_ms // HOUR_MS)
    if completed:
        pipe.hincrby(key, f"{minute}:c", completed)
    if failed:
        pipe.hincrby(key, f"{minute}:f", failed)
    pipe.pexpire(key, KEEP_MS)


async def per_minute(
    redis: Client, queues: Sequence[str], minutes: int = 60, layout: Layout = DEFAULT
) -> dict[str, list[Minute]]:
    """The last `minutes` minutes (this one included, at most MAX_MINUTES) of each queue, oldest
    first, zeros where nothing finished. One pipeline: two or three HGETALLs per queue."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise ValueError(f"minutes must be from 1 to {MAX_MINUTES}, got {minutes}")
    now = now_ms()
    last = now // MINUTE_MS
    first = last - minutes + 1
    hours = range(first * MINUTE_MS // HOUR_MS, now // HOUR_MS + 1)
    async with redis.pipeline(transaction=False) as pipe:
        for queue in queues:
            for hour in hours:
                pipe.hgetall(layout.throughput(queue, hour))
        replies = await pipe.execute()
    result: dict[str, list[Minute]] = {}
    for index, queue in enumerate(queues):
        counts: dict[bytes, int] = {}
        for reply in replies[index * len(hours) : (index + 1) * len(hours)]:
            counts.update((field, int(value)) for field, value in reply.items())
        result[queue] = [
            Minute(m * MINUTE_MS, counts.get(b"%d:c" % m, 0), counts.get(b"%d:f" % m, 0))
            for m in range(first, last + 1)
        ]
    return result
