"""Write triggered jobs to Redis: validate everything first, then one script call per batch.

The script hands a job due now straight to an idle worker, if one is registered (see ENQUEUE).
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from ..clock import now_ms, to_ms
from ..handle import JobHandle
from . import connection, keys, scripts

if TYPE_CHECKING:
    from ..definition import Job

P = TypeVar("P")


_last_ns = 0


def new_job_id() -> str:
    """A 32-hex-digit id that sorts in creation order: jobs due in the same millisecond run FIFO.

    The queue orders equal scores by id, so time-ordered ids keep a batch in the order given.
    """
    global _last_ns
    _last_ns = max(_last_ns + 1, time.time_ns())
    return f"{_last_ns:016x}{secrets.token_hex(8)}"


async def enqueue_one(
    job: Job[P],
    payload: P | Mapping[str, Any],
    *,
    delay: float | int | timedelta | None = None,
    job_id: str | None = None,
) -> JobHandle:
    now = now_ms()
    stored = job.encode(payload, now)  # raises ValidationError before any I/O
    job_id = new_job_id() if job_id is None else check_job_id(job_id)
    (handle,) = await _write(job, [(job_id, stored, now + to_ms(delay))], now)
    return handle


async def enqueue_many(job: Job[P], payloads: Iterable[P | Mapping[str, Any]]) -> list[JobHandle]:
    now = now_ms()
    batch = [(new_job_id(), data, now) for data in job.encode_batch(payloads, now)]
    return await _write(job, batch, now) if batch else []


def check_job_id(job_id: str) -> str:
    """A job id of the caller's choice: an empty one would be a random id, and lose the dedup it is for."""
    if not job_id:
        raise ValueError("job_id must be a non-empty string (or None, for a new unique id)")
    return job_id


@functools.cache
def _queue_keys(queue: str) -> tuple[tuple[str, ...], str]:
    """The ENQUEUE script's keys and the wake channel of a queue, built once per queue."""
    return (keys.queue(queue), keys.PAUSED_KEY, keys.idle_workers(queue)), keys.wake_channel(queue)


async def _write(job: Job[Any], batch: list[tuple[str, bytes, int]], now: int) -> list[JobHandle]:
    """One script call; `now` is the triggers' own clock reading: a job due later is not handed off."""
    conn = await connection.for_current_loop()
    script_keys, wake_channel = _queue_keys(job.queue)
    args: list[Any] = [wake_channel, now, job.queue]
    for job_id, stored, due in batch:
        args += (job_id, stored, due)
    try:
        added = await conn.link.call(scripts.ENQUEUE, script_keys, args)
    except Exception as exc:
        error = connection.as_jobs_error(conn.url, exc)
        if error is None:
            raise
        raise error from None
    return [
        JobHandle(id=job_id, job=job.name, queue=job.queue, enqueued=bool(flag))
        for (job_id, _, _), flag in zip(batch, added, strict=True)
    ]
