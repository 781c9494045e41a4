"""Graceful shutdown of `python -m servers.jobs`: SIGTERM/SIGINT let running jobs finish in time,
give back the ones that do not without charging them an attempt, and a second signal skips the wait."""

from __future__ import annotations

import signal
import time

import pytest
from redis.asyncio import Redis

from jobs import JobStatus
from jobs.store import keys

from .processes import WORKER, WorkerProcess, process_env, remote_job, worker_process

GRACEFUL = pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])


async def _assert_released(redis: Redis, queue: str, job_id: str, worker: WorkerProcess) -> None:
    assert await redis.zscore(keys.queue(queue), job_id) is not None, "the job is back in its queue"
    assert not await redis.exists(keys.lock(job_id)), "its lock is gone"
    assert int(await redis.get(keys.tries(job_id)) or 0) == 0, "the interrupted attempt is not counted"
    released = [(e["job"], e["job_id"], e["queue"], e["attempt"]) for e in worker.named("job.released")]
    assert released == [("process.wait", job_id, queue, 1)]
    assert worker.named("worker.stopped")[-1]["released"] == 1


@GRACEFUL
async def test_a_job_running_at_the_signal_finishes_and_the_worker_exits_0(
    sig: signal.Signals, queue: str, redis: Redis
) -> None:
    """After the signal the worker claims nothing new, lets the running job complete, logs stopping/stopped."""
    flag = f"{queue}:flag"
    handle = await remote_job("process.wait", queue).trigger({"flag": flag})
    later = await remote_job("process.echo", queue).trigger({"text": "never started"})
    with worker_process(process_env(queue, JOBS_SHUTDOWN_TIMEOUT="10", LOG_LEVEL="DEBUG")) as worker:
        await worker.wait_for("worker.ready")
        await worker.wait_for("job.started", job_id=handle.id)
        worker.send(sig)
        await worker.wait_for("worker.stopping", running=1)
        await redis.set(flag, "1", ex=60)
        assert await worker.exit_code(timeout=10) == 0
    events = [e["event"] for e in worker.events() if e["event"].startswith(("worker.", "job."))]
    events.remove("job.given_back")  # (debug) the job claimed ahead behind it, given back unstarted
    assert events == ["worker.ready", "job.started", "worker.stopping", "job.completed", "worker.stopped"]
    record = await handle.record()
    assert record is not None and record.status is JobStatus.COMPLETED and record.result == "flag seen"
    assert await later.status() is JobStatus.QUEUED, "no job is claimed once stopping"
    assert "Traceback" not in worker.output


@pytest.mark.slow
@GRACEFUL
async def test_a_job_outlasting_the_shutdown_timeout_is_released_uncharged_and_runs_again(
    sig: signal.Signals, queue: str, redis: Redis
) -> None:
    """At the timeout the job is interrupted, put back in its queue unlocked with its attempt uncounted,
    and the next worker runs it as attempt 1."""
    flag = f"{queue}:flag"
    handle = await remote_job("process.wait", queue).trigger({"flag": flag, "seconds": 30})
    with worker_process(process_env(queue, JOBS_SHUTDOWN_TIMEOUT="0.5", LOG_LEVEL="DEBUG")) as worker:
        await worker.wait_for("job.started", job_id=handle.id)
        worker.send(sig)
        signalled = time.monotonic()
        assert await worker.exit_code(timeout=10) == 0
        took = time.monotonic() - signalled
    assert 0.4 <= took < 4.0, f"exit {took:.2f}s after the signal with a 0.5 s shutdown timeout"
    await _assert_released(redis, queue, handle.id, worker)
    assert await handle.status() is JobStatus.QUEUED

    await redis.set(flag, "1", ex=60)
    with worker_process(process_env(queue, LOG_LEVEL="DEBUG"), [*WORKER, "--burst"]) as again:
        assert await again.exit_code(timeout=15) == 0
    assert again.named("job.started")[0]["attempt"] == 1
    record = await handle.record()
    assert record is not None and record.status is JobStatus.COMPLETED and record.attempts == 1


@pytest.mark.slow
@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_second_signal_stops_at_once_and_releases_the_running_job(
    second: signal.Signals, queue: str, redis: Redis
) -> None:
    """With a long shutdown timeout, a second signal interrupts the running job and exits 0 quickly."""
    handle = await remote_job("process.wait", queue).trigger({"seconds": 30})
    with worker_process(process_env(queue, JOBS_SHUTDOWN_TIMEOUT="60", LOG_LEVEL="DEBUG")) as worker:
        await worker.wait_for("job.started", job_id=handle.id)
        worker.send(signal.SIGTERM)
        await worker.wait_for("worker.stopping")
        worker.send(second)
        signalled = time.monotonic()
        assert await worker.exit_code(timeout=10) == 0
        took = time.monotonic() - signalled
    assert took < 3.0, f"exit {took:.2f}s after the second signal"
    assert worker.named("worker.force_stop")
    await _assert_released(redis, queue, handle.id, worker)
