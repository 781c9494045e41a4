"""Jobs that hold the event loop (blocking code) or ignore their cancellation: the worker says which
job blocked it and for how long, and an attempt that outlived its timeout is a timed-out attempt."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs import Backoff, JobFailedError, JobStatus

from .conftest import Define, StartWorker
from .fault_support import eventually, fault_env, report, triggering_into
from .processes import remote_job, worker_process
from .redis_server import RedisServer, redis_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as running:
        yield running


@pytest.mark.slow
async def test_a_job_blocking_the_loop_is_named_while_it_blocks_and_fails_by_timeout(
    server: RedisServer, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """time.sleep(1.2) in a job with a 1 s timeout: worker.loop_blocked names it once per episode,
    worker.loop_unblocked gives the total, and each attempt is a TimeoutError, not completed."""
    async with triggering_into(server, monkeypatch):
        with worker_process(fault_env(queue, server.admin_url, JOBS_LOOP_BLOCKED_MS="300")) as worker:
            handle = await remote_job("fault.blocks", queue).trigger({"ms": 1200})
            record = await eventually(handle.record, timeout=15, what="the failure record")
            blocked, unblocked = worker.named("worker.loop_blocked"), worker.named("worker.loop_unblocked")
    report("blocked-loop", episodes=len(blocked), blocked_ms=[e["blocked_ms"] for e in unblocked])
    assert record.status is JobStatus.FAILED and record.attempts == 2
    assert record.error is not None and record.error.type == "TimeoutError"
    assert "blocked the event loop or ignored its cancellation" in record.error.message
    assert [e["event"] for e in worker.events() if e.get("event", "").startswith("job.")] == [
        "job.started",
        "job.retrying",
        "job.started",
        "job.failed",
    ]
    ours = [e for e in blocked if e.get("job_id") == handle.id]
    assert len(ours) == 2 and all(e["queue"] == queue and handle.id in e["running"] for e in ours), blocked
    assert all(300 <= e["blocked_ms"] < 1200 for e in ours)
    assert len([e for e in unblocked if e["blocked_ms"] >= 1000]) == 2, unblocked


@pytest.mark.parametrize("how", ["blocks", "ignores-cancellation"])
async def test_an_attempt_that_outlives_its_timeout_is_a_timed_out_attempt_and_is_retried(
    define: Define, start_worker: StartWorker, how: str
) -> None:
    """The timeout cannot cancel blocking code, nor a job that swallows CancelledError: once it
    returns late it counts as timed out (retried per its attempts), never completed."""
    runs: list[int] = []

    async def late(payload: int) -> str:
        runs.append(payload)
        if how == "blocks":
            time.sleep(0.4)  # noqa: ASYNC251 - the blocking code under test
        else:
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                await asyncio.sleep(0.2)  # swallows the cancellation and carries on
        return "finished late"

    late_job = define(late, timeout=0.1, attempts=2, backoff=Backoff.fixed(delay_ms=0))
    await start_worker()
    handle = await late_job.trigger(1)
    with pytest.raises(JobFailedError) as failed:
        await handle.result(timeout=10)
    record = failed.value.record
    assert (record.attempts, runs) == (2, [1, 1])
    assert record.error is not None and record.error.type == "TimeoutError"
    assert "within its timeout of 0.1 s" in record.error.message
