"""`BurstWorker` (the `jobs_worker` fixture): a real worker against Redis, until its queues are empty."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from ..runtime.worker import Worker
from ..settings import load_settings


class BurstWorker:
    """Runs a real worker against Redis (the `jobs_worker` fixture) until its queues are empty."""

    async def drain(self, queues: Iterable[str] | None = None, *, timeout: float = 30.0, **settings: Any) -> Worker:
        """Run `jobs.worker.Worker(burst=True)` until nothing is due, scheduled or running.

        `queues` defaults to every queue of the defined jobs; `settings` override the environment
        (e.g. `jobs_poll_interval=0.1`). A retry waits out its backoff for real, so give test jobs
        a short one. Past `timeout` seconds the worker is stopped (running jobs released) and
        `TimeoutError` raised. Returns the worker: `worker.totals()` counts what it did.
        """
        worker = Worker(
            queues=list(queues) if queues is not None else None,
            settings=load_settings(**settings) if settings else None,
            burst=True,
            handle_signals=False,
        )
        task = asyncio.ensure_future(worker.run())
        done, _ = await asyncio.wait([task], timeout=timeout)
        if not done:
            worker.request_stop()
            worker.request_stop()  # the second request does not wait for running jobs
            await asyncio.wait([task], timeout=10)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise TimeoutError(f"the burst worker did not drain {worker.queues} within {timeout:g} s")
        task.result()
        return worker
