"""Fixtures: a real Redis (db 15 by default), a unique queue per test, throwaway jobs, workers.

The suite's Redis is `JOBS_TEST_REDIS_URL` (default redis://127.0.0.1:6379/15), never the app's
`REDIS_URL`: a developer's exported REDIS_URL must not send the suite into their database. That
database belongs to the suite: it is refused if it holds keys the suite did not write, and
emptied when the suite ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

# Every trigger, worker and subprocess of the suite goes to the suite's own database.
os.environ.update(REDIS_URL=os.environ.get("JOBS_TEST_REDIS_URL") or "redis://127.0.0.1:6379/15")

import pytest
import structlog
from redis.asyncio import Redis

from jobs import Job, job, registry
from jobs.settings import Settings, get_settings, load_settings
from jobs.worker import Worker

from .cli_runner import Cli, runner
from .helpers import wait_until

REDIS_URL = os.environ["REDIS_URL"]
SUITE_MARKER = "jobs:test-suite"  # set while the suite owns the database


@pytest.fixture(scope="session", autouse=True)
def _suite_database() -> Iterator[None]:
    """Own the suite's database for the run: refuse one that holds other data, empty it after."""
    import redis as sync_redis

    client = sync_redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except sync_redis.RedisError as exc:
        pytest.exit(f"the test suite's Redis (JOBS_TEST_REDIS_URL={REDIS_URL}) does not answer: {exc}", returncode=3)
    if client.dbsize() and not client.exists(SUITE_MARKER):
        pytest.exit(
            f"JOBS_TEST_REDIS_URL={REDIS_URL} holds {client.dbsize()} keys the suite did not write; "
            "point JOBS_TEST_REDIS_URL at an empty database of its own (the suite empties it when done)",
            returncode=3,
        )
    client.set(SUITE_MARKER, "1")
    try:
        yield
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Settings are cached per process; a test that changes the environment gets a fresh read."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
def queue() -> str:
    """A queue name no other test uses, so tests never see each other's jobs."""
    return f"t-{uuid.uuid4().hex[:10]}"


Define = Callable[..., Job[Any]]


@pytest.fixture
def define(queue: str) -> Iterator[Define]:
    """Define a job with a unique name on this test's queue; it is forgotten after the test."""
    names: list[str] = []

    def _define(run: Callable[[Any], Awaitable[Any]], **options: Any) -> Job[Any]:
        name = options.pop("name", None) or f"{run.__name__}-{uuid.uuid4().hex[:8]}"
        options.setdefault("queue", queue)
        names.append(name)
        return job(name=name, run=run, **options)

    yield _define
    for name in names:
        registry.unregister(name)


def worker_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"redis_url": REDIS_URL, "jobs_shutdown_timeout": 2.0, "jobs_poll_interval": 0.5}
    return load_settings(**{**base, **overrides})


StartWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture
async def start_worker(queue: str) -> AsyncIterator[StartWorker]:
    """Start a worker in this event loop (default: this test's queue); stopped after the test."""
    started: list[tuple[Worker, asyncio.Task[None]]] = []

    async def _start(*, queues: list[str] | None = None, concurrency: int | None = None, **settings: Any) -> Worker:
        worker = Worker(
            queues=queues or [queue],
            settings=worker_settings(**settings),
            concurrency=concurrency,
            handle_signals=False,
        )
        task = asyncio.create_task(worker.run())
        started.append((worker, task))
        await wait_until(lambda: worker.runners or task.done(), what="worker ready")
        if task.done():
            task.result()
        return worker

    yield _start
    for worker, task in started:
        worker.request_stop()
        await asyncio.wait_for(task, 10)


async def run_burst(queues: list[str], **settings: Any) -> Worker:
    """Run a burst worker until nothing is due or running on `queues`."""
    worker = Worker(queues=queues, settings=worker_settings(**settings), burst=True, handle_signals=False)
    await asyncio.wait_for(worker.run(), 30)
    return worker


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """Every structlog event of the test, with the context variables merged in, as dicts."""
    capture = structlog.testing.LogCapture()
    old = structlog.get_config()
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, capture],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),  # every level, whatever was set
        cache_logger_on_first_use=False,
    )
    yield capture.entries
    structlog.configure(**old)


@pytest.fixture
def cli(queue: str, tmp_path: Path) -> Cli:
    """Run `jobs ARGS` with this test's queue; `env` overrides variables, `command` replaces `jobs`."""
    return runner(queue, tmp_path, REDIS_URL)
