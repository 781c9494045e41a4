"""Testing support: triggers that record instead of enqueueing, and running what they recorded.

The pytest plugin (`jobs.pytest_plugin`) wraps every test in `mock_triggers()`, the way
`structlog.testing.capture_logs()` swaps in a recorder and puts back exactly what was there.
`run_triggered()` then runs the recorded jobs in this process through the worker's own
`run_attempt` (validation, timeout, retries, lifecycle logs), with no Redis and no worker;
`BurstWorker` runs a real worker against Redis for integration tests.
"""

from __future__ import annotations

import asyncio
import types
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from unittest.mock import AsyncMock

from .. import registry
from ..clock import now_ms, to_ms
from ..definition import Delay, Job
from ..handle import JobFailedError, JobHandle
from ..records import JobRecord, JobStatus
from ..runtime.execution import Attempt, Completed, Failed, Retrying, run_attempt
from ..runtime.worker import Worker
from ..settings import load_settings
from ..store import stored
from ..store.enqueue import check_job_id

__all__ = [
    "BurstWorker",
    "MockedJobHandle",
    "NotRunError",
    "TriggerLog",
    "Triggered",
    "mock_triggers",
    "mocked",
    "run_triggered",
    "triggered",
]

_MISSING: Any = object()
_PATCHED = ("trigger", "trigger_many")


@dataclass(frozen=True, slots=True)
class Triggered:
    """One job a mocked trigger accepted; `payload` is what a worker would receive (JSON data)."""

    job: Job[Any]
    handle: JobHandle
    payload: Any
    delay_ms: int
    enqueued_ms: int


class NotRunError(LookupError):
    """The result of a job a mocked trigger recorded, asked before `run_triggered()` ran it."""


@dataclass(frozen=True, slots=True)
class MockedJobHandle(JobHandle):
    """What a mocked trigger returns: a `JobHandle` that answers from the test's trigger log,
    never from Redis (a mocked job is not in Redis, and the test may have none)."""

    trigger_log: TriggerLog | None = field(default=None, repr=False, compare=False)

    async def status(self) -> JobStatus:
        """QUEUED (SCHEDULED with a delay) until `run_triggered()` runs it, then its outcome."""
        record = self._log().records.get(self.id)
        if record is not None:
            return record.status
        item = self._log().find(self.id)
        if item is None:
            return JobStatus.NOT_FOUND
        return JobStatus.SCHEDULED if item.delay_ms > 0 else JobStatus.QUEUED

    async def record(self) -> JobRecord | None:
        return self._log().records.get(self.id)

    async def result(self, timeout: float | None = None, *, poll_interval: float = 0.05) -> Any:
        """The result once `run_triggered()` ran the job (`JobFailedError` if it failed); before
        that `NotRunError` at once: nothing else will run a mocked job, so waiting cannot help."""
        record = self._log().records.get(self.id)
        if record is None:
            raise NotRunError(
                f"job {self.job} {self.id} came from a mocked trigger and has not run: "
                "call `await jobs.testing.run_triggered()` first, or use the jobs_worker fixture for a real worker"
            )
        if record.status is JobStatus.FAILED:
            raise JobFailedError(record)
        return record.result

    def _log(self) -> TriggerLog:
        assert self.trigger_log is not None, "a MockedJobHandle is made by a mocked trigger"
        return self.trigger_log


class TriggerLog:
    """Every job the mocked triggers accepted while `mock_triggers()` was active, in order,
    and the records of those `run_triggered()` ran, by id."""

    def __init__(self) -> None:
        self.triggered: list[Triggered] = []
        self.records: dict[str, JobRecord] = {}
        self._taken = 0
        self._ids: set[str] = set()

    def find(self, job_id: str) -> Triggered | None:
        return next((t for t in self.triggered if t.handle.id == job_id), None)

    def accept(
        self,
        job: Job[Any],
        payloads: list[Any],
        delay: Delay | None = None,
        job_id: str | None = None,
        *,
        batch: bool = False,
    ) -> list[JobHandle]:
        """What the real trigger (`batch`: trigger_many) does, minus Redis: validate everything
        first, then record.

        A `job_id` seen before in this log is not recorded again and its handle says
        `enqueued=False`, as the real trigger does for a job queued, running or retained.
        """
        now = now_ms()
        encoded = job.encode_batch(payloads, now) if batch else [job.encode(p, now) for p in payloads]
        if job_id is not None:
            check_job_id(job_id)
        delay_ms = to_ms(delay)
        handles: list[JobHandle] = []
        for data in encoded:
            handle_id = job_id or uuid.uuid4().hex
            fresh = handle_id not in self._ids
            handle = MockedJobHandle(id=handle_id, job=job.name, queue=job.queue, enqueued=fresh, trigger_log=self)
            if fresh:
                self._ids.add(handle_id)
                self.triggered.append(Triggered(job, handle, stored.decode(data).payload, delay_ms, now))
            handles.append(handle)
        return handles

    def take(self) -> Triggered | None:
        """The oldest triggered job `run_triggered` has not run yet, if any."""
        if self._taken >= len(self.triggered):
            return None
        self._taken += 1
        return self.triggered[self._taken - 1]


_active: list[TriggerLog] = []  # innermost `mock_triggers()` last


@contextmanager
def mock_triggers() -> Iterator[TriggerLog]:
    """Make `trigger` and `trigger_many` of every job, defined now or later, an `AsyncMock`.

    The mocks validate payloads and return handles like the real methods but touch no Redis;
    assert on them as on any mock (`job.trigger.assert_awaited_once_with({...})`). On exit each
    job gets back exactly the attributes it had.
    """
    log = TriggerLog()
    saved: dict[int, tuple[Job[Any], dict[str, Any]]] = {}

    def patch(job: Job[Any]) -> None:
        if id(job) in saved:
            return
        saved[id(job)] = (job, {name: job.__dict__.get(name, _MISSING) for name in _PATCHED})
        job.trigger = _trigger_mock(job, log)  # type: ignore[method-assign]
        job.trigger_many = _trigger_many_mock(job, log)  # type: ignore[method-assign]

    unsubscribe = registry.subscribe(patch)
    for job in registry.all_jobs():
        patch(job)
    _active.append(log)
    try:
        yield log
    finally:
        unsubscribe()
        _active.remove(log)
        for job, attributes in saved.values():
            for name, value in attributes.items():
                if value is _MISSING:
                    job.__dict__.pop(name, None)
                else:
                    job.__dict__[name] = value


def _trigger_mock(job: Job[Any], log: TriggerLog) -> AsyncMock:
    async def trigger(
        payload: Any | Mapping[str, Any], *, delay: Delay | None = None, job_id: str | None = None
    ) -> JobHandle:
        return log.accept(job, [payload], delay, job_id)[0]

    # The spec lets `assert_awaited_once_with({...})` match `trigger(payload={...})` too.
    spec = types.MethodType(type(job).trigger, job)
    return AsyncMock(spec=spec, side_effect=trigger, name=f"{job.name}.trigger")


def _trigger_many_mock(job: Job[Any], log: TriggerLog) -> AsyncMock:
    async def trigger_many(payloads: Iterable[Any | Mapping[str, Any]]) -> list[JobHandle]:
        return log.accept(job, list(payloads), batch=True)

    spec = types.MethodType(type(job).trigger_many, job)
    return AsyncMock(spec=spec, side_effect=trigger_many, name=f"{job.name}.trigger_many")


def mocked(method: Any) -> AsyncMock:
    """`method` (a job's `trigger` or `trigger_many`) as the `AsyncMock` it is in this test.

    For type checkers, which see a method: `mocked(send_email.trigger).assert_awaited_once_with(...)`.
    Raises `TypeError` when the method is not mocked (the plugin is off for this test).
    """
    if not isinstance(method, AsyncMock):
        raise TypeError(f"{method!r} is not mocked: the jobs plugin is off for this test (real_jobs, jobs_worker, ...)")
    return method


def _current_log() -> TriggerLog:
    if not _active:
        raise RuntimeError(
            "no jobs are being recorded: the jobs pytest plugin is off for this test "
            "(marked real_jobs, using jobs_worker, -p no:jobs or jobs_auto_mock = false); "
            "outside pytest, wrap the code in jobs.testing.mock_triggers()"
        )
    return _active[-1]


def triggered(job: Job[Any] | None = None) -> list[Triggered]:
    """The jobs triggered so far in this test (only those of `job`, if given), in order."""
    return [t for t in _current_log().triggered if job is None or t.job is job or t.job.name == job.name]


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
    log = _current_log()
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
            return await item.job.config.run(payload)
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


class BurstWorker:
    """Runs a real worker against Redis (the `jobs_worker` fixture) until its queues are empty."""

    async def drain(self, queues: Iterable[str] | None = None, *, timeout: float = 30.0, **settings: Any) -> Worker:
        """Run `jobs.worker.Worker(burst=True)` until nothing is due, scheduled or running.

        `queues` defaults to every queue of the defined jobs; `settings` override the environment
        (e.g. `jobs_poll_interval=0.1`). A retry waits out its backoff for real, so give test jobs
        a short one. Past `timeout` seconds the worker is stopped (running jobs released) and
        `TimeoutError` raised. Returns the worker: `worker.totals()` counts what it did.
        """
        worker = Worker(
            queues=list(queues) if queues is not None else None,
            settings=load_settings(**settings) if settings else None,
            burst=True,
            handle_signals=False,
        )
        task = asyncio.ensure_future(worker.run())
        done, _ = await asyncio.wait([task], timeout=timeout)
        if not done:
            worker.request_stop()
            worker.request_stop()  # the second request does not wait for running jobs
            await asyncio.wait([task], timeout=10)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise TimeoutError(f"the burst worker did not drain {worker.queues} within {timeout:g} s")
        task.result()
        return worker
