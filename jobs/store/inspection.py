"""Read what Redis holds about jobs: one job's status and record, a queue's latest outcomes.

A lookup by id takes the queue when the caller knows it (a handle does); without it, a single
Redis answers by id alone, and a cluster is asked queue by queue (`queues.holding`).
"""

from __future__ import annotations

import json

from ..clock import now_ms
from ..records import RETAINED, JobRecord, JobStatus, UnreadableRecord
from . import connection, keys, queues
from .connection import Connection


@connection.reports_redis_errors
async def get_record(job_id: str, queue: str | None = None) -> JobRecord | None:
    """The retained record of a finished job, or None if it is not (or no longer) retained."""
    conn = await connection.for_current_loop()
    queue = await _queue_for(conn, job_id, queue)
    if conn.keys.cluster and queue is None:
        return None
    raw = await conn.redis.get(conn.keys.record(job_id, queue))
    return None if raw is None else read_record(raw, job_id)


async def _queue_for(conn: Connection, job_id: str, queue: str | None) -> str | None:
    """The job's queue as far as its keys need one: given, or (cluster only) found by asking the
    queues Redis holds something for."""
    if queue is not None or not conn.keys.cluster:
        return queue
    return await queues.find(conn, job_id)


def read_record(
    raw: bytes, job_id: str, *, queue: str = "", status: JobStatus = JobStatus.FAILED, finished_ms: int = 0
) -> JobRecord:
    """The record stored as `raw`; one that cannot be read is shown as `JobRecord.unreadable`, with
    the reason and what the caller knows of it, so one broken record never fails a whole listing."""
    try:
        return JobRecord.from_json(raw)
    except UnreadableRecord as exc:
        return JobRecord.unreadable(job_id, str(exc), queue=queue, status=status, finished_ms=finished_ms)


@connection.reports_redis_errors
async def job_status(job_id: str, queue: str | None = None) -> JobStatus:
    conn = await connection.for_current_loop()
    layout, redis = conn.keys, conn.redis
    queue = await _queue_for(conn, job_id, queue)
    if layout.cluster and queue is None:
        return JobStatus.NOT_FOUND
    # One MGET: the keys are read at one instant (in a cluster they share the queue's slot).
    record, locked, stored = await redis.mget(
        [layout.record(job_id, queue), layout.lock(job_id, queue), layout.job(job_id, queue)]
    )
    if record is not None:
        return read_record(record, job_id).status
    if keys.running_lock(locked):
        return JobStatus.RUNNING
    if stored is None:
        return JobStatus.NOT_FOUND
    queue = _queue_of(stored) or queue
    score = await redis.zscore(layout.queue(queue), job_id) if queue else None
    return JobStatus.SCHEDULED if score is not None and score > now_ms() else JobStatus.QUEUED


@connection.reports_redis_errors
async def latest(queue: str, status: JobStatus, limit: int = 20) -> list[JobRecord]:
    """The most recent retained jobs of `queue` with `status` (COMPLETED, FAILED or CANCELLED), newest first."""
    if status not in RETAINED:
        raise ValueError(f"only completed, failed and cancelled jobs are retained, not {status.value}")
    conn = await connection.for_current_loop()
    layout, redis = conn.keys, conn.redis
    retained = await redis.zrevrange(layout.finished(queue, status.value), 0, limit - 1, withscores=True)
    if not retained:
        return []
    prefix = layout.record("", queue).encode()  # ids as stored: one that is not UTF-8 is still looked up
    raws = await redis.mget([prefix + raw_id for raw_id, _ in retained])
    return [
        read_record(
            raw, raw_id.decode(errors="backslashreplace"), queue=queue, status=status, finished_ms=int(us) // 1000
        )
        for (raw_id, us), raw in zip(retained, raws, strict=True)
        if raw is not None
    ]


async def latest_completed(queue: str, limit: int = 20) -> list[JobRecord]:
    return await latest(queue, JobStatus.COMPLETED, limit)


async def latest_failed(queue: str, limit: int = 20) -> list[JobRecord]:
    return await latest(queue, JobStatus.FAILED, limit)


def _queue_of(stored: bytes) -> str | None:
    """The queue a stored job was triggered on (our "q" field; None for a foreign or broken job)."""
    try:
        queue = json.loads(stored).get("q")
    except (ValueError, AttributeError, RecursionError):
        return None
    return queue if isinstance(queue, str) else None
