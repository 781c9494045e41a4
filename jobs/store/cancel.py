"""Cancel a job by id: a queued or scheduled one is removed and retained as cancelled in one
script; one a worker holds is marked and its worker told, and it stops there (runtime/cancels.py).

Below the handle (`JobHandle.cancel`) and the operations (`jobs.admin.cancel`), which both call it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import structlog

from ..clock import now_ms
from ..records import ErrorInfo, JobRecord, JobStatus
from . import connection, inspection, keys, queues, scripts, stored
from .connection import Connection

log = structlog.get_logger("jobs")

CancelOutcome = Literal["cancelled", "cancelling", "finished", "not_found"]
CANCELLED_ERROR = "Cancelled"  # the error type of a cancelled job's record
_MESSAGES = {
    1: "cancelled: removed from its queue before it started",
    2: "cancelling: its worker stops it now (CancelledError in the job, its finally blocks run)",
}


@dataclass(frozen=True, slots=True)
class CancelResult:
    """What a cancel did. `outcome`: `cancelled` (it was queued or scheduled: removed, retained as
    cancelled), `cancelling` (a worker holds it: it is stopped there within moments), `finished`
    (it had completed, failed or been cancelled already: nothing changed) or `not_found`."""

    id: str
    outcome: CancelOutcome
    status: JobStatus  # the job's status when the cancel found it
    message: str

    @property
    def changed(self) -> bool:
        """Whether the cancel did anything (False for a finished or unknown job)."""
        return self.outcome in ("cancelled", "cancelling")

    def to_dict(self) -> dict[str, str | bool]:
        return {
            "id": self.id,
            "outcome": self.outcome,
            "status": self.status.value,
            "changed": self.changed,
            "message": self.message,
        }


def cancelled_record(
    job_id: str, name: str, queue: str, payload: object, attempts: int, enqueued_ms: int, started_ms: int, why: str
) -> JobRecord:
    """The record a cancelled job is retained with: its error says when it was cancelled."""
    return JobRecord(
        id=job_id,
        job=name,
        queue=queue,
        status=JobStatus.CANCELLED,
        payload=payload,
        result=None,
        error=ErrorInfo(type=CANCELLED_ERROR, message=why, traceback=""),
        attempts=attempts,
        enqueued_ms=enqueued_ms,
        started_ms=started_ms,
        finished_ms=now_ms(),
    )


@connection.reports_redis_errors
async def cancel(job_id: str, queue: str | None = None, *, keep: int) -> CancelResult:
    """Cancel `job_id` (see `CancelResult`); `keep` bounds the queue's cancelled records."""
    conn = await connection.for_current_loop()
    layout, redis = conn.keys, conn.redis
    if layout.cluster and queue is None:
        queue = await queues.find(conn, job_id)
        if queue is None:
            return _not_found(job_id)
    for _ in range(10):  # the stored job changed between the read and the script: read it again
        raw, tries = await redis.mget([layout.job(job_id, queue), layout.tries(job_id, queue)])
        if raw is None:
            return await _finished_or_unknown(job_id, queue)
        queue_name = queue or _queue_of(raw) or await _locate(conn, job_id)
        if queue_name is None:
            return _not_found(job_id)
        record = _record_of(job_id, queue_name, raw, int(tries or 0))
        done = await conn.run(
            scripts.CANCEL,
            [layout.queue(queue_name), layout.finished(queue_name, JobStatus.CANCELLED.value)],
            [
                job_id,
                raw,
                record.to_json(),
                keep,
                layout.wake_channel(queue_name),
                keys.CANCEL_MESSAGE_PREFIX + job_id.encode(),
            ],
        )
        if done == -2:
            continue
        if done == 0 or done == -1:
            return await _finished_or_unknown(job_id, queue)
        if done == 1:
            log.info("job.cancelled", job=record.job, job_id=job_id, queue=queue_name, status="queued")
            return CancelResult(job_id, "cancelled", JobStatus.QUEUED, _MESSAGES[1])
        return CancelResult(job_id, "cancelling", JobStatus.RUNNING, _MESSAGES[2])
    raise RuntimeError(f"job {job_id} kept changing while it was being cancelled; try again")


def _record_of(job_id: str, queue: str, raw: bytes, tries: int) -> JobRecord:
    try:
        job = stored.decode(raw)
    except stored.UndecodableJob:
        return cancelled_record(job_id, "<undecodable>", queue, None, tries, 0, 0, "cancelled while queued")
    name = stored.shown_name(job.name)
    why = "cancelled while queued" if tries == 0 else f"cancelled while waiting for attempt {tries + 1}"
    return cancelled_record(job_id, name, queue, job.payload, tries, job.enqueued_ms, 0, why)


async def _finished_or_unknown(job_id: str, queue: str | None) -> CancelResult:
    record = await inspection.get_record(job_id, queue)
    if record is None:
        return _not_found(job_id)
    message = f"job {job_id} is {record.status.value} already; nothing changed"
    return CancelResult(job_id, "finished", record.status, message)


def _not_found(job_id: str) -> CancelResult:
    message = f"no job with id {job_id!r} (never existed, or no longer retained)"
    return CancelResult(job_id, "not_found", JobStatus.NOT_FOUND, message)


def _queue_of(raw: bytes) -> str | None:
    try:
        queue = json.loads(raw).get("q")
    except (ValueError, AttributeError, RecursionError):
        return None
    return queue if isinstance(queue, str) else None


async def _locate(conn: Connection, job_id: str) -> str | None:
    """The queue of a job stored without our queue field (plain arq's, so on a single Redis)."""
    names = await queues.discovered(conn)
    async with conn.redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.zscore(conn.keys.queue(name), job_id)
        scores = await pipe.execute()
    return next((q for q, s in zip(names, scores, strict=True) if s is not None), None)
