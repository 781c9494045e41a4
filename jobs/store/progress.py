"""Where a running job's latest progress is kept: one small JSON value per job, expiring.

Written by the worker's `ProgressWriter` (coalesced, a few times a second at most) and read by
the handle, `jobs show` and the dashboard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..progress import Progress
from . import connection, queues
from .connection import Connection

TTL_MS = 10 * 60 * 1000  # a killed worker's last progress does not outlive it by much


@connection.reports_redis_errors
async def read(job_id: str, queue: str | None = None) -> Progress | None:
    """The latest progress of `job_id`, if it is running and reported any."""
    conn = await connection.for_current_loop()
    if conn.keys.cluster and queue is None:
        queue = await queues.find(conn, job_id)
        if queue is None:
            return None
    raw = await conn.redis.get(conn.keys.progress(job_id, queue))
    return None if raw is None else Progress.from_json(raw)


async def write(conn: Connection, queue: str, latest: Mapping[str, Progress], gone: Iterable[str]) -> None:
    """Store the latest progress of the jobs in `latest` and drop that of the jobs `gone` (ended),
    in one round trip (every key in the queue's slot in a cluster)."""
    layout = conn.keys
    async with conn.redis.pipeline(transaction=False) as pipe:
        for job_id, progress in latest.items():
            pipe.set(layout.progress(job_id, queue), progress.to_json(), px=TTL_MS)
        ended = [layout.progress(job_id, queue) for job_id in gone]
        if ended:
            pipe.delete(*ended)
        await pipe.execute()
