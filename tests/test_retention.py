"""Finished jobs are kept by count per queue and outcome; nothing else is left behind."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from jobs import JobRecord, JobStatus, UnrecoverableError, latest_completed, latest_failed
from jobs.runtime import retention
from jobs.store import connection, keys
from jobs.store.inspection import get_record

from .conftest import REDIS_URL, Define, StartWorker, run_burst
from .helpers import wait_until


async def succeed(payload: int) -> int:
    return payload * 10


async def fail(payload: int) -> None:
    raise UnrecoverableError(f"no {payload}")


async def test_only_the_latest_completed_and_failed_jobs_are_kept(define: Define, redis: Redis, queue: str) -> None:
    """With keep 5 / 3, exactly the newest 5 completed and 3 failed records remain."""
    ok, bad = define(succeed), define(fail)
    ok_handles = await ok.trigger_many(range(12))
    bad_handles = await bad.trigger_many(range(7))
    await run_burst([queue], jobs_keep_completed=5, jobs_keep_failed=3)
    completed = await latest_completed(queue, limit=100)
    failed = await latest_failed(queue, limit=100)
    assert [r.result for r in completed] == [110, 100, 90, 80, 70]
    assert [r.payload for r in failed] == [6, 5, 4]
    assert failed[0].error is not None and failed[0].error.message == "no 6"
    assert await redis.zcard(keys.finished(queue, "completed")) == 5
    trimmed = [h.id for h in ok_handles[:7]] + [h.id for h in bad_handles[:4]]
    assert await redis.exists(*(keys.record(i) for i in trimmed)) == 0


async def test_a_job_can_override_how_many_its_queue_keeps(define: Define, queue: str) -> None:
    """`keep_completed=` on the job trims its queue's list when that job completes (BullMQ's rule)."""
    ok = define(succeed, keep_completed=2)
    await ok.trigger_many(range(6))
    await run_burst([queue], jobs_keep_completed=1000)
    assert [r.payload for r in await latest_completed(queue, limit=10)] == [5, 4]


async def test_keep_zero_retains_nothing(define: Define, redis: Redis, queue: str) -> None:
    """Retention off: the job leaves no key at all once finished."""
    handles = await define(succeed).trigger_many(range(3))
    await run_burst([queue], jobs_keep_completed=0)
    assert await latest_completed(queue) == []
    assert await redis.exists(*(keys.record(h.id) for h in handles)) == 0


async def test_redis_holds_a_bounded_number_of_keys_however_many_jobs_run(
    define: Define, redis: Redis, queue: str
) -> None:
    """After 500 jobs with keep 10: 10 records, the two retention sets, and no live job keys."""
    ok, bad = define(succeed), define(fail)
    handles = await ok.trigger_many(range(400)) + await bad.trigger_many(range(100))
    await run_burst([queue], jobs_keep_completed=10, jobs_keep_failed=10, jobs_concurrency=16)
    live = [k(h.id) for h in handles for k in (keys.job, keys.lock, keys.tries)]
    assert await redis.exists(*live) == 0
    assert await redis.exists(*(keys.record(h.id) for h in handles)) == 20
    assert await redis.exists(keys.queue(queue)) == 0


async def test_a_record_holds_payload_result_attempts_and_timestamps(define: Define, start_worker: StartWorker) -> None:
    """Everything an operator needs to see about a finished job is in its record."""
    ok = define(succeed)
    await start_worker()
    handle = await ok.trigger(4)
    assert await handle.result(timeout=5) == 40
    record = await get_record(handle.id)
    assert record is not None
    assert (record.id, record.job, record.queue, record.payload, record.attempts) == (
        handle.id,
        ok.name,
        ok.queue,
        4,
        1,
    )
    assert record.error is None and record.status is JobStatus.COMPLETED
    assert record.enqueued_ms <= record.started_ms <= record.finished_ms
    assert record.finished_at is not None and record.finished_at.tzinfo is not None


async def test_handle_status_follows_the_job(define: Define, start_worker: StartWorker) -> None:
    """queued -> running -> completed, read through the handle."""
    gate = asyncio.Event()

    async def held(payload: int) -> None:
        await gate.wait()

    held_job = define(held)
    handle = await held_job.trigger(1)
    assert await handle.status() is JobStatus.QUEUED
    await start_worker()
    await wait_until(lambda: _is(handle.status(), JobStatus.RUNNING))
    gate.set()
    await wait_until(lambda: _is(handle.status(), JobStatus.COMPLETED))


async def _is(status: object, expected: JobStatus) -> bool:
    return await status is expected  # type: ignore[misc]


async def test_finish_stores_an_outcome_only_while_the_job_is_still_stored(redis: Redis, queue: str) -> None:
    """arq's worker locks with `1`, no token to fence with: a stale worker's FINISH, once another worker
    took the job over and finished it (its job key gone), stores nothing."""
    record = JobRecord(
        id=f"finish-{queue}",
        job="by-arq",
        queue=queue,
        status=JobStatus.COMPLETED,
        payload=1,
        result=2,
        error=None,
        attempts=1,
        enqueued_ms=1,
        started_ms=2,
        finished_ms=3,
    )
    conn = connection.connect(REDIS_URL)
    try:
        assert await retention.store(conn.redis, record, keep=10) is False
        assert await redis.exists(keys.record(record.id)) == 0
        await redis.set(keys.job(record.id), b'{"f":"by-arq","a":[1],"k":{}}')
        assert await retention.store(conn.redis, record, keep=10) is True
        assert await get_record(record.id) == record and await redis.exists(keys.job(record.id)) == 0
    finally:
        await conn.aclose()
