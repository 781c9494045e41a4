"""Jobs for the job-control tests (rate limits, max_running, priorities): `JOBS_MODULES=tests.control_jobs`.

Every job is on the queue named by `CONTROL_JOBS_QUEUE` (`control.paced` on that queue with `-q`
appended, which JOBS_QUEUE_RATE_LIMIT limits). Each records its run in Redis under the queue's
name, so the test process can read when every attempt started and ended, across processes.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis

from jobs import RateLimit, job

QUEUE = os.environ.get("CONTROL_JOBS_QUEUE", "control-jobs")
PACED_QUEUE = QUEUE + "-q"
_client: Redis | None = None


def key(queue: str, what: str) -> str:
    """The list a job of `queue` appends to: `starts` ("name n unix-time"), `spans` ("start end"), `order` (n)."""
    return f"{queue}:control:{what}"


def client() -> Redis:
    global _client
    if _client is None:
        _client = Redis.from_url(os.environ["REDIS_URL"])
    return _client


async def _started(name: str, payload: dict[str, Any], queue: str = QUEUE) -> float:
    now = time.time()
    await client().rpush(key(queue, "starts"), f"{name} {payload.get('n', 0)} {now}")  # type: ignore[misc]
    return now


async def limited(payload: dict[str, Any]) -> None:
    await _started("limited", payload)


async def free(payload: dict[str, Any]) -> None:
    await _started("free", payload)
    await asyncio.sleep(float(payload.get("ms", 0)) / 1000)


async def pair(payload: dict[str, Any]) -> None:
    started = time.time()
    await asyncio.sleep(float(payload.get("ms", 200)) / 1000)
    await client().rpush(key(QUEUE, "spans"), f"{started} {time.time()}")  # type: ignore[misc]


async def ordered(payload: dict[str, Any]) -> None:
    await client().rpush(key(QUEUE, "order"), str(payload["n"]))  # type: ignore[misc]


async def paced(payload: dict[str, Any]) -> None:
    await _started("paced", payload, PACED_QUEUE)


limited_job = job(name="control.limited", run=limited, queue=QUEUE, rate_limit=RateLimit(5, per=timedelta(seconds=1)))
free_job = job(name="control.free", run=free, queue=QUEUE)
pair_job = job(name="control.pair", run=pair, queue=QUEUE, max_running=2)
ordered_job = job(name="control.ordered", run=ordered, queue=QUEUE)
paced_job = job(name="control.paced", run=paced, queue=PACED_QUEUE, attempts=1)
