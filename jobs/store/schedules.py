"""Schedules in Redis: each queue's schedules (a hash of definitions), when each is due next (a
sorted set a poll reads with one script), and the tick each last fired.

A definition is canonical JSON (sorted keys), so re-declaring an unchanged schedule is seen as
unchanged and keeps its next tick. Firing a tick is one script that only the first of racing
workers gets through (see `lua/schedule_fire.lua`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..clock import from_ms
from ..cron import Cron, Every, to_epoch_ms
from . import connection, scripts
from .connection import Connection

DUE_BATCH = 100  # schedules fired per poll at most; the rest are due again at the next one


@dataclass(frozen=True, slots=True)
class Schedule:
    """A stored schedule: `spec` as written (`0 8 * * *`, `every 5m`), times as aware datetimes."""

    id: str
    job: str
    queue: str
    spec: str
    tz: str
    missed: str
    payload: Any
    declared: bool  # by `job(schedule=...)`, kept in step with the code by the worker at start
    next_run: datetime | None
    last_run: datetime | None
    rule: dict[str, Any]  # the spec as `jobs.cron` stores it

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job": self.job,
            "queue": self.queue,
            "spec": self.spec,
            "tz": self.tz,
            "missed": self.missed,
            "payload": self.payload,
            "declared": self.declared,
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "last_run": self.last_run.isoformat() if self.last_run else None,
        }


def definition(job: str, rule: dict[str, Any], spec: str, payload: Any, *, declared: bool) -> str:
    """The stored definition of a schedule, canonical so that an unchanged one compares equal."""
    data = {"job": job, "rule": rule, "spec": spec, "payload": payload, "declared": declared}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def tick_job_id(schedule_id: str, tick_ms: int) -> str:
    """The id of the job one tick enqueues: the same for every worker, so a tick runs once."""
    return f"schedule:{schedule_id}:{tick_ms}"


async def save(
    conn: Connection,
    queue: str,
    schedule_id: str,
    job: str,
    spec: Cron | Every,
    payload: Any,
    *,
    declared: bool,
    keep_next: bool = False,
) -> Schedule:
    """Store a schedule of `job` (its payload already validated, as JSON data); its next tick is
    computed now, or kept when `keep_next` and the definition is unchanged."""
    if not isinstance(schedule_id, str) or not schedule_id or any(c.isspace() for c in schedule_id):
        raise ValueError(f"a schedule id must be a non-empty string without spaces, got {schedule_id!r}")
    stored = definition(job, spec.to_dict(), spec.spec, payload, declared=declared)
    next_ms = to_epoch_ms(spec.next_after(datetime.now(UTC)))
    await upsert(conn, queue, schedule_id, stored, next_ms, keep_next=keep_next)
    found = next((s for s in await of_queue(conn, queue) if s.id == schedule_id), None)
    assert found is not None
    return found


async def upsert(conn: Connection, queue: str, schedule_id: str, stored: str, next_ms: int, *, keep_next: bool) -> int:
    """Store a schedule; 0 unchanged, 1 created, 2 replaced (see SCHEDULE_UPSERT)."""
    script_keys = (conn.keys.schedules(queue), conn.keys.schedules_due(queue))
    return int(await conn.run(scripts.SCHEDULE_UPSERT, script_keys, [schedule_id, stored, next_ms, int(keep_next)]))


async def remove(conn: Connection, queue: str, schedule_id: str) -> bool:
    script_keys = (conn.keys.schedules(queue), conn.keys.schedules_due(queue), conn.keys.schedules_last(queue))
    return bool(await conn.run(scripts.SCHEDULE_REMOVE, script_keys, [schedule_id]))


async def due(conn: Connection, queue: str, now_ms: int) -> tuple[int, list[tuple[str, bytes, bytes | None]]]:
    """The queue's due schedules: (next tick ms of the rest or -1, [(id, due score, definition)])."""
    reply = await conn.run(
        scripts.SCHEDULES_DUE, (conn.keys.schedules_due(queue), conn.keys.schedules(queue)), [now_ms, DUE_BATCH]
    )
    found = [(reply[i].decode(), reply[i + 1], reply[i + 2] or None) for i in range(1, len(reply), 3)]
    return int(float(reply[0])), found


async def fire(
    conn: Connection, queue: str, schedule_id: str, due_score: bytes, next_ms: int, tick: tuple[int, str, bytes] | None
) -> int:
    """Move a due schedule on to `next_ms`, enqueueing `tick` (ms, job id, stored job) unless None;
    1 fired, 2 moved on without firing, 0 another worker did it first."""
    tick_ms, job_id, stored = tick if tick is not None else ("", "", b"")
    script_keys = (conn.keys.schedules_due(queue), conn.keys.schedules_last(queue), conn.keys.queue(queue))
    args = [schedule_id, due_score, next_ms, tick_ms, job_id, stored, conn.keys.wake_channel(queue)]
    return int(await conn.run(scripts.SCHEDULE_FIRE, script_keys, args))


async def of_queue(conn: Connection, queue: str) -> list[Schedule]:
    """Every schedule of `queue`, by id."""
    async with conn.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(conn.keys.schedules(queue))
        pipe.zrange(conn.keys.schedules_due(queue), 0, -1, withscores=True)
        pipe.hgetall(conn.keys.schedules_last(queue))
        stored, due_ids, last = await pipe.execute()
    next_runs = {member.decode(): int(score) for member, score in due_ids}
    last_runs = {member.decode(): int(value) for member, value in last.items()}
    found = []
    for raw_id, raw in stored.items():
        schedule_id = raw_id.decode()
        found.append(_parse(schedule_id, queue, raw, next_runs.get(schedule_id), last_runs.get(schedule_id)))
    return sorted(found, key=lambda s: s.id)


async def queues_with_schedules(conn: Connection) -> list[str]:
    """Every queue Redis holds schedules for, found with SCAN (never KEYS)."""
    found = set()
    async for key in conn.redis.scan_iter(match=conn.keys.schedules_pattern(), count=1000, _type="zset"):
        found.add(conn.keys.queue_of(key.decode(errors="backslashreplace")))
    return sorted(found)


@connection.reports_redis_errors
async def list_schedules() -> list[Schedule]:
    """Every stored schedule of every queue, declared in code or made at run time."""
    conn = await connection.for_current_loop()
    found: list[Schedule] = []
    for queue in await queues_with_schedules(conn):
        found += await of_queue(conn, queue)
    return sorted(found, key=lambda s: (s.queue, s.id))


@connection.reports_redis_errors
async def find(schedule_id: str) -> Schedule | None:
    """The schedule with this id, whichever queue it is on."""
    return next((s for s in await list_schedules() if s.id == schedule_id), None)


@connection.reports_redis_errors
async def unschedule(schedule_id: str) -> bool:
    """Delete the schedule with this id (the jobs it enqueued stay); whether one existed."""
    conn = await connection.for_current_loop()
    removed = False
    for queue in await queues_with_schedules(conn):
        removed = await remove(conn, queue, schedule_id) or removed
    return removed


def _parse(schedule_id: str, queue: str, raw: bytes, next_ms: int | None, last_ms: int | None) -> Schedule:
    data = json.loads(raw)
    rule = data.get("rule") or {}
    return Schedule(
        id=schedule_id,
        job=str(data.get("job")),
        queue=queue,
        spec=str(data.get("spec")),
        tz=str(rule.get("tz", "UTC")),
        missed=str(rule.get("missed", "once")),
        payload=data.get("payload"),
        declared=bool(data.get("declared")),
        next_run=from_ms(next_ms),
        last_run=from_ms(last_ms),
        rule=rule,
    )
