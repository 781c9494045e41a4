"""Which queues Redis holds something for, and which queue holds a job: found without KEYS.

A single Redis names a job's keys by its id alone, so a lookup by id is direct. In a cluster a
job's keys carry its queue's hash tag, so a lookup by id asks each queue the caller knows of (the
defined ones, plus those SCAN finds), in one pipelined round trip per shard.
"""

from __future__ import annotations

from collections.abc import Iterable

from .connection import Connection

_defined: dict[str, None] = {}  # queues of the jobs this process defines, in order (see `remember`)


def remember(queue: str) -> None:
    """Note a queue a job of this process uses (the registry calls it): looked in first by id."""
    _defined.setdefault(queue, None)


async def find(conn: Connection, job_id: str) -> str | None:
    """In a cluster, the queue whose slot holds `job_id`: this process's queues are asked first
    (one round trip), then the others Redis holds something for (a SCAN)."""
    known = list(_defined)
    found = await holding(conn, job_id, known)
    if found is None:
        found = await holding(conn, job_id, [q for q in await discovered(conn) if q not in _defined])
    return found


async def discovered(conn: Connection) -> list[str]:
    """Every queue Redis holds jobs, records, schedules or a pause for, found with SCAN (never KEYS):
    O(keys in the database) in total, in small non-blocking steps (every shard's, in a cluster)."""
    layout, redis = conn.keys, conn.redis
    found: set[str] = set()
    patterns = [
        layout.queue_pattern(),
        layout.finished_pattern("completed"),
        layout.finished_pattern("failed"),
        layout.finished_pattern("cancelled"),
        layout.schedules_pattern(),
    ]
    for pattern in patterns:
        async for key in redis.scan_iter(match=pattern, count=1000, _type="zset"):
            found.add(layout.queue_of(key.decode(errors="backslashreplace")))
    if layout.cluster:  # a pause is a set in the queue's slot
        async for key in redis.scan_iter(match=layout.paused_pattern(), count=1000, _type="set"):
            found.add(layout.queue_of(key.decode(errors="backslashreplace")))
    else:  # one set names every paused queue
        found.update(m.decode(errors="backslashreplace") for m in await redis.smembers(layout.paused("")))  # type: ignore[misc]
    return sorted(found)


async def paused(conn: Connection, names: Iterable[str]) -> set[str]:
    """Which of `names` are paused, in one round trip."""
    names = list(names)
    async with conn.redis.pipeline(transaction=False) as pipe:
        for queue in names:
            pipe.sismember(conn.keys.paused(queue), queue)
        found = await pipe.execute()
    return {queue for queue, yes in zip(names, found, strict=True) if yes}


async def holding(conn: Connection, job_id: str, candidates: Iterable[str]) -> str | None:
    """The queue among `candidates` that holds `job_id` live or retained (cluster layout: the job's
    keys are under its queue's tag), or None."""
    layout = conn.keys
    names = list(dict.fromkeys(candidates))
    if not names:
        return None
    async with conn.redis.pipeline(transaction=False) as pipe:
        for queue in names:
            pipe.exists(layout.job(job_id, queue))
            pipe.exists(layout.record(job_id, queue))
        found = await pipe.execute()
    return next((q for i, q in enumerate(names) if found[2 * i] or found[2 * i + 1]), None)
