"""A queue's jobs by state, a page at a time: newest first, by rank, filtered within a bounded window."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from jobs import JobStatus, UnrecoverableError, admin
from jobs.store import browse

from .conftest import Define, StartWorker, run_burst
from .helpers import wait_until


class Item(BaseModel):
    n: int


async def _ok(payload: Item) -> int:
    return payload.n * 10


async def _fail(payload: Item) -> None:
    raise UnrecoverableError(f"bad {payload.n}")


async def test_queued_jobs_are_listed_newest_first_page_by_page(define: Define, queue: str) -> None:
    """Pages of two: the newest first, `has_next` until the last page; oldest_first reverses it."""
    job = define(_ok)
    handles = [await job.trigger({"n": n}) for n in range(5)]
    await job.trigger({"n": 99}, delay=60)  # scheduled: not on the queued pages

    first = await admin.jobs_page(queue, JobStatus.QUEUED, per_page=2)
    last = await admin.jobs_page(queue, JobStatus.QUEUED, page=3, per_page=2)
    oldest = await admin.jobs_page(queue, JobStatus.QUEUED, per_page=2, oldest_first=True)

    assert [i.id for i in first.items] == [handles[4].id, handles[3].id] and first.has_next and first.total == 5
    assert [i.id for i in last.items] == [handles[0].id] and not last.has_next
    assert [i.id for i in oldest.items] == [handles[0].id, handles[1].id]
    row = first.items[0]
    assert (row.status, row.job, row.queue, row.payload, row.attempts) == (
        JobStatus.QUEUED,
        job.name,
        queue,
        {"n": 4},
        0,
    )
    assert row.due_ms is not None and row.enqueued_ms is not None


async def test_scheduled_jobs_are_the_ranks_after_the_due_ones(define: Define, queue: str) -> None:
    """Delayed jobs are listed as scheduled, with their due time; queued ones are not among them."""
    job = define(_ok)
    await job.trigger({"n": 1})
    later = [await job.trigger({"n": n}, delay=60 + n) for n in range(3)]

    page = await admin.jobs_page(queue, JobStatus.SCHEDULED)

    assert [i.id for i in page.items] == [h.id for h in reversed(later)] and page.total == 3
    assert all(i.status is JobStatus.SCHEDULED for i in page.items)


async def test_retained_jobs_are_listed_with_their_result_or_error(define: Define, queue: str) -> None:
    """Completed rows carry the result, failed rows the error; newest finished first."""
    ok, bad = define(_ok), define(_fail, attempts=1)
    await ok.trigger_many([{"n": n} for n in range(3)])
    await bad.trigger({"n": 7})
    await run_burst([queue])

    done = await admin.jobs_page(queue, JobStatus.COMPLETED)
    failed = await admin.jobs_page(queue, JobStatus.FAILED)

    assert sorted(i.result for i in done.items) == [0, 10, 20] and done.total == 3
    assert [i.finished_ms for i in done.items] == sorted((i.finished_ms for i in done.items), reverse=True)
    (row,) = failed.items
    assert row.error is not None and row.error.message == "bad 7" and row.job == bad.name


async def test_a_name_filter_searches_a_bounded_window_and_says_so(
    define: Define, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the first WINDOW entries are examined; `examined` and `matches` tell how far it looked."""
    a, b = define(_ok), define(_ok)
    for n in range(6):
        await (a if n % 2 else b).trigger({"n": n})
    monkeypatch.setattr(browse, "WINDOW", 4)

    page = await admin.jobs_page(queue, JobStatus.QUEUED, job_name=a.name)

    assert (page.examined, page.matches, page.total) == (4, 2, 6)
    assert [i.payload for i in page.items] == [{"n": 5}, {"n": 3}]
    await run_burst([queue])
    retained = await admin.jobs_page(queue, JobStatus.COMPLETED, job_name=b.name, per_page=1)
    assert (retained.examined, retained.matches, len(retained.items), retained.has_next) == (4, 2, 1, True)
    assert retained.items[0].job == b.name


async def test_a_filter_reads_the_name_of_a_job_whose_long_id_fills_the_prefix(define: Define, queue: str) -> None:
    """A job id longer than the bytes read at first: the whole stored job is read to find the name."""
    job = define(_ok)
    long_id = "x" * (browse.PREFIX_BYTES + 10)
    await job.trigger({"n": 1}, job_id=long_id)
    await define(_ok).trigger({"n": 2})

    page = await admin.jobs_page(queue, JobStatus.QUEUED, job_name=job.name)

    assert [i.id for i in page.items] == [long_id]


async def test_running_jobs_are_listed_from_the_heartbeats_not_among_the_queued(
    define: Define, start_worker: StartWorker, queue: str
) -> None:
    """A running job is on the running page with its worker, and left out of the queued page."""
    release = asyncio.Event()

    async def block(payload: Item) -> None:
        await release.wait()

    blocker = define(block)
    worker = await start_worker(concurrency=1)
    running = await blocker.trigger({"n": 1})

    async def listed() -> admin.JobPage | None:
        page = await admin.jobs_page(queue, JobStatus.RUNNING)
        return page if page.items else None

    page = await wait_until(listed, what="the running job listed")
    queued = await admin.jobs_page(queue, JobStatus.QUEUED)
    release.set()
    await running.result(timeout=5)

    (row,) = page.items
    assert (row.id, row.worker, row.attempts) == (running.id, worker.id, 1) and row.started_ms
    assert running.id not in [i.id for i in queued.items]


async def test_a_page_size_out_of_bounds_is_refused(queue: str) -> None:
    """per_page is 1..MAX_PER_PAGE: a listing never reads an unbounded page."""
    with pytest.raises(ValueError, match="per_page"):
        await admin.jobs_page(queue, JobStatus.QUEUED, per_page=browse.MAX_PER_PAGE + 1)
