"""Bench peer: this project, `jobs`, through each of its entry points.

Variants (`--variant`):
- `worker`: the `python -m servers.jobs` worker (jobs.worker.Worker): typed payload validated,
  lifecycle events logged as JSON lines at INFO, the latest 1000 results retained. As shipped.
- `bare`: the same loop with what the library adds turned off: payload typed `Any`, logging
  at WARNING (no per-job lines), no retention. The ratio worker/bare is the library's overhead.
- `arq`: `arq servers.jobs.WorkerSettings`, arq's own worker loop running our jobs.
- `fast`: `worker` on uvloop, with orjson rendering the log lines (the `fast` extra installed).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from _harness import Peer, run_cli
from _jobs_noop import QUEUE, noop_any_job, noop_job

from jobs import Job, disconnect
from jobs.logs.configure import configure_logging
from jobs.settings import get_settings, load_settings


class JobsPeer(Peer):
    """jobs: `Job.trigger` / `Job.trigger_many`, and a worker per entry point."""

    name = "jobs"
    distribution = "jobs"
    bulk_api = "Job.trigger_many"
    config = {
        "queue": "arq's sorted set; claims and outcomes in one Lua round trip per turn; pub/sub wake-ups",
        "serializer": "JSON (always)",
        "results": "latest 1000 kept per queue (worker, arq); none (bare)",
        "logging": "JSON lines at INFO, 1 per job (worker, arq); WARNING (bare)",
    }

    def __init__(self, redis_url: str, variant: str | None) -> None:
        super().__init__(redis_url, variant or "worker")
        os.environ["REDIS_URL"] = redis_url
        get_settings.cache_clear()
        self.job: Job[Any] = noop_any_job if self.variant == "bare" else noop_job
        if self.variant == "fast":
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # before the harness's asyncio.run

    async def disconnect(self) -> None:
        await disconnect()

    async def enqueue(self) -> None:
        await self.job.trigger({})

    async def enqueue_bulk(self, count: int) -> None:
        await self.job.trigger_many([{}] * count)

    async def run_worker(self, concurrency: int) -> None:
        bare = self.variant == "bare"
        settings = load_settings(
            redis_url=self.redis_url,
            jobs_concurrency=concurrency,
            jobs_queue=QUEUE,
            log_format="json",
            log_level="WARNING" if bare else "INFO",
            jobs_keep_completed=0 if bare else 1000,
        )
        configure_logging(settings.log_format, settings.log_level)
        if self.variant == "arq":
            await _run_arq_worker(settings)
            return
        from jobs.worker import Worker

        await Worker(queues=[QUEUE], settings=settings).run()


async def _run_arq_worker(settings: Any) -> None:
    from arq.worker import create_worker

    from jobs.runtime.arq_compat import worker_settings

    worker = create_worker(worker_settings(settings))
    try:
        await worker.async_run()
    finally:
        await worker.close()


if __name__ == "__main__":
    run_cli(JobsPeer)
