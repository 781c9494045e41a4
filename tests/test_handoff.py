"""A trigger hands a due job straight to an idle worker, and nothing is lost when that fails."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from jobs import Job, admin, current_attempt
from jobs.runtime.queue_runner import QueueOptions, QueueRunner
from jobs.store import keys
from jobs.store.connection import connect
from jobs.store.inspection import get_record
from jobs.worker import Worker

from .conftest import REDIS_URL, Define, StartWorker, run_burst, worker_settings
from .helpers import wait_until


@pytest.fixture
def work_job(define: Define) -> Job[Any]:
    async def work(payload: dict[str, Any]) -> None:
        return None

    return define(work)


async def _registered(redis: Redis, queue: str) -> list[bytes]:
    return await redis.zrange(keys.idle_workers(queue), 0, -1)


@contextlib.asynccontextmanager
async def _idle_worker_listening(redis: Redis, queue: str) -> AsyncIterator[bytes]:
    """A registration as an idle worker of `queue` whose channel has a subscriber; yields it."""
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.handoff_channel("listening"))
    await redis.zadd(keys.idle_workers(queue), {"60000 listening": 2**50})
    try:
        yield b"60000 listening"
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]


async def test_an_idle_worker_is_handed_the_job_by_the_trigger(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []

    async def work(payload: dict[str, Any]) -> None:
        attempt = current_attempt()
        assert attempt is not None
        attempts.append(attempt.number)

    work_job = define(work)
    handed: list[bytes] = []
    take = QueueRunner.take_handoff
    monkeypatch.setattr(QueueRunner, "take_handoff", lambda self, msg: (handed.append(msg), take(self, msg)))
    await start_worker()
    await wait_until(lambda: _registered(redis, queue), what="the idle worker registered")

    handle = await work_job.trigger({})
    await handle.result(timeout=5)
    assert attempts == [1]
    assert len(handed) == 1 and handle.id.encode() in handed[0]
    assert await redis.exists(keys.lock(handle.id), keys.tries(handle.id)) == 0
    await wait_until(lambda: _registered(redis, queue), what="registered as idle again")


async def test_a_hand_off_nobody_receives_is_undone_and_the_job_stays_queued(
    work_job: Job[Any], redis: Redis, queue: str
) -> None:
    # a worker killed while idle: still registered, but nobody listens on its channel
    await redis.zadd(keys.idle_workers(queue), {"60000 gone": 2**50})
    handle = await work_job.trigger({})
    assert await _registered(redis, queue) == []
    assert await redis.exists(keys.lock(handle.id), keys.tries(handle.id)) == 0
    assert await redis.zscore(keys.queue(queue), handle.id) is not None
    await run_burst([queue])
    record = await get_record(handle.id)
    assert record is not None and record.status.value == "completed" and record.attempts == 1


async def test_a_paused_queue_hands_nothing_off(work_job: Job[Any], redis: Redis, queue: str) -> None:
    await admin.pause(queue)
    try:
        async with _idle_worker_listening(redis, queue) as registration:
            handle = await work_job.trigger({})
            assert await redis.exists(keys.lock(handle.id)) == 0
            assert await _registered(redis, queue) == [registration]
    finally:
        await admin.resume(queue)


async def test_a_delayed_job_is_not_handed_off(work_job: Job[Any], redis: Redis, queue: str) -> None:
    async with _idle_worker_listening(redis, queue) as registration:
        handle = await work_job.trigger({}, delay=60)
        assert await redis.exists(keys.lock(handle.id)) == 0
        assert await _registered(redis, queue) == [registration]


async def test_a_stopped_worker_is_no_longer_registered(work_job: Job[Any], redis: Redis, queue: str) -> None:
    worker = Worker(queues=[queue], settings=worker_settings(), handle_signals=False)
    running = asyncio.create_task(worker.run())
    await wait_until(lambda: _registered(redis, queue), what="the idle worker registered")
    worker.request_stop()
    await asyncio.wait_for(running, 10)
    assert await _registered(redis, queue) == []


async def test_a_job_handed_off_as_the_runner_closes_is_given_back_uncharged(
    work_job: Job[Any], redis: Redis, queue: str
) -> None:
    options = QueueOptions(concurrency=1, keep_completed=10, keep_failed=10, poll_interval=1.0, burst=False)
    conn = connect(REDIS_URL)
    runner = QueueRunner(queue, {work_job.name: work_job}, conn, options)
    # what ENQUEUE does for a runner registered as idle; its message arrives too late to be run
    runner._handoffs_possible = True
    await _lock_as_handed_off(redis, f"{queue}-late", runner.handoff_channel.removeprefix(keys.HANDOFF_CHANNEL_PREFIX))
    handle = await work_job.trigger({}, job_id=f"{queue}-late")
    await runner.close()
    await conn.aclose()
    assert await redis.exists(keys.lock(handle.id), keys.tries(handle.id)) == 0
    await run_burst([queue])
    record = await get_record(handle.id)
    assert record is not None and record.attempts == 1


async def test_a_hand_off_lost_with_the_connection_is_recovered_when_the_worker_resubscribes(
    work_job: Job[Any], start_worker: StartWorker, redis: Redis, queue: str
) -> None:
    worker = await start_worker(jobs_lock_timeout=60.0)
    (member,) = await wait_until(lambda: _registered(redis, queue), what="the idle worker registered")
    # handed to this worker, and the message lost as its connection broke
    await _lock_as_handed_off(redis, f"{queue}-lost", member.decode().split(" ", 1)[1])
    handle = await work_job.trigger({}, job_id=f"{queue}-lost", delay=0.001)
    await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    record = await wait_until(lambda: get_record(handle.id), timeout=10, what="the lost hand-off recovered")
    assert record.status.value == "completed" and record.attempts == 1
    assert worker.runners[0].listening


async def _lock_as_handed_off(redis: Redis, job_id: str, token: str) -> None:
    await redis.set(keys.lock(job_id), token + "+", px=60_000)
    await redis.incr(keys.tries(job_id))
