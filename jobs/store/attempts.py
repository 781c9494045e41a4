"""Every attempt of a job, for the dashboard: the failed attempts that were retried, kept apart.

A record keeps the last attempt only. So when an attempt fails and will run again (the slow path
already: the job failed), the worker appends it to a short list for that job id, written in the
background so the queue's turn does not wait for it; a job that succeeds at its first attempt
costs nothing. The list expires after `TTL_MS` and holds at most `MAX_ENTRIES`; no traceback (the
record keeps the last one), messages cut at `MAX_MESSAGE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import asdict, dataclass

from ..clock import now_ms
from ..records import ErrorInfo
from .connection import REDIS_ERRORS, Client
from .keys import DEFAULT, Layout

TTL_MS = 7 * 24 * 3_600_000
MAX_ENTRIES = 50
MAX_MESSAGE = 500
RETRY_AFTER_S = 1.0
CLOSE_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class AttemptInfo:
    """One attempt of a job. `outcome`: retried, completed, failed, running, or unknown (charged,
    but its outcome was never stored: the worker was killed, or arq's own worker ran it)."""

    number: int
    outcome: str
    started_ms: int | None = None
    finished_ms: int | None = None
    error_type: str | None = None
    error_message: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def entry(number: int, started_ms: int, error: ErrorInfo) -> bytes:
    message = error.message if len(error.message) <= MAX_MESSAGE else error.message[:MAX_MESSAGE] + "..."
    info = AttemptInfo(number, "retried", started_ms, now_ms(), error.type, message)
    return json.dumps(info.to_dict(), separators=(",", ":")).encode()


class AttemptLog:
    """One queue runner's writer: entries are written in order, batched, retried while Redis is away."""

    def __init__(self, redis: Client, queue: str, layout: Layout = DEFAULT) -> None:
        self._redis = redis
        self._queue = queue
        self._layout = layout
        self._pending: list[tuple[str, bytes]] = []
        self._writer: asyncio.Task[None] | None = None

    def retried(self, job_id: str, number: int, started_ms: int, error: ErrorInfo) -> None:
        """Attempt `number` of `job_id` failed and will run again: log it, in the background."""
        self._pending.append((job_id, entry(number, started_ms, error)))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="attempt-log")

    async def close(self) -> None:
        """Give the writer a short while to finish (Redis may be gone at shutdown)."""
        if self._writer is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._writer), CLOSE_TIMEOUT_S)
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for job_id, data in batch:
                        key = self._layout.attempts(job_id, self._queue)
                        pipe.rpush(key, data)
                        pipe.ltrim(key, -MAX_ENTRIES, -1)
                        pipe.pexpire(key, TTL_MS)
                    await pipe.execute()
            except REDIS_ERRORS:
                self._pending[:0] = batch
                await asyncio.sleep(RETRY_AFTER_S)


async def logged(redis: Client, job_id: str, queue: str | None = None, layout: Layout = DEFAULT) -> list[AttemptInfo]:
    """The retried attempts written for `job_id`, by number."""
    raws = await redis.lrange(layout.attempts(job_id, queue), 0, -1)  # type: ignore[misc]
    found = {}
    for raw in raws:
        with contextlib.suppress(ValueError, TypeError):
            info = AttemptInfo(**json.loads(raw))
            found[info.number] = info
    return [found[n] for n in sorted(found)]
