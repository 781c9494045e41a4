"""A queue's jobs in one state, a page at a time: what the dashboard lists, at the cost of what it shows.

Queued and scheduled jobs are read from the queue's sorted set by rank (due jobs come first in it,
so each state is a range of ranks: O(log N + page)), retained ones from the completed and failed
sets, running ones from the worker heartbeats. A filter by job name looks at the first `WINDOW`
entries of the state only, reading just the start of each stored job or record (where the name
is), and says so: never a scan of a whole queue.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..clock import now_ms
from ..records import ErrorInfo, JobRecord, JobStatus
from . import keys, presence, stored
from .connection import Client, Connection
from .keys import Layout

WINDOW = 2000  # entries a name filter examines per request
PREFIX_BYTES = 512  # of a stored job or record: enough to hold its id, queue and job name
MAX_PER_PAGE = 200
_NAME_FIELD = {"stored": b'"f":', "record": b'"job":'}


@dataclass(frozen=True, slots=True)
class JobSummary:
    """One row of a listing: enough to recognise a job; `get_job` has the rest."""

    id: str
    status: JobStatus
    job: str | None
    queue: str
    attempts: int | None = None
    enqueued_ms: int | None = None
    due_ms: int | None = None  # queued, scheduled
    started_ms: int | None = None  # running, finished
    finished_ms: int | None = None
    payload: Any = None
    result: Any = None
    error: ErrorInfo | None = None
    worker: str | None = None  # running: the worker's id


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of a listing, newest first unless `oldest_first`. `total` counts the whole state;
    with a name filter, `examined` is how many of its first entries were searched (at most WINDOW)
    and `matches` how many of those matched."""

    queue: str
    status: JobStatus
    page: int
    per_page: int
    total: int
    items: list[JobSummary] = field(default_factory=list)
    has_next: bool = False
    job_name: str | None = None
    examined: int | None = None
    matches: int | None = None
    oldest_first: bool = False


async def jobs_page(
    conn: Connection,
    queue: str,
    status: JobStatus,
    *,
    page: int = 1,
    per_page: int = 25,
    job_name: str | None = None,
    oldest_first: bool = False,
    workers: Sequence[presence.WorkerInfo] | None = None,
) -> JobPage:
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be from 1 to {MAX_PER_PAGE}, got {per_page}")
    page = max(1, page)
    page_of = _Pager(conn.keys, queue, status, page, per_page, job_name or None, oldest_first)
    if status is JobStatus.RUNNING:
        return page_of.running(workers if workers is not None else await presence.live_workers(conn.redis, conn.keys))
    if status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED):
        return await page_of.retained(conn.redis)
    if status in (JobStatus.QUEUED, JobStatus.SCHEDULED):
        return await page_of.live(conn.redis)
    raise ValueError(f"no listing of {status.value} jobs")


@dataclass(frozen=True, slots=True)
class _Pager:
    keys: Layout
    queue: str
    status: JobStatus
    page: int
    per_page: int
    job_name: str | None
    oldest_first: bool

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def result(
        self,
        total: int,
        items: list[JobSummary],
        has_next: bool,
        examined: int | None = None,
        matches: int | None = None,
    ) -> JobPage:
        return JobPage(
            self.queue,
            self.status,
            self.page,
            self.per_page,
            total,
            items,
            has_next,
            self.job_name,
            examined,
            matches,
            self.oldest_first,
        )

    def running(self, workers: Sequence[presence.WorkerInfo]) -> JobPage:
        found = presence.running_by_queue(workers).get(self.queue, {})
        rows = sorted(found.values(), key=lambda pair: pair[0].started_ms, reverse=not self.oldest_first)
        if self.job_name is not None:
            rows = [(job, worker) for job, worker in rows if job.job == self.job_name]
        shown = rows[self.offset : self.offset + self.per_page]
        items = [
            JobSummary(
                job.id, JobStatus.RUNNING, job.job, self.queue, job.attempt, started_ms=job.started_ms, worker=w.id
            )
            for job, w in shown
        ]
        has_next = len(rows) > self.offset + self.per_page
        if self.job_name is None:
            return self.result(len(found), items, has_next)
        return self.result(len(found), items, has_next, examined=len(found), matches=len(rows))

    async def retained(self, redis: Client) -> JobPage:
        key = self.keys.finished(self.queue, self.status.value)
        total = await redis.zcard(key)
        if self.job_name is None:
            ids = await _range(redis, key, 0, total, self.offset, self.per_page + 1, newest_first=not self.oldest_first)
            items = await _records(redis, self.keys, self.queue, ids[: self.per_page])
            return self.result(total, items, len(ids) > self.per_page)
        window = await _range(redis, key, 0, total, 0, WINDOW, newest_first=not self.oldest_first)
        matching = await _named(redis, window, self.job_name, self._keyed(self.keys.record), "record")
        shown = matching[self.offset : self.offset + self.per_page]
        items = await _records(redis, self.keys, self.queue, shown)
        has_next = len(matching) > self.offset + self.per_page
        return self.result(total, items, has_next, examined=len(window), matches=len(matching))

    def _keyed(self, key_of: Callable[[str, str | None], str]) -> Callable[[str], str]:
        return lambda job_id: key_of(job_id, self.queue)

    async def live(self, redis: Client) -> JobPage:
        """Queued jobs are the due ranks [0, due) of the queue, scheduled ones [due, size); running
        jobs sit among the due ones, locked: they are left out of a queued page."""
        key = self.keys.queue(self.queue)
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zcount(key, "-inf", now_ms())
            pipe.zcard(key)
            due, size = await pipe.execute()
        start, stop = (0, due) if self.status is JobStatus.QUEUED else (due, size)
        newest = not self.oldest_first
        if self.job_name is None:
            ids = await _range(redis, key, start, stop, self.offset, self.per_page + 1, newest_first=newest)
            items = await self._live_jobs(redis, ids[: self.per_page])
            return self.result(stop - start, items, len(ids) > self.per_page)
        window = await _range(redis, key, start, stop, 0, WINDOW, newest_first=newest)
        matching = await _named(redis, window, self.job_name, self._keyed(self.keys.job), "stored")
        items = await self._live_jobs(redis, matching[self.offset : self.offset + self.per_page])
        has_next = len(matching) > self.offset + self.per_page
        return self.result(stop - start, items, has_next, examined=len(window), matches=len(matching))

    async def _live_jobs(self, redis: Client, ids: list[str]) -> list[JobSummary]:
        if not ids:
            return []
        layout, queue = self.keys, self.queue
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.get(layout.job(job_id, queue))
                pipe.get(layout.lock(job_id, queue))
                pipe.get(layout.tries(job_id, queue))
                pipe.zscore(layout.queue(queue), job_id)
            replies = await pipe.execute()
        items = []
        for index, job_id in enumerate(ids):
            raw, lock, tries, due = replies[index * 4 : index * 4 + 4]
            if raw is None or due is None or keys.running_lock(lock):
                continue  # finished meanwhile, or running (listed with the running jobs)
            try:
                data = stored.decode(raw)
                name, payload, enqueued = data.name, data.payload, data.enqueued_ms or None
            except stored.UndecodableJob:
                name, payload, enqueued = None, None, None
            ahead = lock is not None  # claimed ahead: its attempt is counted, not begun
            attempts = int(tries or 0) - ahead
            items.append(
                JobSummary(job_id, self.status, name, self.queue, attempts, enqueued, int(due), payload=payload)
            )
        return items


async def _range(
    redis: Client, key: str, start: int, stop: int, offset: int, count: int, *, newest_first: bool
) -> list[str]:
    """Up to `count` ids from `offset` within the ranks [start, stop) of a sorted set, from either end."""
    if offset >= stop - start or count <= 0:
        return []
    if newest_first:
        last = stop - 1 - offset
        first = max(start, last - count + 1)
        ids = await redis.zrange(key, first, last)
        ids.reverse()
    else:
        first = start + offset
        ids = await redis.zrange(key, first, min(stop, first + count) - 1)
    return [raw.decode(errors="backslashreplace") for raw in ids]


async def _named(redis: Client, ids: list[str], name: str, key_of: Callable[[str], str], kind: str) -> list[str]:
    """The ids among `ids` whose stored job (or record) names job `name`, reading the start of each."""
    if not ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.getrange(key_of(job_id), 0, PREFIX_BYTES - 1)
        prefixes = await pipe.execute()
    matching, unsure = [], []
    for job_id, prefix in zip(ids, prefixes, strict=True):
        found = _name_in(prefix, kind)
        if found == name:
            matching.append(job_id)
        elif found is None and len(prefix) == PREFIX_BYTES:  # a very long id or queue name: read it all
            unsure.append(job_id)
    if unsure:
        whole = dict(zip(unsure, await redis.mget([key_of(i) for i in unsure]), strict=True))
        confirmed = {i for i, raw in whole.items() if raw is not None and _full_name(raw, kind) == name}
        confirmed.update(matching)
        matching = [i for i in ids if i in confirmed]
    return matching


def _name_in(prefix: bytes, kind: str) -> str | None:
    """The job name in the first bytes of a stored job (`"f":`) or a record (`"job":`), if they hold it.

    A quote inside a JSON string is always escaped, so the first `,"f":` (or `,"job":`) is the field.
    """
    marker = b"," + _NAME_FIELD[kind]
    at = prefix.find(marker)
    if at < 0:
        return None
    text = prefix[at + len(marker) :].decode(errors="ignore")
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _full_name(raw: bytes, kind: str) -> str | None:
    try:
        return stored.decode(raw).name if kind == "stored" else JobRecord.from_json(raw).job
    except (stored.UndecodableJob, ValueError, TypeError, KeyError):
        return None


async def _records(redis: Client, layout: Layout, queue: str, ids: list[str]) -> list[JobSummary]:
    if not ids:
        return []
    items = []
    for raw in await redis.mget([layout.record(i, queue) for i in ids]):
        if raw is None:
            continue  # trimmed meanwhile
        r = JobRecord.from_json(raw)
        items.append(
            JobSummary(
                r.id,
                r.status,
                r.job,
                r.queue,
                r.attempts,
                r.enqueued_ms or None,
                started_ms=r.started_ms,
                finished_ms=r.finished_ms,
                payload=r.payload,
                result=r.result,
                error=r.error,
            )
        )
    return items
