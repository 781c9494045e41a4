"""Cancelling jobs: a queued one never starts, a running one stops in its worker (another process)
within 200 ms with its finally blocks run, and is retained as cancelled, not retried."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from redis.asyncio import Redis

from jobs import JobCancelledError, JobStatus, admin
from jobs.settings import get_settings
from jobs.store import connection, keys, scripts

from .cancel_jobs import marker
from .cli_runner import Cli
from .conftest import Define, StartWorker
from .helpers import wait_until
from .processes import process_env, remote_job, worker_process

CANCEL_ENV = {"JOBS_MODULES": "tests.cancel_jobs"}


async def test_a_running_job_cancelled_from_another_process_stops_within_200ms(redis: Redis, queue: str) -> None:
    """Its task gets CancelledError: its finally and async context manager run, it is retained as
    cancelled (not retried though it has attempts left), and the worker goes on to the next job."""
    long, quick = remote_job("cancel.long", queue), remote_job("cancel.quick", queue)
    with worker_process(process_env(queue, **CANCEL_ENV)) as worker:
        handle = await long.trigger({"seconds": 60})
        await wait_until(lambda: redis.exists(marker(handle.id, "started")), timeout=15, what="the job started")
        assert await handle.status() is JobStatus.RUNNING
        asked = time.time()
        result = await admin.cancel(handle.id)
        assert (result.outcome, result.status, result.changed) == ("cancelling", JobStatus.RUNNING, True)
        stopped = await wait_until(lambda: redis.get(marker(handle.id, "finally")), timeout=5, what="finally ran")
        assert float(stopped) - asked < 0.2, f"stopped {float(stopped) - asked:.3f} s after the cancel"
        assert await redis.get(marker(handle.id, "exited")) == b"1"  # its async context manager exited
        await wait_until(lambda: handle.record(), what="the cancelled record")
        record = await handle.record()
        assert record is not None and record.status is JobStatus.CANCELLED and record.attempts == 1
        assert record.error is not None and record.error.type == "Cancelled"
        with pytest.raises(JobCancelledError):
            await handle.result(timeout=1)
        event = await worker.wait_for("job.cancelled", job_id=handle.id)
        assert event["attempt"] == 1
        after = await quick.trigger({})
        assert await after.result(timeout=10) == "quick"  # the worker keeps running
        assert await redis.get(marker(handle.id, "started")) == b"1"  # never retried
        assert not worker.named("job.retrying")
        assert await redis.zcard(keys.queue(queue)) == 0


async def test_a_queued_job_is_removed_at_once_and_never_starts(redis: Redis, queue: str) -> None:
    """Cancelled before any worker runs, the job is retained as cancelled in the same script;
    a worker started afterwards runs the job queued after it, never the cancelled one."""
    long, quick = remote_job("cancel.long", queue), remote_job("cancel.quick", queue)
    cancelled = await long.trigger({"seconds": 0})
    scheduled = await long.trigger({"seconds": 0}, delay=60)
    for handle, was in ((cancelled, JobStatus.QUEUED), (scheduled, JobStatus.SCHEDULED)):
        assert await handle.status() is was
        result = await handle.cancel()
        assert (result.outcome, result.changed) == ("cancelled", True)
        assert await handle.status() is JobStatus.CANCELLED
    assert await redis.zcard(keys.queue(queue)) == 0
    assert not await redis.exists(keys.job(cancelled.id))
    after = await quick.trigger({})
    with worker_process(process_env(queue, **CANCEL_ENV)):
        assert await after.result(timeout=15) == "quick"
    assert not await redis.exists(marker(cancelled.id, "started"))
    records = await admin.latest(JobStatus.CANCELLED, queue)
    assert {r.id for r in records} == {cancelled.id, scheduled.id}
    assert (await admin.counts(queue)).cancelled == 2


async def test_a_job_claimed_by_a_worker_that_died_is_not_run_by_the_one_that_takes_it_over(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str
) -> None:
    """The cancel marks the stored job while a (dead) worker holds it: whoever starts it next reads
    the mark with the job and retains it as cancelled instead of running it."""
    ran: list[int] = []

    async def work(payload: int) -> None:
        ran.append(payload)

    job = define(work)
    handle = await job.trigger(1)
    await redis.set(keys.lock(handle.id), "dead-worker", px=300)  # claimed by a worker that died
    result = await handle.cancel()
    assert result.outcome == "cancelling"
    await start_worker()
    await wait_until(handle.record, what="the cancelled record")
    record = await handle.record()
    assert record is not None and record.status is JobStatus.CANCELLED and record.attempts == 0
    assert ran == []


async def test_cancelling_a_finished_job_changes_nothing_and_says_so(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str
) -> None:
    """A completed job stays completed; an unknown id is not found."""

    async def done(payload: int) -> int:
        return payload

    handle = await define(done).trigger(3)
    await start_worker()
    assert await handle.result(timeout=5) == 3
    before = await redis.get(keys.record(handle.id))
    result = await admin.cancel(handle.id)
    assert (result.outcome, result.status, result.changed) == ("finished", JobStatus.COMPLETED, False)
    assert "completed already" in result.message
    assert await redis.get(keys.record(handle.id)) == before
    assert (await admin.cancel("no-such-job")).outcome == "not_found"


async def test_cancelled_jobs_are_kept_up_to_jobs_keep_cancelled(
    define: Define, monkeypatch: pytest.MonkeyPatch, redis: Redis, queue: str
) -> None:
    """The oldest cancelled records beyond the limit go, as failed ones do beyond theirs."""
    monkeypatch.setenv("JOBS_KEEP_CANCELLED", "3")
    get_settings.cache_clear()

    async def work(payload: int) -> None: ...

    job = define(work)
    handles = [await job.trigger(n) for n in range(5)]
    for handle in handles:
        assert (await handle.cancel()).outcome == "cancelled"
    kept = await admin.latest(JobStatus.CANCELLED, queue)
    assert [r.id for r in kept] == [h.id for h in reversed(handles[2:])]
    assert await redis.zcard(keys.finished(queue, "cancelled")) == 3
    assert not await redis.exists(keys.record(handles[0].id))


def test_jobs_keep_cancelled_must_be_a_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """A negative or non-numeric value names the variable."""
    from jobs.settings import SettingsError, load_settings

    monkeypatch.setenv("JOBS_KEEP_CANCELLED", "-1")
    with pytest.raises(SettingsError, match="JOBS_KEEP_CANCELLED"):
        load_settings()


async def test_the_cli_cancels_lists_and_refuses_a_finished_job(cli: Cli, queue: str) -> None:
    """`jobs cancel ID` exits 0 for a queued job, 1 for a finished or unknown one; `jobs cancelled` lists it."""
    triggered = await cli("trigger", "cli-double", '{"n": 2}', "--json")
    job_id: Any = triggered.json()
    job_id = job_id["id"]
    done = await cli("cancel", job_id)
    assert done.code == 0 and "cancelled" in done.out, done
    again = await cli("cancel", job_id, "--json")
    assert again.code == 1 and "cancelled already" in again.err, again
    assert (await cli("cancel", "no-such-job")).code == 1
    listed = await cli("cancelled", "--queue", queue)
    assert listed.code == 0 and job_id in listed.out and "Cancelled" in listed.out, listed
    stats = await cli("stats", "--queue", queue)
    assert "CANCELLED" in stats.out
    shown = await cli("show", job_id)
    assert "status:   cancelled" in shown.out or "cancelled" in shown.out


async def test_a_cancel_right_after_a_hand_off_never_lets_the_job_complete(
    define: Define, start_worker: StartWorker, queue: str
) -> None:
    """Triggered to an idle worker (handed off) and cancelled at once, over and over: the cancel
    lands before the attempt starts or while it runs, and every job ends cancelled, none stuck."""
    completed: list[int] = []

    async def short(payload: int) -> None:
        await asyncio.sleep(0.3)
        completed.append(payload)

    job = define(short, attempts=3)
    worker = await start_worker()
    (runner,) = worker.runners
    handles = []
    for n in range(10):
        await wait_until(lambda: not runner.running, what="the worker idle again")
        handle = await job.trigger(n)
        assert (await handle.cancel()).changed
        handles.append(handle)
        await wait_until(lambda h=handle: _status_is(h, JobStatus.CANCELLED), what=f"job {n} cancelled")
    assert completed == []
    assert not runner.cancels.stopping  # nothing left behind


async def test_a_worker_that_missed_the_message_reads_the_marks_when_it_subscribes_again(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str
) -> None:
    """The cancel published where no worker listened (its subscription was down): once subscribed
    again, the worker reads its running jobs' marks and stops the marked one."""
    started = asyncio.Event()

    async def waits(payload: int) -> None:
        started.set()
        await asyncio.sleep(60)

    job = define(waits, attempts=3)
    worker = await start_worker()
    (runner,) = worker.runners
    handle = await job.trigger(1)
    await started.wait()
    conn = await connection.for_current_loop()
    done = await conn.run(
        scripts.CANCEL,
        [keys.queue(queue), keys.finished(queue, "cancelled")],
        [handle.id, b"", b"", 10, "nobody-listens-here", b"cancel:" + handle.id.encode()],
    )
    assert done == 2 and (await redis.get(keys.job(handle.id))).startswith(b'{"cancel":1,')
    assert await handle.status() is JobStatus.RUNNING
    runner.listener_subscribed(again=True)
    await wait_until(lambda: _status_is(handle, JobStatus.CANCELLED), what="cancelled after resubscribing")


async def _status_is(handle: Any, status: JobStatus) -> bool:
    return bool(await handle.status() is status)


async def test_removing_a_cancelled_job_takes_it_off_the_cancelled_list(
    define: Define, redis: Redis, queue: str
) -> None:
    """`jobs remove` of a cancelled record deletes it and its place among the queue's cancelled jobs."""

    async def work(payload: int) -> None: ...

    handle = await define(work).trigger(1)
    assert (await handle.cancel()).outcome == "cancelled"
    removed = await admin.remove(handle.id)
    assert removed.status is JobStatus.CANCELLED
    assert await redis.zcard(keys.finished(queue, "cancelled")) == 0
    assert await handle.status() is JobStatus.NOT_FOUND
