"""Jobs for the cancel and progress tests in a worker subprocess (`JOBS_MODULES=tests.cancel_jobs`).

Each writes markers to Redis under `cancel-test:{job id}:...`, so the test process, which never
imports this module, sees when the job started, when its `finally` ran and whether its async
context manager was exited.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis

from jobs import Backoff, current_attempt, job

QUEUE = os.environ.get("PROCESS_JOBS_QUEUE", "cancel-jobs")


def marker(job_id: str, what: str) -> str:
    return f"cancel-test:{job_id}:{what}"


@asynccontextmanager
async def connection_to(redis: Redis, job_id: str) -> AsyncIterator[None]:
    """Stands for a resource a job holds (a connection, a lock): its exit must run on cancel."""
    try:
        yield
    finally:
        await redis.set(marker(job_id, "exited"), "1")


async def long_running(payload: dict[str, Any]) -> str:
    """Runs for `payload["seconds"]` (default 60), reporting progress, unless cancelled."""
    job_id = current_attempt().job_id
    redis: Redis = Redis.from_url(os.environ["REDIS_URL"])
    await redis.incr(marker(job_id, "started"))
    try:
        async with connection_to(redis, job_id):
            await current_attempt().report_progress(0.25, message="1 of 4 steps")
            await asyncio.sleep(float(payload.get("seconds", 60)))
        return "done"
    finally:
        await redis.set(marker(job_id, "finally"), repr(time.time()))
        await redis.aclose()


async def quick(payload: dict[str, Any]) -> str:
    return "quick"


job(name="cancel.long", run=long_running, queue=QUEUE, attempts=3, backoff=Backoff.fixed(delay_ms=10))
job(name="cancel.quick", run=quick, queue=QUEUE)
