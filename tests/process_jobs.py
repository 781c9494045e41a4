"""Jobs for the process-level tests: `JOBS_MODULES=tests.process_jobs` in a worker subprocess.

Each test runs its own worker on its own queue, named by `PROCESS_JOBS_QUEUE`; the test process
triggers these jobs by name (see `tests.processes.remote_job`), it never imports this module.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import structlog
from redis.asyncio import Redis

from jobs import Backoff, Every, current_attempt, job

QUEUE = os.environ.get("PROCESS_JOBS_QUEUE", "process-jobs")
if os.environ.get("PROCESS_JOBS_BROKEN"):
    raise RuntimeError("this job module is broken on purpose")
if os.environ.get("PROCESS_JOBS_NEEDS_SETTING"):
    SETTING = os.environ["PROCESS_JOBS_MISSING_SETTING"]  # a KeyError raised inside os.py, on import
FAIL_ATTEMPTS = int(os.environ.get("PROCESS_JOBS_FAIL_ATTEMPTS", "3"))
FAIL_DELAY_MS = int(os.environ.get("PROCESS_JOBS_FAIL_DELAY_MS", "100"))

log = structlog.get_logger("process_jobs")


async def echo(payload: dict[str, Any]) -> Any:
    """Logs a line of its own (which must carry the job's identity), then returns its payload."""
    log.info("echo.said", text=payload.get("text"))
    return payload


async def wait_for_flag(payload: dict[str, Any]) -> str:
    """Runs until the Redis key `payload["flag"]` exists, or for `payload["seconds"]` (default 30)."""
    redis: Redis = Redis.from_url(os.environ["REDIS_URL"])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + float(payload.get("seconds", 30))
    flag = payload.get("flag")
    try:
        while loop.time() < deadline:
            if flag and await redis.exists(flag):
                return "flag seen"
            await asyncio.sleep(0.02)
        return "timed out"
    finally:
        await redis.aclose()


async def always_fails(payload: dict[str, Any]) -> None:
    raise RuntimeError(f"broken on purpose: {payload.get('why', 'test')}")


job(name="process.echo", run=echo, queue=QUEUE)
job(name="process.wait", run=wait_for_flag, queue=QUEUE, attempts=2, backoff=Backoff.fixed(delay_ms=50))
job(
    name="process.fail",
    run=always_fails,
    queue=QUEUE,
    attempts=FAIL_ATTEMPTS,
    backoff=Backoff.fixed(delay_ms=FAIL_DELAY_MS),
)

TICK_SECONDS = os.environ.get("PROCESS_JOBS_TICK_SECONDS")
if TICK_SECONDS:  # a declared schedule, for the tests that count runs against ticks

    async def record_tick() -> None:
        """Appends its job id (`schedule:process.tick:<tick ms>`) to the queue's ticks list."""
        attempt = current_attempt()
        assert attempt is not None
        redis: Redis = Redis.from_url(os.environ["REDIS_URL"])
        try:
            await redis.rpush(f"process-jobs:{QUEUE}:ticks", attempt.job_id)  # type: ignore[misc]
        finally:
            await redis.aclose()

    missed = "skip" if os.environ.get("PROCESS_JOBS_TICK_MISSED") == "skip" else "once"
    job(name="process.tick", run=record_tick, queue=QUEUE, schedule=Every(seconds=float(TICK_SECONDS), missed=missed))
