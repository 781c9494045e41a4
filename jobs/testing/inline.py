"""`run_triggered()`: run what the mocked triggers recorded, in the test's own process, through
the worker's own `run_attempt` (validation, timeout, retries, lifecycle logs), with no Redis."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from ..clock import now_ms
from ..definition import Job
from ..handle import JobFailedError, JobHandle
from ..progress import Progress
from ..records import JobRecord, JobStatus
from ..runtime.execution import Attempt, Completed, Failed, Retrying, local_progress, run_attempt
from .mocks import Triggered, current_log


async def run_triggered(*, fail_fast: bool = True, sleep_backoff: bool = False, limit: int = 1000) -> list[JobRecord]:
    """Run every job triggered so far and not run yet, in trigger order, in this process.

    Jobs that those jobs trigger run too, until nothing new is left. Each job goes through the
    worker's own `run_attempt`: the payload is validated as stored (after a JSON round trip),
    the job's timeout applies, a failed attempt is retried up to the job's `attempts`, and the
    usual `job.started/completed/retrying/failed` events are logged. Backoff delays between
    attempts are NOT slept unless `sleep_backoff=True`, and a trigger's `delay` is ignored:
    jobs run at once, in the order they were triggered.

    With `fail_fast` (the default) the first job that fails for good raises `JobFailedError`
    (its `.record` holds the error, `__cause__` the exception the job raised), and the jobs
    after it stay pending. With `fail_fast=False` everything runs and the records of all of
    them, completed and failed, are returned. `limit` stops a job that triggers itself forever.
    """
    __tracebackhide__ = True  # pytest shows the test's line and the job's own error, not ours
    log = current_log()
    records: list[JobRecord] = []
    while (item := log.take()) is not None:
        if len(records) >= limit:
            raise RuntimeError(f"run_triggered ran {limit} jobs and more keep coming; raise limit= if that is intended")
        record, error = await _run(item, sleep_backoff)
        log.records[record.id] = record
        records.append(record)
        if fail_fast and record.status is JobStatus.FAILED:
            raise JobFailedError(record) from error
    return records


async def _run(item: Triggered, sleep_backoff: bool) -> tuple[JobRecord, BaseException | None]:
    """All attempts of one job; the record, and the exception of the last attempt if it failed."""
    raised: list[BaseException] = []

    async def run(payload: Any) -> Any:
        try:
            return await item.job.call(payload)
        except Exception as exc:
            raised.append(exc)
            raise

    watched: Job[Any] = Job(
        config=replace(item.job.config, run=run), payload_type=item.job.payload_type, adapter=item.job.adapter
    )
    started = now_ms()
    number = 1
    while True:
        raised.clear()
        attempt = Attempt(item.handle.id, item.job.name, item.job.queue, number)
        outcome = await run_attempt(watched, item.payload, attempt)
        if not isinstance(outcome, Retrying):
            break
        if sleep_backoff:
            await asyncio.sleep(outcome.delay_ms / 1000)
        number += 1
    record = JobRecord(
        id=item.handle.id,
        job=item.job.name,
        queue=item.job.queue,
        status=JobStatus.COMPLETED if isinstance(outcome, Completed) else JobStatus.FAILED,
        payload=item.payload,
        result=outcome.result if isinstance(outcome, Completed) else None,
        error=outcome.error if isinstance(outcome, Failed) else None,
        attempts=number,
        enqueued_ms=item.enqueued_ms,
        started_ms=started,
        finished_ms=now_ms(),
    )
    return record, (raised[-1] if raised and isinstance(outcome, Failed) else None)


def reported_progress(job: str | JobHandle[Any] = "test") -> Progress | None:
    """The latest progress a job reported where no worker runs it: by `run_triggered()` (pass its
    handle or id), or by a job's function called directly in a test (the default, `test`)."""
    return local_progress.latest.get(job if isinstance(job, str) else job.id)
