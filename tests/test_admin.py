"""The admin API: queue counts, one job's state, retrying failures, removing jobs, pausing queues."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from jobs import Backoff, JobStatus, UnrecoverableError, admin, registry
from jobs.admin import JobNotFoundError, JobStateError
from jobs.clock import now_ms
from jobs.store import keys
from jobs.store.inspection import get_record

from .conftest import Define, StartWorker, run_burst
from .helpers import wait_until


class Item(BaseModel):
    n: int


async def _double(payload: Item) -> int:
    return payload.n * 2


async def _fail(payload: Item) -> None:
    raise UnrecoverableError(f"bad item {payload.n}")


async def test_counts_split_a_queue_into_queued_scheduled_running_completed_and_failed(
    define: Define, start_worker: StartWorker, queue: str
) -> None:
    """A running job is told apart from queued ones by its worker's heartbeat, without walking the queue."""
    release = asyncio.Event()

    async def block(payload: Item) -> None:
        await release.wait()

    ok, bad, blocker = define(_double), define(_fail, attempts=1), define(block)
    await ok.trigger({"n": 1})
    await bad.trigger({"n": 2})
    await run_burst([queue])
    await start_worker(concurrency=1)
    running = await blocker.trigger({"n": 3})
    await wait_until(lambda: _status_is(running.id, JobStatus.RUNNING), what="blocker running")
    for n in (4, 5):
        await ok.trigger({"n": n})
    await ok.trigger({"n": 6}, delay=60)
    await wait_until(lambda: _reported_running(running.id), what="the heartbeat reports the blocker")

    counts = await admin.counts(queue)

    assert counts == admin.QueueCounts(queue, queued=2, scheduled=1, running=1, completed=1, failed=1, paused=False)
    info = await admin.get_job(running.id)
    assert info is not None and info.status is JobStatus.RUNNING and info.attempts == 1
    release.set()


async def test_get_job_shows_a_live_job_then_its_retained_record(define: Define, queue: str) -> None:
    """A scheduled job shows its stored payload and due time; once finished, its record."""
    ok = define(_double)
    handle = await ok.trigger({"n": 21}, delay=0.2)

    live = await admin.get_job(handle.id)

    assert live is not None and live.status is JobStatus.SCHEDULED
    assert (live.job, live.queue, live.payload, live.attempts) == (ok.name, queue, {"n": 21}, 0)
    assert live.due_ms is not None and live.due_ms > now_ms() and live.result is None
    await run_burst([queue])
    done = await admin.get_job(handle.id)
    assert done is not None and done.status is JobStatus.COMPLETED
    assert (done.result, done.attempts, done.payload) == (42, 1, {"n": 21})
    assert done.to_dict()["status"] == "completed"
    assert await admin.get_job(f"missing-{uuid.uuid4().hex}") is None


async def test_retrying_a_failed_job_restores_it_atomically_with_fresh_attempts(
    define: Define, queue: str, redis: Redis, logs: list[dict[str, Any]]
) -> None:
    """The record and failed-set entry go, the stored job is back in the queue, tries reset, logged."""
    bad = define(_fail, attempts=3)
    handle = await bad.trigger({"n": 7})
    await run_burst([queue])
    failed = await get_record(handle.id)
    assert failed is not None and failed.status is JobStatus.FAILED

    retried = await admin.retry_failed(handle.id)

    assert (retried.id, retried.job, retried.queue) == (handle.id, bad.name, queue)
    assert await redis.exists(keys.record(handle.id), keys.tries(handle.id)) == 0
    assert await redis.zscore(keys.finished(queue, "failed"), handle.id) is None
    assert await redis.zscore(keys.queue(queue), handle.id) is not None
    info = await admin.get_job(handle.id)
    assert info is not None and info.status is JobStatus.QUEUED
    assert (info.payload, info.attempts) == ({"n": 7}, 0)
    event = next(e for e in logs if e["event"] == "job.retried_manually")
    assert event["job_id"] == handle.id and event["previous_attempts"] == 1
    assert "bad item 7" in event["previous_error"]


async def test_a_retried_job_wakes_an_idle_worker_and_succeeds(
    define: Define, start_worker: StartWorker, queue: str, redis: Redis
) -> None:
    """Retry publishes on the wake channel: an idle worker polling every 30 s runs the job at once."""
    broken = True

    async def flaky(payload: Item) -> str:
        if broken:
            raise RuntimeError("still broken")
        return "fixed"

    job = define(flaky, attempts=2, backoff=Backoff.fixed(delay_ms=10))
    await start_worker(jobs_poll_interval=30)
    await _wait_subscribed(redis, queue)
    handle = await job.trigger({"n": 1})
    await wait_until(lambda: _status_is(handle.id, JobStatus.FAILED), what="failure")
    broken = False

    await admin.retry_failed(handle.id)

    assert await handle.result(timeout=5) == "fixed"
    record = await get_record(handle.id)
    assert record is not None and record.attempts == 1


async def test_retry_refuses_unknown_ids_jobs_that_did_not_fail_and_undefined_jobs(define: Define, queue: str) -> None:
    """Only a retained failure of a job this process defines can be retried; refusals change nothing."""
    ok, bad = define(_double), define(_fail, attempts=1)
    done = await ok.trigger({"n": 1})
    failed = await bad.trigger({"n": 2})
    await run_burst([queue])
    queued = await ok.trigger({"n": 3})

    with pytest.raises(JobNotFoundError, match="no job with id"):
        await admin.retry_failed(f"missing-{uuid.uuid4().hex}")
    with pytest.raises(JobStateError, match="is completed; only failed jobs"):
        await admin.retry_failed(done.id)
    with pytest.raises(JobStateError, match="is queued; only failed jobs"):
        await admin.retry_failed(queued.id)
    registry.unregister(bad.name)
    with pytest.raises(JobStateError, match=f"no job named '{bad.name}'"):
        await admin.retry_failed(failed.id)
    assert await _status_is(failed.id, JobStatus.FAILED)


async def test_retry_all_failed_requeues_every_failure_of_the_queue(define: Define, queue: str) -> None:
    """Every retained failure goes back to the queue; the counts show it."""
    bad = define(_fail, attempts=1)
    handles = [await bad.trigger({"n": n}) for n in range(3)]
    await run_burst([queue])

    result = await admin.retry_all_failed(queue)

    assert sorted(h.id for h in result.retried) == sorted(h.id for h in handles) and result.skipped == {}
    counts = await admin.counts(queue)
    assert (counts.queued, counts.failed) == (3, 0)


async def test_remove_deletes_queued_and_retained_jobs_but_refuses_running_ones(
    define: Define, start_worker: StartWorker, queue: str, redis: Redis
) -> None:
    """Removal leaves no key behind; a running job stays untouched with a clear refusal."""
    release = asyncio.Event()

    async def block(payload: Item) -> None:
        await release.wait()

    ok, blocker = define(_double), define(block)
    done = await ok.trigger({"n": 1})
    await run_burst([queue])
    queued = await ok.trigger({"n": 2}, delay=60)

    assert (await admin.remove(queued.id)).status is JobStatus.SCHEDULED
    assert (await admin.remove(done.id)).status is JobStatus.COMPLETED
    assert await redis.exists(keys.job(queued.id), keys.record(done.id)) == 0
    assert await redis.zcard(keys.queue(queue)) == 0 and await redis.zcard(keys.finished(queue, "completed")) == 0
    with pytest.raises(JobNotFoundError):
        await admin.remove(queued.id)
    await start_worker()
    running = await blocker.trigger({"n": 3})
    await wait_until(lambda: _status_is(running.id, JobStatus.RUNNING), what="blocker running")
    with pytest.raises(JobStateError, match="is running; it cannot be removed"):
        await admin.remove(running.id)
    assert await _status_is(running.id, JobStatus.RUNNING)
    release.set()
    await running.result(timeout=5)


async def test_a_paused_queue_takes_triggers_runs_nothing_and_resumes_at_once(
    define: Define, start_worker: StartWorker, queue: str, redis: Redis
) -> None:
    """Paused: a burst run leaves the job queued. Resumed: an idle worker is woken and runs it."""
    ok = define(_double)
    assert await admin.pause(queue) is True
    try:
        assert await admin.pause(queue) is False
        assert queue in await admin.paused_queues()
        handle = await ok.trigger({"n": 5})
        await run_burst([queue])
        counts = await admin.counts(queue)
        assert (counts.paused, counts.queued, counts.completed) == (True, 1, 0)
        await start_worker(jobs_poll_interval=30)
        await _wait_subscribed(redis, queue)
    finally:
        assert await admin.resume(queue) is True
    assert await handle.result(timeout=5) == 10
    assert await admin.resume(queue) is False


async def test_known_queues_come_from_the_registry_and_from_redis(define: Define, queue: str, redis: Redis) -> None:
    """Defined queues first, then queues Redis holds jobs or records for; other key types are ignored."""
    define(_double)
    tag = uuid.uuid4().hex[:8]
    live, retained, noise = f"live-{tag}", f"kept-{tag}", f"noise-{tag}"
    created = [keys.queue(live), keys.finished(retained, "failed"), keys.queue(noise) + ":health-check"]
    await redis.zadd(created[0], {"x": 1})
    await redis.zadd(created[1], {"y": 1})
    await redis.set(created[2], "1")
    try:
        known = await admin.known_queues()
    finally:
        await redis.delete(*created)
    assert known.index(queue) < known.index(live) and retained in known
    assert not any(noise in q for q in known)


async def _reported_running(job_id: str) -> bool:
    return any(job.id == job_id for worker in await admin.workers() for job in worker.running)


async def _status_is(job_id: str, status: JobStatus) -> bool:
    info = await admin.get_job(job_id)
    return info is not None and info.status is status


async def _wait_subscribed(redis: Redis, queue: str) -> None:
    """Until the worker listens on the wake channel, so only a publish can wake it before its poll."""

    async def subscribed() -> bool:
        ((_, listeners),) = await redis.pubsub_numsub(keys.wake_channel(queue))
        return bool(listeners)

    await wait_until(subscribed, what="worker subscribed")
