"""Shared by the fault tests: worker environments, a private Redis for the trigger side, figures.

Each fault test prints one `FAULT-FIGURES {...}` line (run pytest with `-s` to see them) and,
when `FAULT_FIGURES_FILE` is set, appends it there as JSON: docs/RELIABILITY.md quotes them.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from redis.asyncio import Redis

from jobs.settings import get_settings
from jobs.store import connection

from .helpers import wait_until
from .processes import WorkerProcess, process_env
from .redis_server import RedisServer

FAULT_JOBS = "tests.fault_jobs"
T = TypeVar("T")


async def eventually(condition: Callable[[], Awaitable[T | None]], *, timeout: float = 5.0, what: str = "") -> T:
    """`wait_until` for an async condition, typed: its truthy result, or a failure after `timeout`."""
    result: T = await wait_until(condition, timeout=timeout, what=what)  # type: ignore[arg-type]
    return result


async def ask(reply: Awaitable[T] | T) -> T:
    """redis-py types its async commands `Awaitable[T] | T`; this is the awaited `T`."""
    return await reply if inspect.isawaitable(reply) else reply


def fault_env(queue: str, redis_url: str, **overrides: str) -> dict[str, str]:
    """A worker subprocess running `tests.fault_jobs` on `queue` against `redis_url`, JSON logs at
    DEBUG (with `job.started`, which fault tests read)."""
    return process_env(
        queue,
        REDIS_URL=redis_url,
        JOBS_MODULES=FAULT_JOBS,
        FAULT_JOBS_QUEUE=queue,
        JOBS_POLL_INTERVAL="0.2",
        **{"LOG_LEVEL": "DEBUG", **overrides},
    )


def fault_key(queue: str, name: str) -> str:
    """A key `tests.fault_jobs` writes for `queue`: runs, running, overlaps, starts or spans."""
    return f"{queue}:{name}"


@asynccontextmanager
async def triggering_into(server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Redis]:
    """Point this process's triggers (REDIS_URL) at `server`; yields a client of it for checks."""
    monkeypatch.setenv("REDIS_URL", server.admin_url)
    get_settings.cache_clear()
    client: Redis = Redis.from_url(server.admin_url)
    try:
        yield client
    finally:
        await client.aclose()
        await connection.disconnect()


def report(scenario: str, **figures: Any) -> None:
    """Print the scenario's figures, and keep them in FAULT_FIGURES_FILE if set."""
    line = json.dumps({"scenario": scenario, **figures}, sort_keys=False)
    print(f"\nFAULT-FIGURES {line}")
    path = os.environ.get("FAULT_FIGURES_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")


def has_logged(worker: WorkerProcess, event: str, since: int = 0) -> bool:
    """Whether `event` is in the worker's stdout from line `since` on (a substring scan: cheap on long logs)."""
    return any(event in line and _event_of(line) == event for line in worker.stdout_lines[since:])


def _event_of(line: str) -> object:
    try:
        parsed = json.loads(line)
    except ValueError:
        return None
    return parsed.get("event") if isinstance(parsed, dict) else None
