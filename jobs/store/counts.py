"""How many jobs a queue holds in each state, in O(log N) whatever its size.

One function for every reader: `jobs stats`, the dashboard's overview and the `jobs_queue_jobs`
gauge of the worker's and the dashboard's /metrics, so the numbers they show agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..clock import now_ms
from .connection import Connection
from .presence import WorkerInfo, live_workers, running_by_queue


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """How many jobs of a queue are in each state, read in O(log N) (see `read`). Running jobs are
    those the workers' heartbeats report (up to a second old); a job running under arq's own worker,
    which sends none, counts as queued."""

    queue: str
    queued: int
    scheduled: int  # delayed, or waiting for the next attempt after a failure
    running: int
    completed: int  # retained, so at most the keep limit
    failed: int
    paused: bool
    cancelled: int = 0  # retained as cancelled, so at most the keep limit

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


STATES = ("queued", "scheduled", "running", "completed", "failed", "cancelled")


async def read(
    conn: Connection, names: Sequence[str], workers: Sequence[WorkerInfo] | None = None
) -> list[QueueCounts]:
    """The counts of each queue, in one round trip (plus one for the heartbeats unless `workers` are given).

    Running jobs stay in the queue, locked: they are the ones the heartbeats report, taken out of
    the due ones (ZCOUNT up to now) to give the queued count; the rest of the queue is scheduled.
    """
    layout = conn.keys
    if workers is None:
        workers = await live_workers(conn.redis, layout)
    running = running_by_queue(workers)
    now = now_ms()
    async with conn.redis.pipeline(transaction=False) as pipe:
        for queue in names:
            pipe.zcount(layout.queue(queue), "-inf", now)
            pipe.zcard(layout.queue(queue))
            pipe.zcard(layout.finished(queue, "completed"))
            pipe.zcard(layout.finished(queue, "failed"))
            pipe.sismember(layout.paused(queue), queue)
            pipe.zcard(layout.finished(queue, "cancelled"))
        replies = await pipe.execute()
    result = []
    for index, queue in enumerate(names):
        due, size, completed, failed, paused, cancelled = (int(v) for v in replies[index * 6 : index * 6 + 6])
        busy = min(len(running.get(queue, ())), due)
        result.append(QueueCounts(queue, due - busy, size - due, busy, completed, failed, bool(paused), cancelled))
    return result
