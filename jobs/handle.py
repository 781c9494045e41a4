"""The handle `trigger` returns: the job id, and whether this call enqueued it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from .records import JobRecord, JobStatus


class JobFailedError(Exception):
    """Awaiting the result of a job that failed for good; `record` holds the error."""

    def __init__(self, record: JobRecord) -> None:
        error = record.error
        detail = f"{error.type}: {error.message}" if error else "failed"
        super().__init__(f"job {record.job} {record.id} failed after {record.attempts} attempt(s): {detail}")
        self.record = record


@dataclass(frozen=True, slots=True)
class JobHandle:
    """What a trigger did, and the id of the job that will run: `enqueued`, a new job (False
    when the id was already queued, running or retained); `replaced`, a debounced trigger gave
    its payload and due time to the waiting job of its key; neither, the trigger was dropped."""

    id: str
    job: str
    queue: str
    enqueued: bool = True
    replaced: bool = False

    @property
    def outcome(self) -> str:
        """'enqueued', 'replaced' or 'dropped'."""
        return "enqueued" if self.enqueued else "replaced" if self.replaced else "dropped"

    async def status(self) -> JobStatus:
        from .store import inspection

        return await inspection.job_status(self.id, self.queue)

    async def record(self) -> JobRecord | None:
        """The retained record once the job has finished, else None."""
        from .store import inspection

        return await inspection.get_record(self.id, self.queue)

    async def result(self, timeout: float | None = None, *, poll_interval: float = 0.05) -> Any:
        """Wait for the job to finish and return its result; raises `JobFailedError` if it failed,
        `TimeoutError` after `timeout` seconds, `LookupError` if the job is unknown."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = await self.record()
            if record is not None:
                if record.status is JobStatus.FAILED:
                    raise JobFailedError(record)
                return record.result
            if await self.status() is JobStatus.NOT_FOUND and await self.record() is None:
                raise LookupError(f"job {self.id} is neither queued, running nor retained")
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {self.id} did not finish within {timeout} s")
            await asyncio.sleep(poll_interval)
