"""A queue runner's progress reports, coalesced: however often a job reports, the latest value is
written at most every `FLUSH_S`, by a small task that runs only while there is something to write."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Container

from ..progress import Progress
from ..store import progress as stored_progress
from ..store.connection import REDIS_ERRORS, Connection

FLUSH_S = 0.25


class ProgressWriter:
    """Latest progress per running job, flushed to Redis a few times a second at most."""

    def __init__(self, conn: Connection, queue: str, running: Callable[[], Container[str]]) -> None:
        self._conn, self._queue, self._running = conn, queue, running
        self._pending: dict[str, Progress] = {}
        self._written: set[str] = set()  # ids whose progress is in Redis
        self._task: asyncio.Task[None] | None = None
        self.flushes = 0  # round trips that wrote something

    def report(self, job_id: str, progress: Progress) -> None:
        self._pending[job_id] = progress  # the latest wins
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush_soon(), name=f"progress:{self._queue}")

    async def _flush_soon(self) -> None:
        while self._pending or self._written:
            await asyncio.sleep(FLUSH_S)
            await self.flush()

    async def flush(self) -> None:
        """Write what is pending for jobs still running; delete what ended jobs left."""
        running = self._running()
        pending, self._pending = self._pending, {}
        latest = {job_id: p for job_id, p in pending.items() if job_id in running}
        gone = [job_id for job_id in self._written if job_id not in running]
        if not latest and not gone:
            return
        try:
            await stored_progress.write(self._conn, self._queue, latest, gone)
        except REDIS_ERRORS:
            for job_id, progress in latest.items():
                self._pending.setdefault(job_id, progress)
            return
        self.flushes += 1
        self._written.difference_update(gone)
        self._written.update(latest)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._pending.clear()
        with contextlib.suppress(*REDIS_ERRORS):
            await self.flush()
