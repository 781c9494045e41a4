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
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import ValidationError

from .. import errorinfo
from ..definition import Job
from ..errors import UnrecoverableError
from ..logs.events import log
from ..records import ErrorInfo
from ..settings import get_settings
from . import results

_current: ContextVar[Attempt | None] = ContextVar("jobs_current_attempt", default=None)


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


def current_attempt() -> Attempt | None:
    """The attempt running in this task (job id, name, queue, 1-based number), else None.

    Handy for idempotency keys, or for a job that behaves differently on its last attempt.
    """
    return _current.get()


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
