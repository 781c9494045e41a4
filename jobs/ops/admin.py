"""Inspect and operate queues: counts, one job's state, retry failures, remove jobs, pause queues.

Every change is one Lua script (or one transaction), so a job is never half retried or half
removed. Reads go through `inspection` where it already answers the question; a queue's jobs page
by page (`jobs_page`), the live workers, throughput and attempt history come from the store's
`browse`, `presence`, `throughput` and `attempts`, re-exported here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import structlog
from pydantic import ValidationError

from .. import registry
from ..clock import now_ms
from ..errors import JobsError, PayloadTooLargeError, UnknownJobError
from ..handle import JobHandle
from ..progress import Progress
from ..records import RETAINED, UNREADABLE_JOB, JobRecord, JobStatus
from ..settings import get_settings
from ..store import attempts as attempt_log
from ..store import browse, connection, enqueue, inspection, keys, presence, queues, scripts, stored
from ..store import cancel as cancelling
from ..store import counts as queue_counts
from ..store import throughput as outcome_counts
from ..store.attempts import AttemptInfo
from ..store.browse import JobPage, JobSummary
from ..store.cancel import CancelResult
from ..store.counts import QueueCounts
from ..store.presence import RunningJob, WorkerInfo
from ..store.throughput import Minute

log = structlog.get_logger("jobs")

__all__ = [
    "AttemptInfo",
    "CancelResult",
    "JobInfo",
    "JobNotFoundError",
    "JobPage",
    "JobStateError",
    "JobSummary",
    "Minute",
    "QueueCounts",
    "RetryAllResult",
    "RunningJob",
    "WorkerInfo",
    "attempts",
    "cancel",
    "counts",
    "counts_many",
    "get_job",
    "jobs_page",
    "known_queues",
    "latest",
    "pause",
    "paused_queues",
    "queue_exists",
    "remove",
    "resume",
    "retry_all_failed",
    "retry_failed",
    "throughput",
    "throughput_many",
    "workers",
]
_FINISHED = RETAINED


class JobNotFoundError(JobsError, LookupError):
    """No job (or no job in the state the operation needs) with this id."""


class JobStateError(JobsError):
    """The job exists but cannot take this operation now (e.g. removing a running job)."""


@dataclass(frozen=True, slots=True)
class JobInfo:
    """One job as it is now: live (queued, scheduled, running) or retained (completed, failed)."""

    id: str
    status: JobStatus
    job: str | None
    queue: str | None
    payload: Any
    attempts: int  # started so far (live), or used (finished)
    enqueued_ms: int | None
    due_ms: int | None = None  # when a queued or scheduled job (or its next attempt) may start
    started_ms: int | None = None  # of the last attempt: a finished job's record, a running one's worker heartbeat
    finished_ms: int | None = None
    result: Any = None
    error: dict[str, str] | None = None  # type, message, traceback
    worker: str | None = None  # the id of the worker running it (from its heartbeat)
    priority: int | None = None  # a job triggered with a priority other than 0 (live, or as its record kept it)
    progress: dict[str, Any] | None = None  # a running job's latest report: fraction, message, at_ms

    @classmethod
    def from_record(cls, record: JobRecord) -> JobInfo:
        return cls(
            id=record.id,
            status=record.status,
            job=record.job,
            queue=record.queue,
            payload=record.payload,
            attempts=record.attempts,
            enqueued_ms=record.enqueued_ms or None,
            started_ms=record.started_ms,
            finished_ms=record.finished_ms,
            result=record.result,
            error=asdict(record.error) if record.error else None,
            priority=record.priority or None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Its fields as they are, not deep-copied: `asdict` recurses into the payload, once per level."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["status"] = self.status.value
        return data


@dataclass(frozen=True, slots=True)
class RetryAllResult:
    retried: list[JobHandle] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # job id -> why it was not retried


@connection.reports_redis_errors
async def known_queues() -> list[str]:
    """Queues of the defined jobs, then every other queue Redis holds jobs, records or a pause for.

    Found with SCAN (never KEYS): O(keys in the database) in total, in small non-blocking steps.
    """
    found = set(await queues.discovered(await connection.for_current_loop()))
    defined = registry.queues()
    return defined + sorted(found.difference(defined))


@connection.reports_redis_errors
async def counts(queue: str) -> QueueCounts:
    """Jobs of `queue` per state, in O(log N) whatever its size: one round trip for the queue's
    sorted set (due jobs: ZCOUNT up to now; scheduled: the rest), the retained sets (ZCARD) and the
    pause, one for the workers' heartbeats. Running jobs stay in the queue, locked: they are the
    ones the heartbeats report, taken out of the due ones to give the queued count."""
    (result,) = await counts_many([queue])
    return result


@connection.reports_redis_errors
async def counts_many(names: Sequence[str], workers: Sequence[WorkerInfo] | None = None) -> list[QueueCounts]:
    """`counts` of each queue, in one round trip (plus one for the heartbeats unless `workers` are given)."""
    return await queue_counts.read(await connection.for_current_loop(), names, workers)


@connection.reports_redis_errors
async def queue_exists(queue: str) -> bool:
    """Whether a defined job uses `queue` or Redis holds jobs, records or a pause for it: O(1), no SCAN."""
    if queue in registry.queues():
        return True
    conn = await connection.for_current_loop()
    layout = conn.keys
    async with conn.redis.pipeline(transaction=False) as pipe:
        pipe.exists(
            layout.queue(queue),
            layout.finished(queue, "completed"),
            layout.finished(queue, "failed"),
            layout.finished(queue, "cancelled"),
        )
        pipe.sismember(layout.paused(queue), queue)
        found, paused = await pipe.execute()
    return bool(found or paused)


@connection.reports_redis_errors
async def workers() -> list[WorkerInfo]:
    """Every live worker process (host, pid, queues, concurrency, running jobs), from its heartbeat:
    one disappears within `presence.BEAT_TTL_MS` of being killed, at once when it stops cleanly."""
    conn = await connection.for_current_loop()
    return await presence.live_workers(conn.redis, conn.keys)


@connection.reports_redis_errors
async def throughput(queue: str, minutes: int = 60) -> list[Minute]:
    """Completions and failures of `queue` per minute over the last `minutes` (at most 120), oldest
    first, as the workers' heartbeats counted them (arq's own worker counts none)."""
    return (await throughput_many([queue], minutes))[queue]


@connection.reports_redis_errors
async def throughput_many(names: Sequence[str], minutes: int = 60) -> dict[str, list[Minute]]:
    """`throughput` of each queue, in one round trip."""
    conn = await connection.for_current_loop()
    return await outcome_counts.per_minute(conn.redis, names, minutes, conn.keys)


@connection.reports_redis_errors
async def jobs_page(
    queue: str,
    status: JobStatus,
    *,
    page: int = 1,
    per_page: int = 25,
    job_name: str | None = None,
    oldest_first: bool = False,
    workers: Sequence[WorkerInfo] | None = None,
) -> JobPage:
    """One page of `queue`'s jobs in `status`, newest first: O(log N + page), never a scan of the
    queue. A `job_name` filter searches the first `browse.WINDOW` entries of the state only
    (`JobPage.examined` says how many)."""
    return await browse.jobs_page(
        await connection.for_current_loop(),
        queue,
        status,
        page=page,
        per_page=per_page,
        job_name=job_name,
        oldest_first=oldest_first,
        workers=workers,
    )


@connection.reports_redis_errors
async def attempts(job_id: str, info: JobInfo | None = None) -> list[AttemptInfo]:
    """Every attempt of a job, by number: the retried ones the worker logged, then the last one from
    its record (or the running one from its worker's heartbeat). An attempt that was charged but
    whose outcome was never stored (a killed worker, arq's own worker) shows as `unknown`."""
    info = info if info is not None else await get_job(job_id)
    if info is None:
        return []
    conn = await connection.for_current_loop()
    found = {a.number: a for a in await attempt_log.logged(conn.redis, job_id, info.queue, conn.keys)}
    if info.status in _FINISHED and info.attempts:
        error = info.error or {}
        found[info.attempts] = AttemptInfo(
            info.attempts,
            info.status.value,
            info.started_ms,
            info.finished_ms,
            error.get("type"),
            error.get("message"),
        )
    elif info.status is JobStatus.RUNNING and info.attempts:
        found[info.attempts] = AttemptInfo(info.attempts, "running", info.started_ms)
    last = max([info.attempts, *found])
    return [found.get(n) or AttemptInfo(n, "unknown") for n in range(1, last + 1)]


@connection.reports_redis_errors
async def latest(status: JobStatus, queue: str | None = None, limit: int = 20) -> list[JobRecord]:
    """The newest retained jobs with `status` (COMPLETED, FAILED or CANCELLED) of `queue`, or of every queue."""
    queues = [queue] if queue is not None else await known_queues()
    found: list[JobRecord] = []
    for name in queues:
        found += await inspection.latest(name, status, limit)
    found.sort(key=lambda r: r.finished_ms, reverse=True)
    return found[:limit]


@connection.reports_redis_errors
async def get_job(job_id: str, queue: str | None = None) -> JobInfo | None:
    """What Redis holds about `job_id`: its record once finished, else its live state; None if unknown.

    `queue`, when known, saves a search in a cluster (where a job's keys carry its queue's tag)."""
    conn = await connection.for_current_loop()
    layout, redis = conn.keys, conn.redis
    if layout.cluster and queue is None:
        queue = await queues.find(conn, job_id)
        if queue is None:
            return None
    # One MGET: the four keys are read at one instant (in a cluster they share the queue's slot).
    found = await redis.mget(
        [
            layout.record(job_id, queue),
            layout.lock(job_id, queue),
            layout.job(job_id, queue),
            layout.tries(job_id, queue),
            layout.progress(job_id, queue),
        ]
    )
    record, locked, raw, tries, reported = found
    if record is not None:
        return JobInfo.from_record(inspection.read_record(record, job_id))
    if raw is None:
        return None
    name, payload, enqueued, stored_queue = _decode_live(raw)
    queue = stored_queue or queue
    if queue is None:
        queue = await _locate(job_id)
    due = await redis.zscore(layout.queue(queue), job_id) if queue else None
    ranked = await redis.zscore(layout.priority(queue), job_id) if queue and due is not None else None
    started, worker, progress = None, None, None
    if keys.running_lock(locked):
        shown = Progress.from_json(reported) if reported is not None else None
        progress = shown.to_dict() if shown is not None else None
        status = JobStatus.RUNNING
        live = await presence.live_workers(redis, layout)
        running = presence.running_by_queue(live).get(queue or "", {}).get(job_id)
        if running is not None:
            started, worker = running[0].started_ms, running[1].id
    else:
        status = JobStatus.SCHEDULED if due is not None and due > now_ms() else JobStatus.QUEUED
    return JobInfo(
        id=job_id,
        status=status,
        job=name,
        queue=queue,
        payload=payload,
        attempts=int(tries or 0) - (locked is not None and not keys.running_lock(locked)),  # ahead: not begun
        enqueued_ms=enqueued,
        due_ms=None if due is None else int(due),
        started_ms=started,
        worker=worker,
        priority=None if ranked is None else enqueue.priority_of(ranked),
        progress=progress,
    )


@connection.reports_redis_errors
async def retry_failed(job_id: str, queue: str | None = None) -> JobHandle:
    """Run a failed job again with its payload and a fresh set of attempts, as soon as a worker can.

    Atomic: the record and its place among the queue's failures go, the stored job comes back,
    queued and announced to idle workers, in one script. Raises `JobNotFoundError` for an unknown
    id, `JobStateError` for a job that is not failed or that this process does not define.
    """
    record = await inspection.get_record(job_id, queue)
    if record is not None and record.job == UNREADABLE_JOB and record.error is not None:
        raise JobStateError(f"cannot retry job {job_id}: its record is unreadable ({record.error.message})")
    if record is None or record.status is not JobStatus.FAILED:
        info = JobInfo.from_record(record) if record else await get_job(job_id)
        if info is None:
            raise JobNotFoundError(f"no job with id {job_id!r} (never existed, or no longer retained)")
        raise JobStateError(f"job {job_id} is {info.status.value}; only failed jobs can be retried")
    try:
        job = registry.get(record.job)
        now = now_ms()
        body = job.encode(record.payload, now)
    except UnknownJobError as exc:
        raise JobStateError(f"cannot retry job {job_id}: {exc}") from None
    except (ValidationError, PayloadTooLargeError) as exc:
        raise JobStateError(f"cannot retry job {job_id}: its payload is no longer accepted: {exc}") from None
    conn = await connection.for_current_loop()
    layout = conn.keys
    if layout.cluster and job.queue != record.queue:
        raise JobStateError(
            f"cannot retry job {job_id}: it failed on queue {record.queue!r} and job {job.name!r} is on "
            f"{job.queue!r} now; in a cluster a job cannot move between queues (their slots differ)"
        )
    done = await conn.run(
        scripts.RETRY_FAILED,
        [layout.finished(record.queue, JobStatus.FAILED.value), layout.queue(job.queue), layout.priority(job.queue)],
        [job_id, body, now, layout.wake_channel(job.queue), record.priority],
    )
    if done == 0:
        raise JobNotFoundError(f"job {job_id} is no longer a retained failure (retried or trimmed meanwhile)")
    if done < 0:
        raise JobStateError(f"job {job_id} is queued or running again already")
    await conn.redis.delete(layout.attempts(job_id, record.queue))  # its attempts start afresh
    error = record.error
    log.info(
        "job.retried_manually",
        job=job.name,
        job_id=job_id,
        queue=job.queue,
        previous_attempts=record.attempts,
        previous_error=f"{error.type}: {error.message}" if error else None,
    )
    return JobHandle(id=job_id, job=job.name, queue=job.queue)


@connection.reports_redis_errors
async def retry_all_failed(queue: str | None = None) -> RetryAllResult:
    """Retry every retained failure of `queue` (None: of every queue), oldest first; the ones that
    cannot be are reported."""
    conn = await connection.for_current_loop()
    result = RetryAllResult()
    for name in [queue] if queue is not None else await known_queues():
        for raw_id in await conn.redis.zrange(conn.keys.finished(name, JobStatus.FAILED.value), 0, -1):
            job_id = raw_id.decode()
            try:
                result.retried.append(await retry_failed(job_id, name))
            except (JobNotFoundError, JobStateError) as exc:
                result.skipped[job_id] = str(exc)
    return result


async def cancel(job_id: str, queue: str | None = None) -> CancelResult:
    """Cancel a job: a queued or scheduled one is removed and retained as cancelled at once
    (`outcome` "cancelled"); a running one is stopped in its worker within moments ("cancelling":
    CancelledError inside it, its finally blocks run, then it is retained as cancelled, not
    retried); a finished one is left as it is ("finished"), an unknown id is "not_found". Cancelled
    jobs are kept like failed ones, the latest JOBS_KEEP_CANCELLED per queue."""
    return await cancelling.cancel(job_id, queue, keep=get_settings().jobs_keep_cancelled)


@connection.reports_redis_errors
async def remove(job_id: str, queue: str | None = None) -> JobInfo:
    """Delete a queued, scheduled or retained job and return what it was; a running job is refused
    (`JobStateError`): it would finish and write its record anyway."""
    info = await get_job(job_id, queue)
    if info is None:
        raise JobNotFoundError(f"no job with id {job_id!r} (never existed, or no longer retained)")
    if info.status is JobStatus.RUNNING:
        raise JobStateError(f"job {job_id} is running; it cannot be removed until its attempt ends")
    queue = info.queue or ""
    conn = await connection.for_current_loop()
    layout = conn.keys
    done = await conn.run(
        scripts.REMOVE,
        [layout.queue(queue), *(layout.finished(queue, s.value) for s in RETAINED)],
        [job_id],
    )
    if done < 0:
        raise JobStateError(f"job {job_id} started running meanwhile; it cannot be removed until its attempt ends")
    if done == 0:
        raise JobNotFoundError(f"job {job_id} is gone already")
    name = stored.shown_name(info.job) if info.job else None  # read from Redis: bounded in the line
    log.info("job.removed", job=name, job_id=job_id, queue=info.queue, status=info.status.value)
    return info


@connection.reports_redis_errors
async def pause(queue: str) -> bool:
    """Stop workers taking jobs from `queue` (triggers still enqueue). False if it was paused."""
    conn = await connection.for_current_loop()
    added = await conn.redis.sadd(conn.keys.paused(queue), queue)  # type: ignore[misc]
    log.info("queue.paused", queue=queue, changed=bool(added))
    return bool(added)


@connection.reports_redis_errors
async def resume(queue: str) -> bool:
    """Let workers take jobs from `queue` again, waking idle ones at once. False if it was not paused."""
    conn = await connection.for_current_loop()
    removed = await conn.redis.srem(conn.keys.paused(queue), queue)  # type: ignore[misc]
    await conn.publish(conn.keys.wake_channel(queue), "1")
    log.info("queue.resumed", queue=queue, changed=bool(removed))
    return bool(removed)


@connection.reports_redis_errors
async def paused_queues() -> set[str]:
    conn = await connection.for_current_loop()
    if conn.keys.cluster:  # a pause per queue, in its slot
        return await queues.paused(conn, await queues.discovered(conn))
    members = await conn.redis.smembers(conn.keys.paused(""))  # type: ignore[misc]
    return {m.decode() for m in members}


def _decode_live(raw: bytes) -> tuple[str | None, Any, int | None, str | None]:
    """Name, payload, enqueue time and queue of a stored job; Nones for what cannot be read."""
    try:
        data = stored.decode(raw)
    except stored.UndecodableJob:
        return None, None, None, None
    try:
        queue = json.loads(raw).get("q")
    except (ValueError, AttributeError, RecursionError):
        queue = None
    return data.name, data.payload, data.enqueued_ms or None, queue if isinstance(queue, str) else None


async def _locate(job_id: str) -> str | None:
    """The queue holding `job_id`, for a job stored without our queue field (enqueued by plain arq,
    so on a single Redis)."""
    names = await known_queues()
    conn = await connection.for_current_loop()
    async with conn.redis.pipeline(transaction=False) as pipe:
        for queue in names:
            pipe.zscore(conn.keys.queue(queue), job_id)
        scores = await pipe.execute()
    return next((q for q, s in zip(names, scores, strict=True) if s is not None), None)
