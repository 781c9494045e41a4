"""Triggers that record instead of enqueueing: `mock_triggers()` makes every job's `trigger` and
`trigger_many` an `AsyncMock` that validates like the real one and touches no Redis.

The pytest plugin (`jobs.testing.plugin`) wraps every test in it, the way
`structlog.testing.capture_logs()` swaps in a recorder and puts back exactly what was there.
"""

from __future__ import annotations

import types
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from unittest.mock import AsyncMock

from .. import registry, trigger_keys
from ..clock import now_ms, to_ms
from ..definition import Delay, Job
from ..handle import JobHandle
from ..progress import Progress
from ..records import JobRecord, JobStatus
from ..runtime import execution
from ..runtime.execution import Attempt
from ..store import stored
from ..store.cancel import CancelResult, cancelled_record
from ..store.enqueue import check_job_id, check_priority

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
        return self.finished_result(record)

    async def cancel(self) -> CancelResult:
        """Cancel it in the test's trigger log: not run yet, it never will (`run_triggered()` skips it)."""
        return self._log().cancel(self.id)

    async def progress(self) -> Progress | None:
        """What it reported while `run_triggered()` ran it (kept in memory)."""
        return execution.local_progress.latest.get(self.id)

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
        self._keys: dict[tuple[str, str], tuple[int, int]] = {}  # (job, key) -> (index, when)

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
        key: str | None = None,
        debounce: Delay | None = None,
        throttle: Delay | None = None,
    ) -> list[JobHandle]:
        """What the real trigger (`batch`: trigger_many) does, minus Redis: validate everything
        first, then record.

        A `job_id` seen before in this log is not recorded again and its handle says
        `enqueued=False`, as the real trigger does for a job queued, running or retained. A `key`
        behaves as in Redis, with "running" meaning not yet run by `run_triggered()`.
        """
        rule = trigger_keys.rule(key, debounce=debounce, throttle=throttle, delay=delay)
        now = now_ms()
        encoded = job.encode_batch(payloads, now) if batch else [job.encode(p, now) for p in payloads]
        if job_id is not None:
            check_job_id(job_id)
        delay_ms = to_ms(delay)
        if rule is not None:
            return [self._keyed(job, rule, stored.decode(encoded[0]).payload, job_id, now)]
        handles: list[JobHandle] = []
        for data in encoded:
            handle_id = job_id or uuid.uuid4().hex
            fresh = handle_id not in self._ids
            handle = MockedJobHandle(
                id=handle_id,
                job=job.name,
                queue=job.queue,
                enqueued=fresh,
                result_type=job.result_type,
                trigger_log=self,
            )
            if fresh:
                self._ids.add(handle_id)
                self.triggered.append(Triggered(job, handle, stored.decode(data).payload, delay_ms, now))
            handles.append(handle)
        return handles

    def _keyed(
        self, job: Job[Any], rule: trigger_keys.KeyRule, payload: Any, job_id: str | None, now: int
    ) -> JobHandle:
        """A keyed trigger against this log, as ENQUEUE_KEYED does it against Redis."""
        last = self._keys.get((job.name, rule.key))
        if last is not None:
            index, at = last
            item, waiting = self.triggered[index], index >= self._taken
            if (rule.mode == "throttle" and now - at < rule.window_ms) or (rule.mode == "key" and waiting):
                return replace(item.handle, enqueued=False, replaced=False)
            if rule.mode == "debounce" and waiting:
                self.triggered[index] = replace(item, payload=payload, delay_ms=rule.window_ms)
                self._keys[(job.name, rule.key)] = (index, now)
                return replace(item.handle, enqueued=False, replaced=True)
        handle_id = job_id or uuid.uuid4().hex
        handle = MockedJobHandle(
            id=handle_id, job=job.name, queue=job.queue, result_type=job.result_type, trigger_log=self
        )
        self._ids.add(handle_id)
        self._keys[(job.name, rule.key)] = (len(self.triggered), now)
        self.triggered.append(Triggered(job, handle, payload, rule.delay_ms(None), now))
        return handle

    def cancel(self, job_id: str) -> CancelResult:
        """What the real cancel does, on this log: a job not run yet is taken out and recorded as
        cancelled; one that ran is left alone."""
        record = self.records.get(job_id)
        if record is not None:
            return CancelResult(job_id, "finished", record.status, f"job {job_id} is {record.status.value} already")
        pending = self.triggered[self._taken :]
        item = next((t for t in pending if t.handle.id == job_id), None)
        if item is None:
            return CancelResult(job_id, "not_found", JobStatus.NOT_FOUND, f"no job with id {job_id!r}")
        self.triggered.remove(item)
        self.records[job_id] = cancelled_record(
            job_id, item.job.name, item.job.queue, item.payload, 0, item.enqueued_ms, 0, "cancelled before it started"
        )
        return CancelResult(job_id, "cancelled", JobStatus.QUEUED, "cancelled: it will not run")

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
    stand_in = Attempt("test", "<test>", "default", 1)
    execution.standalone.append(stand_in)
    execution.local_progress.latest.pop(stand_in.job_id, None)  # what an earlier test reported
    try:
        yield log
    finally:
        unsubscribe()
        _active.remove(log)
        execution.standalone.remove(stand_in)
        for job, attributes in saved.values():
            for name, value in attributes.items():
                if value is _MISSING:
                    job.__dict__.pop(name, None)
                else:
                    job.__dict__[name] = value


def _trigger_mock(job: Job[Any], log: TriggerLog) -> AsyncMock:
    async def trigger(
        payload: Any | Mapping[str, Any] = None,
        *,
        delay: Delay | None = None,
        job_id: str | None = None,
        key: str | None = None,
        debounce: Delay | None = None,
        throttle: Delay | None = None,
        priority: int = 0,
    ) -> JobHandle:
        check_priority(priority)  # accepted as the real trigger does; run_triggered() keeps trigger order
        return log.accept(job, [payload], delay, job_id, key=key, debounce=debounce, throttle=throttle)[0]

    # The spec lets `assert_awaited_once_with({...})` match `trigger(payload={...})` too.
    spec = types.MethodType(type(job).trigger, job)
    return AsyncMock(spec=spec, side_effect=trigger, name=f"{job.name}.trigger")


def _trigger_many_mock(job: Job[Any], log: TriggerLog) -> AsyncMock:
    async def trigger_many(payloads: Iterable[Any | Mapping[str, Any]], *, priority: int = 0) -> list[JobHandle]:
        check_priority(priority)
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


def current_log() -> TriggerLog:
    if not _active:
        raise RuntimeError(
            "no jobs are being recorded: the jobs pytest plugin is off for this test "
            "(marked real_jobs, using jobs_worker, -p no:jobs or jobs_auto_mock = false); "
            "outside pytest, wrap the code in jobs.testing.mock_triggers()"
        )
    return _active[-1]


def triggered(job: Job[Any] | None = None) -> list[Triggered]:
    """The jobs triggered so far in this test (only those of `job`, if given), in order."""
    return [t for t in current_log().triggered if job is None or t.job is job or t.job.name == job.name]
