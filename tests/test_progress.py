"""Progress: a running job's latest report, coalesced to a few writes a second, shown by the handle
and `jobs show`; validated; kept in memory where no worker runs the job."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from jobs import InvalidProgressError, JobCancelledError, JobStatus, NoAttemptError, admin, current_attempt
from jobs.runtime import execution
from jobs.store import keys
from jobs.testing import mock_triggers, reported_progress, run_triggered

from .cli_runner import Cli
from .conftest import Define, StartWorker
from .helpers import wait_until


async def test_many_reports_become_a_few_writes_with_the_latest_value_shown(
    define: Define, start_worker: StartWorker, redis: Redis, queue: str
) -> None:
    """200 reports over about half a second: at most a handful of round trips, the last value
    wins, `handle.progress()` and `jobs show`'s data carry it, and it goes when the job ends."""
    release = asyncio.Event()

    async def busy(payload: int) -> str:
        for n in range(1, 201):
            await current_attempt().report_progress(n / 200 * 0.4, message=f"{n} of 500 files")
            await asyncio.sleep(0.0025)
        await release.wait()
        return "done"

    handle = await define(busy).trigger(1)
    worker = await start_worker()
    (runner,) = worker.runners

    async def settled() -> bool:
        progress = await handle.progress()
        return progress is not None and progress.message == "200 of 500 files"

    await wait_until(settled, what="the last report stored")
    progress = await handle.progress()
    assert progress is not None and progress.fraction == pytest.approx(0.4)
    assert runner.progress_writer.flushes <= 6, runner.progress_writer.flushes  # 200 reports, coalesced
    info = await admin.get_job(handle.id)
    assert info is not None and info.status is JobStatus.RUNNING
    assert info.progress is not None and info.progress["message"] == "200 of 500 files"
    release.set()
    assert await handle.result(timeout=5) == "done"
    await wait_until(lambda: _gone(redis, handle.id), what="the ended job's progress dropped")
    assert await handle.progress() is None


async def _gone(redis: Redis, job_id: str) -> bool:
    return not await redis.exists(keys.progress(job_id))


async def test_jobs_show_prints_a_running_jobs_progress(
    define: Define, start_worker: StartWorker, cli: Cli, queue: str
) -> None:
    """`jobs show ID` has a progress line: the percentage and the message."""
    release = asyncio.Event()

    async def files(payload: int) -> None:
        await current_attempt().report_progress(0.4, message="3 of 7 files")
        await release.wait()

    handle = await define(files).trigger(1)
    await start_worker()
    await wait_until(handle.progress, what="progress stored")
    shown = await cli("show", handle.id)
    release.set()
    assert shown.code == 0, shown.err
    assert "progress: 40% (3 of 7 files)" in shown.out


async def test_a_fraction_outside_0_to_1_is_a_clear_error() -> None:
    """Nothing is recorded for a bad report; the message says what is allowed."""
    with mock_triggers():  # what the pytest plugin wraps every test in: a stand-in attempt
        attempt = current_attempt()
    for bad in (1.5, -0.1, float("nan"), True, "half"):
        with pytest.raises(InvalidProgressError, match="from 0 to 1"):
            await attempt.report_progress(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidProgressError, match="must be text"):
        await attempt.report_progress(0.5, message=3)  # type: ignore[arg-type]


async def test_a_job_function_called_directly_in_a_test_reports_progress_in_memory() -> None:
    """Under the pytest plugin `config.run` works without Redis: the latest report is kept in memory."""

    async def step(payload: int) -> int:
        await current_attempt().report_progress(0.5, message="half")
        return payload

    with mock_triggers():  # what the pytest plugin wraps every test in
        assert await step(2) == 2
    latest = execution.local_progress.latest["test"]
    assert (latest.fraction, latest.message) == (0.5, "half")


def test_outside_any_job_current_attempt_raises_a_clear_error() -> None:
    """Without a job (nor the test plugin's stand-in), `current_attempt()` says where it works."""
    saved = list(execution.standalone)
    execution.standalone.clear()
    try:
        with pytest.raises(NoAttemptError, match="only available inside a job"):
            current_attempt()
    finally:
        execution.standalone.extend(saved)


async def test_mocked_triggers_cancel_in_the_trigger_log_and_keep_progress_in_memory(define: Define) -> None:
    """Under `mock_triggers()`: a cancelled job is skipped by `run_triggered()` and reads as
    cancelled; the one that ran reported progress, kept in memory, and cannot be cancelled any more."""

    async def steps(payload: int) -> int:
        await current_attempt().report_progress(0.5, message="half")
        return payload

    job = define(steps)
    with mock_triggers():
        kept, dropped = await job.trigger(1), await job.trigger(2)
        assert (await dropped.cancel()).outcome == "cancelled"
        records = await run_triggered()
        assert [r.id for r in records] == [kept.id]
        assert await dropped.status() is JobStatus.CANCELLED
        with pytest.raises(JobCancelledError):
            await dropped.result()
        assert (await kept.cancel()).outcome == "finished"
        assert await kept.result() == 1
        progress = await kept.progress()
        assert progress is not None and progress.message == "half"
        assert reported_progress(kept) == progress
