"""The worker runs triggered jobs: retries with backoff, timeouts, unrecoverable and bad input."""

from __future__ import annotations

import asyncio
import itertools
import json
import pickle
import time
from typing import Any

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from jobs import Backoff, JobStatus, UnrecoverableError, admin, current_attempt
from jobs.store import keys
from jobs.store.inspection import get_record

from .conftest import Define, StartWorker, run_burst
from .helpers import wait_until


class Greeting(BaseModel):
    name: str


async def test_a_triggered_job_runs_once_with_its_validated_payload(define: Define, start_worker: StartWorker) -> None:
    """The worker hands `run` an instance of the payload type and retains the result."""
    seen: list[Any] = []

    async def greet(payload: Greeting) -> str:
        seen.append(payload)
        return f"hello {payload.name}"

    greet_job = define(greet)
    await start_worker()
    handle = await greet_job.trigger({"name": "Ada"})
    assert await handle.result(timeout=5) == "hello Ada"
    assert seen == [Greeting(name="Ada")]
    record = await get_record(handle.id)
    assert record is not None and record.status is JobStatus.COMPLETED and record.attempts == 1
    assert record.payload == {"name": "Ada"}


async def test_a_failing_job_is_retried_after_exponential_backoff(define: Define, start_worker: StartWorker) -> None:
    """Attempts n and n+1 are `delay_ms * 2**(n-1)` apart; the last failure is final."""
    started: list[float] = []

    async def flaky(payload: Greeting) -> None:
        started.append(time.monotonic())
        raise RuntimeError("upstream down")

    flaky_job = define(flaky, attempts=4, backoff=Backoff.exponential(delay_ms=100))
    await start_worker()
    handle = await flaky_job.trigger({"name": "x"})
    await wait_until(lambda: len(started) == 4, timeout=10, what="4 attempts")
    record = await wait_until(lambda: get_record(handle.id), what="failure record")
    gaps = [b - a for a, b in itertools.pairwise(started)]
    for gap, expected in zip(gaps, (0.1, 0.2, 0.4), strict=True):
        assert expected <= gap < expected + 0.25, gaps
    assert record.status is JobStatus.FAILED and record.attempts == 4
    assert record.error is not None and record.error.type == "RuntimeError"
    assert record.error.message == "upstream down" and "Traceback" in record.error.traceback


async def test_a_job_that_fails_twice_then_succeeds_completes(define: Define, start_worker: StartWorker) -> None:
    """Success on a later attempt is a plain completion; the record says which attempt."""

    async def third_time_lucky(payload: Greeting) -> str:
        attempt = current_attempt()
        assert attempt is not None
        if attempt.number < 3:
            raise ConnectionError("try again")
        return "ok"

    lucky = define(third_time_lucky, backoff=Backoff.fixed(delay_ms=10))
    await start_worker()
    handle = await lucky.trigger({"name": "x"})
    assert await handle.result(timeout=5) == "ok"
    record = await get_record(handle.id)
    assert record is not None and record.attempts == 3


async def test_a_timeout_is_a_failed_attempt_and_is_retried(define: Define, start_worker: StartWorker) -> None:
    """A job over its timeout is cancelled, counted as failed, and run again."""
    attempts: list[int] = []

    async def slow_once(payload: Greeting) -> str:
        attempt = current_attempt()
        assert attempt is not None
        attempts.append(attempt.number)
        if attempt.number == 1:
            await asyncio.sleep(30)
        return "finished"

    slow = define(slow_once, timeout=0.2, backoff=Backoff.fixed(delay_ms=10))
    await start_worker()
    handle = await slow.trigger({"name": "x"})
    assert await handle.result(timeout=5) == "finished"
    assert attempts == [1, 2]


async def test_unrecoverable_error_fails_at_once(define: Define, start_worker: StartWorker) -> None:
    """No further attempts after UnrecoverableError (or a subclass)."""

    class Declined(UnrecoverableError):
        pass

    runs: list[int] = []

    async def charge(payload: Greeting) -> None:
        runs.append(1)
        raise Declined("card declined")

    charge_job = define(charge, attempts=5)
    await start_worker()
    handle = await charge_job.trigger({"name": "x"})
    record = await wait_until(lambda: get_record(handle.id))
    assert record.status is JobStatus.FAILED and record.attempts == 1 and runs == [1]
    assert record.error is not None and record.error.message == "card declined"


async def write_raw_job(redis: Redis, queue: str, job_id: str, data: bytes) -> None:
    await redis.set(keys.job(job_id), data)
    await redis.zadd(keys.queue(queue), {job_id: 0})


@pytest.mark.parametrize(
    ("data", "error_type", "reason"),
    [
        (b"\x00\xffgarbage", "UndecodableJob", "not valid JSON"),
        (b'{"t":null,"f":"x","a":[{"na', "UndecodableJob", "not valid JSON"),
        (pickle.dumps({"f": "x", "a": [1], "k": {}}), "UndecodableJob", "not valid JSON"),
        (b'{"f":"no-such-job","a":[{}],"k":{}}', "UnknownJob", "no job named 'no-such-job'"),
        (b"[1,2,3]", "UndecodableJob", "no job name"),
    ],
    ids=["garbage", "truncated", "pickle", "unknown-name", "not-an-object"],
)
async def test_a_job_that_cannot_be_decoded_is_failed_with_the_reason(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str, data: bytes, error_type: str, reason: str
) -> None:
    """Bad stored data is recorded as failed, never run or unpickled, and the worker keeps going."""

    async def greet(payload: Greeting) -> str:
        return payload.name

    greet_job = define(greet)
    await start_worker()
    job_id = f"bad-{queue}"
    await write_raw_job(redis, queue, job_id, data)
    record = await wait_until(lambda: get_record(job_id), what="failure record")
    assert record.status is JobStatus.FAILED and record.attempts == 1
    assert record.error is not None and record.error.type == error_type and reason in record.error.message
    assert await redis.exists(keys.job(job_id), keys.lock(job_id), keys.tries(job_id)) == 0
    assert await (await greet_job.trigger({"name": "still alive"})).result(timeout=5) == "still alive"


async def test_a_stored_payload_that_no_longer_validates_fails_at_once(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str
) -> None:
    """A payload from an older schema is not retried: it would fail the same way every time."""

    async def greet(payload: Greeting) -> str:
        return payload.name

    greet_job = define(greet, attempts=5)
    job_id = f"old-schema-{queue}"
    stored = json.dumps({"t": None, "q": queue, "f": greet_job.name, "a": [{"nom": "x"}], "k": {}, "et": 0})
    await write_raw_job(redis, queue, job_id, stored.encode())
    await start_worker()
    record = await wait_until(lambda: get_record(job_id))
    assert record.status is JobStatus.FAILED and record.attempts == 1
    assert record.error is not None and record.error.type == "InvalidPayload" and "name" in record.error.message


async def test_concurrency_one_runs_jobs_one_after_another_without_gaps(
    define: Define, start_worker: StartWorker
) -> None:
    """At the default concurrency no two jobs overlap, and the next starts right after the last ends."""
    spans: list[tuple[float, float]] = []

    async def tick(payload: int) -> None:
        start = time.monotonic()
        await asyncio.sleep(0.002)
        spans.append((start, time.monotonic()))

    tick_job = define(tick)
    await tick_job.trigger_many(range(100))
    begin = time.monotonic()
    await start_worker()
    await wait_until(lambda: len(spans) == 100, timeout=10)
    elapsed = time.monotonic() - begin
    spans.sort()
    assert all(prev_end <= start for (_, prev_end), (start, _) in itertools.pairwise(spans))
    assert elapsed < 2.0, f"100 jobs took {elapsed:.2f}s: arq's 0.5 s poll would take 50 s"


async def test_concurrency_is_set_per_queue(define: Define, start_worker: StartWorker, queue: str) -> None:
    """JOBS_QUEUE_CONCURRENCY raises one queue's limit; the others keep the default of 1."""
    running = 0
    peak = 0
    release = asyncio.Event()

    async def hold(payload: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    hold_job = define(hold)
    await hold_job.trigger_many(range(6))
    worker = await start_worker(jobs_queue_concurrency={queue: 4})
    await wait_until(lambda: running == 4, what="4 jobs at once")
    assert worker.runners[0].options.concurrency == 4
    release.set()
    await wait_until(lambda: worker.totals()["completed"] == 6)
    assert peak == 4


async def test_one_worker_runs_every_queue(define: Define, start_worker: StartWorker, queue: str) -> None:
    """Jobs of two queues both run in one process over one connection pool."""

    async def echo(payload: str) -> str:
        return payload

    first = define(echo, queue=f"{queue}-a")
    second = define(echo, queue=f"{queue}-b")
    await start_worker(queues=[first.queue, second.queue])
    handles = [await first.trigger("a"), await second.trigger("b")]
    assert [await h.result(timeout=5) for h in handles] == ["a", "b"]


async def test_an_idle_worker_starts_a_triggered_job_at_once(define: Define, start_worker: StartWorker) -> None:
    """A trigger wakes an idle worker: no poll interval to wait for."""
    started: list[float] = []

    async def note(payload: int) -> None:
        started.append(time.monotonic())

    note_job = define(note)
    await start_worker(jobs_poll_interval=5.0)
    lags = []
    for i in range(5):
        sent = time.monotonic()
        await note_job.trigger(i)
        await wait_until(lambda n=i: len(started) > n)
        lags.append(started[-1] - sent)
    assert max(lags) < 0.25, lags


async def test_a_delayed_job_runs_when_it_is_due(define: Define, start_worker: StartWorker) -> None:
    """The worker sleeps until the next due job, not until the next poll."""
    ran: list[float] = []

    async def note(payload: int) -> None:
        ran.append(time.monotonic())

    note_job = define(note)
    await start_worker(jobs_poll_interval=5.0)
    sent = time.monotonic()
    await note_job.trigger(1, delay=0.3)
    await wait_until(lambda: ran, timeout=3)
    assert 0.28 <= ran[0] - sent < 0.6


async def test_burst_mode_drains_and_returns(define: Define, queue: str) -> None:
    """A burst worker runs everything due, including retries, then stops."""
    count = 0

    async def once_flaky(payload: int) -> None:
        nonlocal count
        count += 1
        attempt = current_attempt()
        if attempt is not None and attempt.number == 1 and payload == 0:
            raise RuntimeError("first try fails")

    flaky_job = define(once_flaky, backoff=Backoff.fixed(delay_ms=50))
    await flaky_job.trigger_many(range(5))
    worker = await run_burst([queue])
    assert worker.totals() == {"completed": 5, "failed": 0, "retried": 1, "released": 0}
    assert count == 6


async def test_absurdly_nested_stored_json_is_failed_not_crashed_on(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str
) -> None:
    """A stored job nested deeper than the JSON parser allows is a failed job, not a dead task."""

    async def greet(payload: Greeting) -> str:
        return payload.name

    define(greet)
    await start_worker()
    job_id = f"nested-{queue}"
    await write_raw_job(redis, queue, job_id, b"[" * 100_000 + b"]" * 100_000)
    record = await wait_until(lambda: get_record(job_id))
    assert record.status is JobStatus.FAILED and record.error is not None
    assert record.error.type == "UndecodableJob"


async def test_a_running_job_keeps_its_lock_past_the_lock_timeout(define: Define, start_worker: StartWorker) -> None:
    """Locks are renewed while a job runs, so a second worker never starts it too."""
    runs: list[int] = []
    gate = asyncio.Event()

    async def long_job(payload: int) -> None:
        runs.append(payload)
        await gate.wait()

    long = define(long_job)
    await start_worker(jobs_lock_timeout=0.3)
    handle = await long.trigger(1)
    await wait_until(lambda: runs)
    await start_worker(jobs_lock_timeout=0.3)
    await asyncio.sleep(1.0)  # three lock lifetimes: the second worker must not take the job
    assert runs == [1]
    gate.set()
    await handle.result(timeout=5)


async def test_a_dead_workers_job_is_taken_again_when_its_lock_expires(
    define: Define, start_worker: StartWorker, redis: Redis
) -> None:
    """A lock left by a killed worker expires within JOBS_LOCK_TIMEOUT; the rerun is attempt 2."""

    async def echo(payload: int) -> int:
        return payload

    echo_job = define(echo)
    handle = await echo_job.trigger(7)
    await redis.set(keys.lock(handle.id), b"1", px=400)  # as a worker that died mid-attempt leaves it
    await redis.set(keys.tries(handle.id), 1)
    began = time.monotonic()
    await start_worker()
    assert await handle.result(timeout=5) == 7
    assert 0.3 < time.monotonic() - began < 2.0
    record = await get_record(handle.id)
    assert record is not None and record.attempts == 2


async def test_a_job_claimed_ahead_behind_a_long_job_is_given_back_to_another_worker(
    define: Define, start_worker: StartWorker
) -> None:
    """Claiming one job ahead speeds up short jobs; behind a long one it must not wait: another worker runs it."""
    gate = asyncio.Event()

    async def step(payload: int) -> int:
        if payload == 1:
            await gate.wait()
        return payload

    stepped = define(step)
    first = await start_worker(concurrency=1, jobs_poll_interval=5)
    held = await stepped.trigger(1)
    await wait_until(lambda: first.runners[0].running, what="the long job running")
    queued = await stepped.trigger(2)  # first claims it ahead, then gives it back
    second = await start_worker(concurrency=1, jobs_poll_interval=5)
    try:
        assert await queued.result(timeout=3) == 2  # long before either worker's 5 s poll
        assert (first.totals()["completed"], second.totals()["completed"]) == (0, 1)
        info = await admin.get_job(held.id)
        assert info is not None and info.status is JobStatus.RUNNING and info.attempts == 1
    finally:
        gate.set()
    assert await held.result(timeout=3) == 1


async def test_a_burst_worker_runs_what_its_jobs_trigger_on_its_other_queues(define: Define, queue: str) -> None:
    """A burst ends only when every queue is empty after all were idle: a job of one queue may
    trigger a job on another queue that was already found empty."""
    audit_queue = f"{queue}-audit"
    audited: list[str] = []

    async def audit(payload: Greeting) -> None:
        audited.append(payload.name)

    audit_job = define(audit, queue=audit_queue)

    async def chain(payload: Greeting) -> None:
        await asyncio.sleep(0.2)  # the audit queue has long found itself empty by now
        await audit_job.trigger({"name": payload.name})

    chain_job = define(chain)
    await chain_job.trigger_many([{"name": "a"}, {"name": "b"}])
    worker = await run_burst([queue, audit_queue])
    assert sorted(audited) == ["a", "b"]
    assert worker.totals()["completed"] == 4
    counts = [await admin.counts(q) for q in (queue, audit_queue)]
    assert all(c.queued == c.scheduled == c.running == 0 for c in counts), counts
