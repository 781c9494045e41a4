"""Move one queue to another Redis: from a single Redis to a cluster (whose key layout differs:
a hash tag per queue) or back, or between any two servers.

What moves: the queued and scheduled jobs (stored job, due time, attempts so far), the retained
records with their attempt history, the schedules with their last ticks, the pending trigger keys
(debounce, throttle) with what is left of their lives, and a pause. What stays: a job a worker
holds (running, or claimed ahead): it is reported, and a second run moves it once it finished.

Each job is written to the target before it is deleted from the source, and deleted only if no
worker took it meanwhile (the REMOVE script refuses a locked job; its copy is then taken back
from the target): a job is never in neither place, and never runnable in both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..records import JobStatus
from ..redaction import redact_url
from ..store import connection, scripts
from ..store.connection import Connection

PAGE = 500
_FINISHED = (JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value)


@dataclass
class Moved:
    """What a move did; `held` are the ids of jobs a worker holds, left in the source."""

    queue: str
    source: str
    target: str
    jobs: int = 0
    records: int = 0
    schedules: int = 0
    trigger_keys: int = 0
    paused: bool = False
    held: list[str] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)  # ids the target held already (left in the source)
    dry_run: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "queue": self.queue,
            "from": self.source,
            "to": self.target,
            "jobs": self.jobs,
            "records": self.records,
            "schedules": self.schedules,
            "trigger_keys": self.trigger_keys,
            "paused": self.paused,
            "held_by_workers": self.held,
            "already_in_target": self.taken,
            "dry_run": self.dry_run,
        }


Progress = Callable[[str], None]


async def move_queue(queue: str, target_url: str, *, dry_run: bool = False, progress: Progress | None = None) -> Moved:
    """Move `queue` from REDIS_URL to `target_url` (see the module's docstring)."""
    source = await connection.for_current_loop()
    target = connection.connect(target_url)
    try:
        await connection.wait_until_reachable(target, 5.0)
        mover = _Mover(queue, source, target, dry_run, progress or (lambda _: None))
        return await mover.run()
    finally:
        await target.aclose()


class _Mover:
    def __init__(self, queue: str, source: Connection, target: Connection, dry_run: bool, progress: Progress) -> None:
        self.queue, self.source, self.target = queue, source, target
        self.progress = progress
        self.moved = Moved(queue, _shown(source), _shown(target), dry_run=dry_run)

    async def run(self) -> Moved:
        await self._pause()
        await self._jobs()
        await self._records()
        await self._schedules()
        await self._trigger_keys()
        return self.moved

    async def _pause(self) -> None:
        queue, src = self.queue, self.source
        self.moved.paused = bool(await src.redis.sismember(src.keys.paused(queue), queue))  # type: ignore[misc]
        if self.moved.paused and not self.moved.dry_run:
            await self.target.redis.sadd(self.target.keys.paused(queue), queue)  # type: ignore[misc]
            await src.redis.srem(src.keys.paused(queue), queue)  # type: ignore[misc]

    async def _jobs(self) -> None:
        """Page through the queue by rank; what stays (held, taken) shifts the next page's start."""
        queue, src, moved = self.queue, self.source, self.moved
        left = 0
        while page := await src.redis.zrange(src.keys.queue(queue), left, left + PAGE - 1, withscores=True):
            ids = [_text(raw) for raw, _ in page]
            async with src.redis.pipeline(transaction=False) as pipe:
                for readable in filter(None, ids):  # no MGET: a cluster's pipeline refuses multi-key commands
                    pipe.get(src.keys.job(readable, queue))
                    pipe.get(src.keys.tries(readable, queue))
                    pipe.get(src.keys.lock(readable, queue))
                    pipe.zscore(src.keys.priority(queue), readable)
                replies = await pipe.execute()
            found = iter(zip(replies[::4], replies[1::4], replies[2::4], replies[3::4], strict=True))
            for job_id, (_, due) in zip(ids, page, strict=True):
                if job_id is None:  # not UTF-8: no trigger writes such an id; the source's own business
                    left += 1
                    continue
                stored, tries, lock, ranked = next(found)
                if await self._move_job(job_id, stored, tries, lock, due, ranked):
                    moved.jobs += 1
                    left += moved.dry_run
                else:
                    left += 1
            self.progress(f"{moved.jobs} jobs moved")

    async def _move_job(
        self,
        job_id: str,
        stored: bytes | None,
        tries: bytes | None,
        lock: bytes | None,
        due: float,
        ranked: float | None,
    ) -> bool:
        """Whether the job moved (or would, in a dry run), with its priority (`ranked`: its score in
        the priority set, None for priority 0); a held or taken one is noted."""
        queue, src, dst, moved = self.queue, self.source, self.target, self.moved
        if stored is None:  # finished meanwhile, or a dangling id
            return False
        if lock is not None:
            moved.held.append(job_id)
            return False
        if moved.dry_run:
            return True
        if not await dst.redis.set(dst.keys.job(job_id, queue), stored, nx=True):
            moved.taken.append(job_id)
            return False
        async with dst.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(dst.keys.queue(queue), {job_id: due})
            if ranked is not None:
                pipe.zadd(dst.keys.priority(queue), {job_id: ranked})
            if tries is not None:
                pipe.set(dst.keys.tries(job_id, queue), tries)
            await pipe.execute()
        names = [src.keys.queue(queue), *(src.keys.finished(queue, status) for status in _FINISHED)]
        if int(await src.run(scripts.REMOVE, names, [job_id])) < 0:  # a worker took it meanwhile
            async with dst.redis.pipeline(transaction=False) as pipe:
                pipe.delete(dst.keys.job(job_id, queue), dst.keys.tries(job_id, queue))
                pipe.zrem(dst.keys.queue(queue), job_id)
                pipe.zrem(dst.keys.priority(queue), job_id)
                await pipe.execute()
            moved.held.append(job_id)
            return False
        if ranked is not None:
            await src.redis.zrem(src.keys.priority(queue), job_id)
        return True

    async def _records(self) -> None:
        queue, src, dst, moved = self.queue, self.source, self.target, self.moved
        for status in _FINISHED:
            finished = src.keys.finished(queue, status)
            left = 0
            while page := await src.redis.zrange(finished, left, left + PAGE - 1, withscores=True):
                rows = [(_text(raw), score) for raw, score in page]
                readable = [(job_id, score) for job_id, score in rows if job_id is not None]
                left += len(rows) - len(readable)
                async with src.redis.pipeline(transaction=False) as pipe:
                    for job_id, _ in readable:
                        pipe.get(src.keys.record(job_id, queue))
                        pipe.lrange(src.keys.attempts(job_id, queue), 0, -1)
                    found = await pipe.execute()
                present = [(job_id, score, found[2 * i + 1]) for i, (job_id, score) in enumerate(readable)]
                records = {job_id: found[2 * i] for i, (job_id, _) in enumerate(readable)}
                present = [row for row in present if records[row[0]] is not None]
                left += len(readable) - len(present)  # dangling ids stay behind
                moved.records += len(present)
                if moved.dry_run:
                    left += len(present)
                    continue
                async with dst.redis.pipeline(transaction=False) as pipe:
                    for job_id, score, attempts in present:
                        pipe.set(dst.keys.record(job_id, queue), records[job_id])
                        pipe.zadd(dst.keys.finished(queue, status), {job_id: score})
                        if attempts:
                            pipe.rpush(dst.keys.attempts(job_id, queue), *attempts)
                    await pipe.execute()
                async with src.redis.pipeline(transaction=False) as pipe:
                    for job_id, _, _ in present:
                        pipe.delete(src.keys.record(job_id, queue), src.keys.attempts(job_id, queue))
                        pipe.zrem(finished, job_id)
                    await pipe.execute()
            self.progress(f"{moved.records} records moved")

    async def _schedules(self) -> None:
        queue, src, dst, moved = self.queue, self.source, self.target, self.moved
        names = (src.keys.schedules(queue), src.keys.schedules_due(queue), src.keys.schedules_last(queue))
        async with src.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(names[0])
            pipe.zrange(names[1], 0, -1, withscores=True)
            pipe.hgetall(names[2])
            defined, due, last = await pipe.execute()
        moved.schedules = len(defined)
        if moved.dry_run or not defined:
            return
        async with dst.redis.pipeline(transaction=False) as pipe:
            pipe.hset(dst.keys.schedules(queue), mapping=defined)
            if due:
                pipe.zadd(dst.keys.schedules_due(queue), dict(due))
            if last:
                pipe.hset(dst.keys.schedules_last(queue), mapping=last)
            await pipe.execute()
        await src.redis.delete(*names)

    async def _trigger_keys(self) -> None:
        """The keys of keyed triggers (debounce, throttle) still alive, with what is left of their TTL."""
        queue, src, dst, moved = self.queue, self.source, self.target, self.moved
        prefix, into = src.keys.trigger_keys_prefix(queue), dst.keys.trigger_keys_prefix(queue)
        async for raw_key in src.redis.scan_iter(match=_glob_escape(prefix) + "*", count=1000):
            async with src.redis.pipeline(transaction=False) as pipe:
                pipe.get(raw_key)
                pipe.pttl(raw_key)
                value, ttl = await pipe.execute()
            if value is None:
                continue
            moved.trigger_keys += 1
            if moved.dry_run:
                continue
            name = into.encode() + raw_key[len(prefix.encode()) :]
            await dst.redis.set(name, value, px=ttl if ttl > 0 else None)
            await src.redis.delete(raw_key)


def _text(raw: bytes) -> str | None:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


def _glob_escape(text: str) -> str:
    """`text` matched literally by a SCAN pattern (a queue name may hold `*`, `?` or `[`)."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _shown(conn: Connection) -> str:
    return redact_url(conn.url)
