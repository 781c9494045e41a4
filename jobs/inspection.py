"""Read what Redis holds about jobs: one job's status and record, a queue's latest outcomes."""

from __future__ import annotations

import json

from . import connection, keys
from .clock import now_ms
from .records import JobRecord, JobStatus


@connection.reports_redis_errors
async def get_record(job_id: str) -> JobRecord | None:
    """The retained record of a finished job, or None if it is not (or no longer) retained."""
    raw = await (await connection.for_current_loop()).redis.get(keys.record(job_id))
    return None if raw is None else JobRecord.from_json(raw)


@connection.reports_redis_errors
async def job_status(job_id: str) -> JobStatus:
    redis = (await connection.for_current_loop()).redis
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.record(job_id))
        pipe.get(keys.lock(job_id))
        pipe.get(keys.job(job_id))
        record, locked, stored = await pipe.execute()
    if record is not None:
        return JobRecord.from_json(record).status
    if keys.running_lock(locked):
        return JobStatus.RUNNING
    if stored is None:
        return JobStatus.NOT_FOUND
    queue = _queue_of(stored)
    score = await redis.zscore(keys.queue(queue), job_id) if queue else None
    return JobStatus.SCHEDULED if score is not None and score > now_ms() else JobStatus.QUEUED


@connection.reports_redis_errors
async def latest(queue: str, status: JobStatus, limit: int = 20) -> list[JobRecord]:
    """The most recent retained jobs of `queue` with `status` (COMPLETED or FAILED), newest first."""
    if status not in (JobStatus.COMPLETED, JobStatus.FAILED):
        raise ValueError(f"only completed and failed jobs are retained, not {status.value}")
    redis = (await connection.for_current_loop()).redis
    ids = await redis.zrevrange(keys.finished(queue, status.value), 0, limit - 1)
    if not ids:
        return []
    raws = await redis.mget([keys.record(i.decode()) for i in ids])
    return [JobRecord.from_json(raw) for raw in raws if raw is not None]


async def latest_completed(queue: str, limit: int = 20) -> list[JobRecord]:
    return await latest(queue, JobStatus.COMPLETED, limit)


async def latest_failed(queue: str, limit: int = 20) -> list[JobRecord]:
    return await latest(queue, JobStatus.FAILED, limit)


def _queue_of(stored: bytes) -> str | None:
    """The queue a stored job was triggered on (our "q" field; None for a foreign or broken job)."""
    try:
        queue = json.loads(stored).get("q")
    except (ValueError, AttributeError):
        return None
    return queue if isinstance(queue, str) else None
