"""The pages: overview, a queue's jobs, one job, workers, schedules. Every read is `jobs.admin`'s,
and each page costs Redis work in proportion to what it shows (see the README's Dashboard section).

A page asked with `?partial=1` (its own polling, every `poll_seconds`) renders its live part only.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .. import registry
from ..ops import admin
from ..ops import schedules as schedule_ops
from ..records import JobStatus
from .chart import sparkline
from .directory import QueueDirectory
from .render import Renderer

LISTED = (
    JobStatus.QUEUED,
    JobStatus.SCHEDULED,
    JobStatus.RUNNING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
)
PER_PAGE = 25
MESSAGES = {
    "retried": "The job is queued again, with its payload and a fresh set of attempts.",
    "removed": "The job was removed.",
    "cancelled": "The job was cancelled before it started: it is kept as cancelled and will not run.",
    "cancelling": "The job is being cancelled: its worker stops it now, and keeps it as cancelled.",
    "not-cancelled": "Nothing changed: the job had finished already.",
    "paused": "The queue is paused: workers take nothing from it; triggers still enqueue.",
    "already-paused": "The queue was paused already.",
    "resumed": "The queue is resumed: idle workers start at once.",
    "not-paused": "The queue was not paused.",
    "triggered": "The job is enqueued.",
    "taken": "Nothing enqueued: a job with this id is already queued, running or retained.",
    "ran-now": "The schedule's job is enqueued for one extra run now; its next tick does not move.",
}


class Pages:
    def __init__(self, renderer: Renderer, directory: QueueDirectory) -> None:
        self.renderer = renderer
        self.directory = directory

    async def overview(self, request: Request) -> Response:
        workers = await admin.workers()
        queues = self.directory.queues(workers, await admin.paused_queues())
        counts = await admin.counts_many(queues, workers)
        charts = await admin.throughput_many(queues, 60)
        rows = [(c, sparkline(charts[c.queue]), charts[c.queue]) for c in counts]
        totals = {s: sum(getattr(c, s.value) for c in counts) for s in LISTED}
        last_hour = {
            "completed": sum(m.completed for q in charts.values() for m in q),
            "failed": sum(m.failed for q in charts.values() for m in q),
        }
        jobs = sorted(registry.all_jobs(), key=lambda j: (j.queue, j.name))
        return self._page(
            request,
            "overview",
            rows=rows,
            totals=totals,
            last_hour=last_hour,
            workers=workers,
            jobs=jobs,
            title="Overview",
        )

    async def queue(self, request: Request) -> Response:
        queue = request.path_params["queue"]
        if not await admin.queue_exists(queue):
            return self.not_found(
                request, "No such queue", f"No job uses the queue {queue!r}, and Redis holds nothing for it."
            )
        params = request.query_params
        try:
            status = JobStatus(params.get("state") or "queued")
        except ValueError:
            status = JobStatus.QUEUED
        if status not in LISTED:
            status = JobStatus.QUEUED
        page = _positive(params.get("page"))
        name = (params.get("job") or "").strip() or None
        oldest = params.get("order") == "oldest"
        workers = await admin.workers()
        (counts,) = await admin.counts_many([queue], workers)
        listing = await admin.jobs_page(
            queue, status, page=page, per_page=PER_PAGE, job_name=name, oldest_first=oldest, workers=workers
        )
        names = sorted({j.name for j in registry.all_jobs() if j.queue == queue} | ({name} if name else set()))
        return self._page(
            request,
            "queue",
            queue=queue,
            counts=counts,
            listing=listing,
            status=status,
            states=LISTED,
            job_name=name or "",
            names=names,
            order="oldest" if oldest else "newest",
            title=f"Queue {queue}",
        )

    async def job(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        info = await admin.get_job(job_id)
        if info is None:
            message = f"No job with id {job_id!r}: it never existed, or it is no longer retained."
            return self.not_found(request, "No such job", message)
        attempts = await admin.attempts(job_id, info)
        defined = info.job is not None and info.job in {j.name for j in registry.all_jobs()}
        return self._page(request, "job", info=info, attempts=attempts, defined=defined, title=f"Job {job_id}")

    async def workers(self, request: Request) -> Response:
        return self._page(request, "workers", workers=await admin.workers(), title="Workers")

    async def schedules(self, request: Request) -> Response:
        """Every stored schedule, with its next and last run; one read per queue that has any."""
        found = await schedule_ops.list_schedules()
        defined = {j.name for j in registry.all_jobs()}
        return self._page(request, "schedules", schedules=found, defined=defined, title="Schedules")

    async def search(self, request: Request) -> Response:
        """The job id box on every page: straight to that job's page."""
        job_id = (request.query_params.get("id") or "").strip()
        links = self.renderer.links(request)
        return RedirectResponse(links.job(job_id) if job_id else links.home(), status_code=303)

    def not_found(self, request: Request, title: str, message: str) -> Response:
        return self.renderer.page(request, "error.html", 404, title=title, message=message)

    def _page(self, request: Request, name: str, **context: Any) -> Response:
        partial = request.query_params.get("partial") == "1"
        flash = _flash(request)
        return self.renderer.page(request, f"_{name}.html" if partial else f"{name}.html", flash=flash, **context)


def _positive(text: str | None) -> int:
    try:
        return max(1, int(text or "1"))
    except ValueError:
        return 1


def _flash(request: Request) -> str | None:
    """The message an action redirected here with: one of ours by its code, never text from the URL."""
    params = request.query_params
    done = params.get("done")
    if done == "retried-all":
        retried, skipped = _count(params.get("n")), _count(params.get("skipped"))
        text = f"{retried} failed job{'s' if retried != 1 else ''} queued again with fresh attempts."
        return text + (f" {skipped} could not be retried (see their pages)." if skipped else "")
    return MESSAGES.get(done or "")


def _count(text: str | None) -> int:
    try:
        return max(0, int(text or "0"))
    except ValueError:
        return 0
