"""Worker heartbeats: the live workers and what they run, throughput per minute, every attempt of a job."""

from __future__ import annotations

import asyncio
import os
import signal
import socket

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from jobs import Backoff, JobStatus, admin
from jobs.clock import now_ms
from jobs.store import keys, presence
from jobs.store.throughput import MINUTE_MS

from .conftest import Define, StartWorker, run_burst
from .helpers import wait_until
from .processes import process_env, remote_job, worker_process


class Item(BaseModel):
    n: int


async def _ok(payload: Item) -> int:
    return payload.n


async def _mine(worker_id: str) -> admin.WorkerInfo | None:
    return next((w for w in await admin.workers() if w.id == worker_id), None)


async def test_a_running_worker_lists_itself_with_its_queues_and_the_job_it_runs(
    define: Define, start_worker: StartWorker, queue: str
) -> None:
    """Host, pid, queues, concurrency, start, last beat; the running job with its attempt and start time."""
    release = asyncio.Event()

    async def block(payload: Item) -> None:
        await release.wait()

    blocker = define(block)
    worker = await start_worker(concurrency=3)
    before = now_ms()
    handle = await blocker.trigger({"n": 1})

    async def reported() -> admin.WorkerInfo | None:
        info = await _mine(worker.id)
        return info if info is not None and info.running else None

    info = await wait_until(reported, what="the heartbeat reports the running job")

    assert (info.host, info.pid, info.queues, info.concurrency) == (
        socket.gethostname(),
        os.getpid(),
        [queue],
        {queue: 3},
    )
    assert info.started_ms <= info.last_beat_ms and info.burst is False
    (running,) = info.running
    assert (running.id, running.job, running.queue, running.attempt) == (handle.id, blocker.name, queue, 1)
    assert before <= running.started_ms <= now_ms()
    job = await admin.get_job(handle.id)
    assert job is not None and job.status is JobStatus.RUNNING
    assert (job.started_ms, job.worker) == (running.started_ms, worker.id)
    release.set()
    await handle.result(timeout=5)


async def test_a_worker_that_stops_cleanly_leaves_the_list_at_once(define: Define, queue: str, redis: Redis) -> None:
    """A burst worker is listed while it runs; once it returns, its key and its id are gone."""
    seen: list[str] = []

    async def look(payload: Item) -> None:
        seen.extend(w.id for w in await wait_until(admin.workers, what="a live worker"))

    await define(look).trigger({"n": 1})
    worker = await run_burst([queue])

    assert worker.id in seen
    assert await _mine(worker.id) is None
    assert await redis.exists(keys.worker(worker.id)) == 0
    assert await redis.zscore(keys.WORKERS_KEY, worker.id) is None


@pytest.mark.slow
async def test_a_killed_worker_disappears_within_seconds(queue: str) -> None:
    """SIGKILL leaves no chance to clean up: the beat expires, and listing prunes the id."""
    with worker_process(process_env(queue)) as process:
        await process.wait_for("worker.ready")

        async def listed() -> admin.WorkerInfo | None:
            return next((w for w in await admin.workers() if w.pid == process.popen.pid), None)

        found = await wait_until(listed, what="the subprocess worker listed")
        process.send(signal.SIGKILL)
        assert await process.exit_code(timeout=10) == -signal.SIGKILL

        async def gone() -> bool:
            return await listed() is None

        await wait_until(gone, timeout=presence.BEAT_TTL_MS / 1000 + 2, what="the killed worker gone")
    assert found.queues == [queue]


async def test_a_job_running_without_a_heartbeat_counts_as_queued(define: Define, queue: str, redis: Redis) -> None:
    """arq's own worker sends no beats: its locked jobs are counted as queued, and `show` says the start is unknown."""
    handle = await define(_ok).trigger({"n": 1})
    await redis.set(keys.lock(handle.id), "1", px=30_000)  # arq's lock

    counts = await admin.counts(queue)
    info = await admin.get_job(handle.id)

    assert (counts.queued, counts.running) == (1, 0)
    assert info is not None and info.status is JobStatus.RUNNING and info.started_ms is None


async def test_counts_cost_no_walk_of_the_queue(define: Define, queue: str, redis: Redis) -> None:
    """100,000 queued jobs are counted as fast as one: a handful of O(log N) commands."""
    define(_ok)
    now = now_ms()
    async with redis.pipeline(transaction=False) as pipe:
        for first in range(0, 100_000, 10_000):
            pipe.zadd(keys.queue(queue), {f"j{n}": now - 1000 for n in range(first, first + 10_000)})
        await pipe.execute()
    await redis.zadd(keys.queue(queue), {"later": now + 60_000})
    try:
        await admin.counts(queue)  # warm: the connection and the heartbeat read
        started = asyncio.get_running_loop().time()
        counts = await admin.counts(queue)
        elapsed = asyncio.get_running_loop().time() - started
    finally:
        await redis.delete(keys.queue(queue))
    assert (counts.queued, counts.scheduled, counts.running) == (100_000, 1, 0)
    assert elapsed < 0.05, f"counting took {elapsed * 1000:.1f} ms"


async def test_throughput_counts_completions_and_failures_per_minute(define: Define, queue: str) -> None:
    """The heartbeat flushes the worker's in-memory counts; the current minute holds this burst's outcomes."""

    async def fail(payload: Item) -> None:
        raise RuntimeError("no")

    ok, bad = define(_ok), define(fail, attempts=1)
    await ok.trigger_many([{"n": n} for n in range(5)])
    await bad.trigger_many([{"n": n} for n in range(2)])
    await run_burst([queue])

    minutes = await admin.throughput(queue, minutes=5)

    assert len(minutes) == 5 and minutes[-1].start_ms == now_ms() // MINUTE_MS * MINUTE_MS
    assert (sum(m.completed for m in minutes), sum(m.failed for m in minutes)) == (5, 2)
    with pytest.raises(ValueError, match="minutes must be from 1 to 120"):
        await admin.throughput(queue, minutes=0)


async def test_every_attempt_of_a_retried_job_is_listed_with_its_outcome(
    define: Define, queue: str, redis: Redis
) -> None:
    """Two failed attempts logged by the worker, then the final one from the record; a manual retry starts afresh."""

    async def flaky(payload: Item) -> str:
        attempt = await redis.incr(f"{queue}:tries")
        if attempt < 3:
            raise ConnectionError(f"upstream down ({attempt})")
        return "done"

    job = define(flaky, attempts=3, backoff=Backoff.fixed(delay_ms=10))
    handle = await job.trigger({"n": 1})
    await run_burst([queue])

    attempts = await admin.attempts(handle.id)

    assert [(a.number, a.outcome, a.error_type) for a in attempts] == [
        (1, "retried", "ConnectionError"),
        (2, "retried", "ConnectionError"),
        (3, "completed", None),
    ]
    assert attempts[0].error_message == "upstream down (1)"
    assert all(a.started_ms and a.finished_ms and a.started_ms <= a.finished_ms for a in attempts)
    assert attempts[0].finished_ms <= attempts[1].started_ms  # type: ignore[operator]
    assert await redis.ttl(keys.attempts(handle.id)) > 6 * 86400
    await redis.delete(f"{queue}:tries")


async def test_a_charged_attempt_with_no_stored_outcome_shows_as_unknown(
    define: Define, queue: str, redis: Redis
) -> None:
    """A killed worker's attempt (counted, never stored) is a gap in the history: listed as unknown."""
    job = define(_ok)
    handle = await job.trigger({"n": 1})
    await redis.set(keys.tries(handle.id), 1)  # as if a worker claimed it, then died before storing anything
    await run_burst([queue])

    attempts = await admin.attempts(handle.id)

    assert [(a.number, a.outcome) for a in attempts] == [(1, "unknown"), (2, "completed")]


async def test_retrying_a_failed_job_by_hand_forgets_its_old_attempts(define: Define, queue: str, redis: Redis) -> None:
    """admin.retry_failed gives fresh attempts: the old history goes with the old record."""

    async def fail(payload: Item) -> None:
        raise RuntimeError("down")

    job = define(fail, attempts=2, backoff=Backoff.fixed(delay_ms=10))
    handle = await job.trigger({"n": 1})
    await run_burst([queue])
    assert [a.outcome for a in await admin.attempts(handle.id)] == ["retried", "failed"]

    await admin.retry_failed(handle.id)

    assert await redis.exists(keys.attempts(handle.id)) == 0
    assert await admin.attempts(handle.id) == []


async def test_a_subprocess_workers_jobs_show_their_start_in_jobs_show(queue: str, redis: Redis) -> None:
    """The heartbeat of `python -m servers.jobs` gives `admin.get_job` a running job's start and worker."""
    flag = f"{queue}:flag"
    with worker_process(process_env(queue)) as process:
        await process.wait_for("worker.ready")
        handle = await remote_job("process.wait", queue).trigger({"flag": flag})

        async def started() -> admin.JobInfo | None:
            info = await admin.get_job(handle.id)
            return info if info is not None and info.started_ms else None

        info = await wait_until(started, what="the running job's start reported")
        await redis.set(flag, "1")
        assert info.worker is not None and info.worker.split(":")[1] == str(process.popen.pid)
        assert await handle.result(timeout=10) == "flag seen"
    await redis.delete(flag)
