"""The handle `trigger` returns: the job id, whether this call enqueued it, and its typed result.

`JobHandle[R]`: `R` is the job's result type (its run function's return annotation), and
`result()` validates the stored JSON back into it, so a pydantic model comes back as the model.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, cast

from pydantic import TypeAdapter
from typing_extensions import TypeVar

from .records import JobRecord, JobStatus

if TYPE_CHECKING:
    from .progress import Progress
    from .store.cancel import CancelResult

R = TypeVar("R", default=Any)


class JobFailedError(Exception):
    """Awaiting the result of a job that failed for good; `record` holds the error."""

    def __init__(self, record: JobRecord) -> None:
        error = record.error
        detail = f"{error.type}: {error.message}" if error else "failed"
        super().__init__(f"job {record.job} {record.id} failed after {record.attempts} attempt(s): {detail}")
        self.record = record


class JobCancelledError(JobFailedError):
    """Awaiting the result of a job that was cancelled (`jobs cancel`); `record` says when."""

    def __init__(self, record: JobRecord) -> None:
        Exception.__init__(self, f"job {record.job} {record.id} was cancelled: it has no result")
        self.record = record


@dataclass(frozen=True, slots=True)
class JobHandle(Generic[R]):
    """What a trigger did, and the id of the job that will run: `enqueued`, a new job (False
    when the id was already queued, running or retained); `replaced`, a debounced trigger gave
    its payload and due time to the waiting job of its key; neither, the trigger was dropped."""

    id: str
    job: str
    queue: str
    enqueued: bool = True
    replaced: bool = False
    # Validates a stored result into `R` (the job's return annotation); None: the JSON as stored.
    result_type: TypeAdapter[R] | None = field(default=None, repr=False, compare=False)

    @property
    def outcome(self) -> str:
        """'enqueued', 'replaced' or 'dropped'."""
        return "enqueued" if self.enqueued else "replaced" if self.replaced else "dropped"

    async def status(self) -> JobStatus:
        from .store import inspection

        return await inspection.job_status(self.id, self.queue)

    async def progress(self) -> Progress | None:
        """The latest progress the running job reported (`current_attempt().report_progress`),
        at most a fraction of a second old; None if it reported none or is not running."""
        from .store import progress

        return await progress.read(self.id, self.queue)

    async def record(self) -> JobRecord | None:
        """The retained record once the job has finished, else None."""
        from .store import inspection

        return await inspection.get_record(self.id, self.queue)

    async def cancel(self) -> CancelResult:
        """Cancel this job, as `jobs.admin.cancel` does: removed if it is queued or scheduled,
        stopped in its worker if it runs; a finished job is left alone (the result says so)."""
        from .settings import get_settings
        from .store import cancel

        return await cancel.cancel(self.id, self.queue, keep=get_settings().jobs_keep_cancelled)

    async def result(self, timeout: float | None = None, *, poll_interval: float = 0.05) -> R:
        """Wait for the job to finish (up to `timeout` seconds; None: as long as it takes) and
        return its result, validated into the job's result type. Raises `JobFailedError` if it
        failed for good, `JobCancelledError` if it was cancelled, `TimeoutError` if it has not
        finished in time (it keeps running), `LookupError` if the job is unknown."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = await self.record()
            if record is not None:
                return self.finished_result(record)
            if await self.status() is JobStatus.NOT_FOUND and await self.record() is None:
                raise LookupError(f"job {self.id} is neither queued, running nor retained")
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {self.id} did not finish within {timeout} s")
            await asyncio.sleep(poll_interval)

    def finished_result(self, record: JobRecord) -> R:
        """The result of a finished job's record as `R`, or the error of one that did not complete."""
        if record.status is JobStatus.CANCELLED:
            raise JobCancelledError(record)
        if record.status is JobStatus.FAILED:
            raise JobFailedError(record)
        if self.result_type is None:
            return cast(R, record.result)
        return self.result_type.validate_python(record.result)
