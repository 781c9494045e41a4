"""Jobs for the `jobs` command's end-to-end tests, on the queue named by CLI_TEST_QUEUE.

Loaded by the `jobs` subprocesses through JOBS_MODULES=tests.cli_jobs; each test passes its own
queue, so concurrent test runs on the same Redis never see each other's jobs.
"""

from __future__ import annotations

import asyncio
import os

from pydantic import BaseModel

from jobs import Backoff, UnrecoverableError, job
from jobs.store import connection

QUEUE = os.environ.get("CLI_TEST_QUEUE", "cli-test")


def flag_key(queue: str) -> str:
    """Set this key and `cli-flaky` succeeds; until then it fails."""
    return f"cli-test:{queue}:flag"


class Number(BaseModel):
    n: int


@job(name="cli-double", queue=QUEUE, attempts=3, backoff=Backoff.fixed(delay_ms=10), timeout=5)
async def double(payload: Number) -> int:
    return payload.n * 2


@job(name="cli-flaky", queue=QUEUE, attempts=1)
async def flaky(payload: Number) -> str:
    if not await (await connection.for_current_loop()).redis.exists(flag_key(QUEUE)):
        raise UnrecoverableError(f"flag not set for {payload.n}")
    return "recovered"


OTHER_QUEUE = os.environ.get("CLI_TEST_OTHER_QUEUE")
if OTHER_QUEUE:  # a second queue, for the tests that span queues

    @job(name="cli-flaky-other", queue=OTHER_QUEUE, attempts=1)
    async def flaky_other(payload: Number) -> str:
        if not await (await connection.for_current_loop()).redis.exists(flag_key(OTHER_QUEUE)):
            raise UnrecoverableError(f"flag not set for {payload.n}")
        return "recovered"


if os.environ.get("CLI_TEST_WAIT_JOB"):  # a job that runs until told, for the tests of a running job

    @job(name="cli-wait", queue=QUEUE, attempts=1, timeout=30)
    async def wait_for_flag(payload: Number) -> str:
        redis = (await connection.for_current_loop()).redis
        for _ in range(3000):
            if await redis.exists(flag_key(QUEUE)):
                return "flag seen"
            await asyncio.sleep(0.01)
        return "timed out"
