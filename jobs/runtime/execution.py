"""Run one attempt of a job and decide what happens next: done, retry after a delay, or failed.

No Redis here: the worker (and the inline test runner) store the outcome. Every lifecycle
event is logged here, with the job's identity bound to the context so the job's own structlog
lines carry it too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from pydantic import ValidationError

from .. import errorinfo
from ..definition import Job
from ..errors import JobsError, UnrecoverableError
from ..logs.events import log
from ..progress import Progress, checked
from ..records import ErrorInfo
from ..settings import get_settings
from . import results

_current: ContextVar[Attempt | None] = ContextVar("jobs_current_attempt", default=None)
# What `current_attempt()` gives code that runs outside any attempt in a test (the pytest plugin's
# `mock_triggers` pushes one), so a job's function called directly (`config.run`) can report progress.
standalone: list[Attempt] = []


class NoAttemptError(JobsError, RuntimeError):
    """`current_attempt()` was called outside a job's attempt (not inside a job the worker runs)."""


class ProgressSink(Protocol):
    """Where an attempt's progress reports go: the worker's `ProgressWriter`, or `local_progress`."""

    def report(self, job_id: str, progress: Progress) -> None: ...


class LocalProgress:
    """Progress reported by attempts that no worker runs (the inline test runner, a job function
    called directly in a test): the latest per job id, in this process's memory, bounded."""

    LIMIT = 1000

    def __init__(self) -> None:
        self.latest: dict[str, Progress] = {}

    def report(self, job_id: str, progress: Progress) -> None:
        self.latest.pop(job_id, None)
        self.latest[job_id] = progress
        if len(self.latest) > self.LIMIT:
            del self.latest[next(iter(self.latest))]


local_progress = LocalProgress()


@dataclass(frozen=True, slots=True)
class Completed:
    result: Any


@dataclass(frozen=True, slots=True)
class Retrying:
    error: ErrorInfo
    delay_ms: int


@dataclass(frozen=True, slots=True)
class Failed:
    error: ErrorInfo


Outcome = Completed | Retrying | Failed


@dataclass(frozen=True, slots=True)
class Attempt:
    """Which run of which job this is; `number` is 1-based."""

    job_id: str
    name: str
    queue: str
    number: int
    sink: ProgressSink | None = field(default=None, repr=False, compare=False)

    async def report_progress(self, fraction: float, message: str | None = None) -> None:
        """Record how far this attempt got: `fraction` from 0 to 1, and an optional message
        ("3 of 7 files"). Cheap to call often: the worker writes the latest value a few times a
        second at most; `jobs show`, `handle.progress()` and the dashboard show it. Raises
        `InvalidProgressError` for a fraction outside 0..1."""
        (self.sink or local_progress).report(self.job_id, checked(fraction, message))


async def run_attempt(
    job: Job[Any] | None, payload: Any, attempt: Attempt, *, max_result_bytes: int | None = None
) -> Outcome:
    """Validate the payload and run the job once, within its timeout; log what happened.

    `max_result_bytes` bounds the stored result (default: JOBS_MAX_RESULT_BYTES).
    """
    with _job_context(attempt):
        if job is None:
            return _fail(errorinfo.reason("UnknownJob", f"this worker defines no job named {attempt.name!r}"))
        if attempt.number > job.config.attempts:
            message = f"all {job.config.attempts} attempts used (the last one was interrupted before it finished)"
            return _fail(errorinfo.reason("AttemptsExhausted", message))
        try:
            value = job.validate(payload)
        except (ValidationError, ValueError, TypeError, RecursionError) as exc:
            return _fail(errorinfo.reason("InvalidPayload", f"the stored payload no longer validates: {exc}"))
        log.debug("job.started")
        timeout = job.config.timeout.total_seconds()
        started = time.perf_counter()
        token = _current.set(attempt)
        try:
            async with asyncio.timeout(timeout):
                run: Any = job.config.run  # inline, not `job.call`: one coroutine fewer per job
                result = await (run(value) if job.takes_payload else run())
        except TimeoutError as exc:
            timed_out = TimeoutError(f"the job did not finish within its timeout of {timeout:g} s")
            timed_out.__cause__ = exc
            return _after_error(job, attempt, timed_out)
        except UnrecoverableError as exc:
            return _fail(errorinfo.describe(exc))
        except asyncio.CancelledError as exc:
            if _worker_cancelled():
                raise  # shutdown: the worker gives the attempt back
            return _after_error(job, attempt, exc)  # the job's own: it awaited something cancelled
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any job error is a failed attempt
            # SystemExit too: a library deep in the job calling sys.exit() must not end the worker.
            return _after_error(job, attempt, exc)
        finally:
            _current.reset(token)
        elapsed = time.perf_counter() - started
        if elapsed > timeout:  # the timeout could not cancel it: it blocked the loop, or ignored the cancellation
            return _after_error(job, attempt, _overran(timeout, elapsed))
        limit = get_settings().jobs_max_result_bytes if max_result_bytes is None else max_result_bytes
        try:
            stored = results.storable(result, limit)
        except results.UnstorableResult as exc:  # returning it again would fail again: not retried
            return _fail(errorinfo.reason("UnstorableResult", str(exc)))
        log.info("job.completed", duration_ms=round(elapsed * 1000, 3))
        return Completed(stored)


def _worker_cancelled() -> bool:
    """Whether this task itself is being cancelled, as opposed to the job raising CancelledError."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _overran(timeout: float, elapsed: float) -> TimeoutError:
    return TimeoutError(
        f"the job did not finish within its timeout of {timeout:g} s: it returned after {elapsed:.3g} s, "
        "having blocked the event loop or ignored its cancellation"
    )


def current_attempt() -> Attempt:
    """The attempt running in this task (job id, name, queue, 1-based number, `report_progress`).

    Handy for idempotency keys, or for a job that behaves differently on its last attempt. Outside
    a job it raises `NoAttemptError`; in a test (the pytest plugin), code called directly gets a
    stand-in attempt (id `test`, attempt 1) whose progress is kept in memory.
    """
    attempt = _current.get() or (standalone[-1] if standalone else None)
    if attempt is None:
        raise NoAttemptError("current_attempt() is only available inside a job's attempt (a job the worker runs)")
    return attempt


def reject(attempt: Attempt, error: ErrorInfo) -> Failed:
    """Fail an attempt that cannot even start (its stored data is unreadable); log it once."""
    with _job_context(attempt):
        return _fail(error)


@contextmanager
def _job_context(attempt: Attempt) -> Iterator[None]:
    """Bind the job's identity for every structlog line logged meanwhile, the job's own included.

    structlog's public bind/reset pair: a fraction of the cost of `bound_contextvars`, which
    first snapshots the whole context.
    """
    tokens = structlog.contextvars.bind_contextvars(
        job=attempt.name, job_id=attempt.job_id, queue=attempt.queue, attempt=attempt.number
    )
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def _after_error(job: Job[Any], attempt: Attempt, exc: BaseException) -> Outcome:
    error = errorinfo.describe(exc)
    if attempt.number >= job.config.attempts:
        return _fail(error)
    delay_ms = job.config.backoff.delay_after(attempt.number)
    log.warning("job.retrying", error={"type": error.type, "message": error.message}, retry_in_ms=delay_ms)
    return Retrying(error, delay_ms)


def _fail(error: ErrorInfo) -> Failed:
    log.error("job.failed", error={"type": error.type, "message": error.message, "traceback": error.traceback})
    return Failed(error)
