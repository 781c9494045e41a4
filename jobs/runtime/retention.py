"""Store a finished job's record and keep only the latest N per queue and outcome."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from ..clock import now_ms
from ..definition import Job
from ..records import JobRecord, JobStatus
from ..store import keys, scripts
from .execution import Attempt, Completed, Failed


def build_record(
    attempt: Attempt, outcome: Completed | Failed, payload: Any, enqueued_ms: int, started_ms: int
) -> JobRecord:
    completed = isinstance(outcome, Completed)
    return JobRecord(
        id=attempt.job_id,
        job=attempt.name,
        queue=attempt.queue,
        status=JobStatus.COMPLETED if completed else JobStatus.FAILED,
        payload=payload,
        result=outcome.result if isinstance(outcome, Completed) else None,
        error=outcome.error if isinstance(outcome, Failed) else None,
        attempts=attempt.number,
        enqueued_ms=enqueued_ms,
        started_ms=started_ms,
        finished_ms=now_ms(),
    )


def keep_limit(job: Job[Any] | None, status: JobStatus, *, keep_completed: int, keep_failed: int) -> int:
    """How many records of this outcome the queue keeps: the job's own override, else the setting."""
    if status is JobStatus.COMPLETED:
        override = job.config.keep_completed if job else None
        return keep_completed if override is None else override
    override = job.config.keep_failed if job else None
    return keep_failed if override is None else override


async def store(redis: Redis, record: JobRecord, keep: int) -> bool:
    """Remove the live job and retain `record`, trimming the queue's oldest beyond `keep`; False
    (nothing stored) when the job is gone: another worker took it over and finished it."""
    stored = await scripts.run(
        redis,
        scripts.FINISH,
        [keys.queue(record.queue), keys.finished(record.queue, record.status.value)],
        [record.id, record.to_json(), keep],
    )
    return bool(stored)
