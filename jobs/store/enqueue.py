"""Write triggered jobs to Redis, already validated and encoded (`Job.trigger`): one script call per batch.

The script hands a job due now straight to an idle worker, if one is registered (see ENQUEUE).
With `JOBS_WAIT_REPLICAS=N` the call is followed, on the same connection, by Redis' `WAIT N`: a
trigger returns once N replicas hold the jobs, so a failover right after it loses none of them.
"""

from __future__ import annotations

import functools
import secrets
import time
from typing import Any

from ..errors import RedisUnavailableError
from ..redaction import redact_url
from ..settings import get_settings
from . import connection, scripts
from .connection import Connection
from .keys import Layout
from .scripts import LuaScript

_last_ns = 0


def new_job_id() -> str:
    """A 32-hex-digit id that sorts in creation order: jobs due in the same millisecond run FIFO.

    The queue orders equal scores by id, so time-ordered ids keep a batch in the order given.
    """
    global _last_ns
    _last_ns = max(_last_ns + 1, time.time_ns())
    return f"{_last_ns:016x}{secrets.token_hex(8)}"


def check_job_id(job_id: str) -> str:
    """A job id of the caller's choice: an empty one would be a random id, and lose the dedup it is for."""
    if not job_id:
        raise ValueError("job_id must be a non-empty string (or None, for a new unique id)")
    return job_id


MAX_PRIORITY = 1000  # |priority|: a priority's band of scores (2**42 ms wide) stays exact in a double
PRIORITY_BAND = 2**42  # the priority set scores a job -priority * PRIORITY_BAND + due ms (lua/include/claim.lua)


def priority_of(score: float) -> int:
    """A job's priority, from its score in the queue's priority set."""
    return -int(score // PRIORITY_BAND)


def check_priority(priority: int) -> int:
    """A trigger's priority: an int from -1000 to 1000 (0, the default, keeps arq's stored layout)."""
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"priority must be an int, got {priority!r}")
    if abs(priority) > MAX_PRIORITY:
        raise ValueError(f"priority must be from -{MAX_PRIORITY} to {MAX_PRIORITY}, got {priority}")
    return priority


@functools.cache
def _queue_keys(layout: Layout, queue: str) -> tuple[tuple[str, ...], str]:
    """The ENQUEUE script's keys and the wake channel of a queue, built once per queue and layout."""
    names = (layout.queue(queue), layout.paused(queue), layout.idle_workers(queue))
    return (*names, layout.limited(queue), layout.priority(queue)), layout.wake_channel(queue)


async def write(
    queue: str, batch: list[tuple[str, bytes, int]], now: int, *, chosen: bool, priority: int = 0
) -> list[bool]:
    """Store (id, stored job, due ms) triples on `queue` in one script call; per job, whether it was
    enqueued (False: the id is already queued, running or retained, checked only for ids `chosen`
    by the caller: a generated id is unique). `now` is the triggers' own clock reading: a job due
    later is not handed off. A `priority` other than 0 also enters the jobs in the queue's priority set."""
    conn = await connection.for_current_loop()
    script_keys, wake_channel = _queue_keys(conn.keys, queue)
    args: list[Any] = [wake_channel, now, queue, 1 if chosen else 0, priority]
    for job_id, stored, due in batch:
        args += (job_id, stored, due)
    try:
        if not get_settings().jobs_wait_replicas:
            added = await conn.link.call(scripts.ENQUEUE, script_keys, args)
        else:
            added = await _call_and_wait(conn, scripts.ENQUEUE, script_keys, args)
    except Exception as exc:
        error = connection.as_jobs_error(conn.url, exc)
        if error is None:
            raise
        raise error from None
    return [flag == 1 for flag in added]


KEYED_MODES = ("debounce", "throttle", "key")


async def write_keyed(
    queue: str, job_name: str, key: str, mode: str, ttl_ms: int, job: tuple[str, bytes, int], priority: int = 0
) -> tuple[int, str]:
    """One job triggered with a key (see ENQUEUE_KEYED): (1 enqueued / 2 replaced the waiting job /
    0 dropped, the id of the job that will run)."""
    conn = await connection.for_current_loop()
    layout = conn.keys
    job_id, stored, due = job
    args = [layout.wake_channel(queue), mode, max(1, ttl_ms), job_id, stored, due, priority]
    script_keys = (layout.queue(queue), layout.trigger_key(queue, job_name, key), layout.priority(queue))
    try:
        if not get_settings().jobs_wait_replicas:
            status, kept = await conn.link.call(scripts.ENQUEUE_KEYED, script_keys, args)
        else:
            status, kept = await _call_and_wait(conn, scripts.ENQUEUE_KEYED, script_keys, args)
    except Exception as exc:
        error = connection.as_jobs_error(conn.url, exc)
        if error is None:
            raise
        raise error from None
    return int(status), kept.decode()


async def _call_and_wait(conn: Connection, script: LuaScript, script_keys: Any, args: list[Any]) -> Any:
    """The script, then WAIT on the same connection; `RedisUnavailableError` when fewer replicas than
    JOBS_WAIT_REPLICAS acknowledged within JOBS_WAIT_REPLICAS_TIMEOUT_MS (the jobs are on the master)."""
    settings = get_settings()
    wanted, timeout_ms = settings.jobs_wait_replicas, settings.jobs_wait_replicas_timeout_ms
    reply, acknowledged = await conn.link.call_and_wait(script, script_keys, args, wanted, timeout_ms)
    if acknowledged < wanted:
        raise RedisUnavailableError(
            f"Redis at {redact_url(conn.url)}: only {acknowledged} of {wanted} replicas acknowledged the "
            f"trigger within {timeout_ms} ms (JOBS_WAIT_REPLICAS): it is on the master, but a failover "
            "now could lose it"
        )
    return reply
