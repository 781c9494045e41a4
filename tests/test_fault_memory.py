"""Redis at `maxmemory` under `noeviction`, in a private redis-server: a trigger raises a library
error that says so, and a worker whose outcome Redis refuses keeps it, retries, and stores it once
memory frees."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError

from jobs import Backoff, JobsError, JobStatus, RedisOutOfMemoryError, RedisUnavailableError, current_attempt
from jobs.store import keys

from .conftest import Define, StartWorker
from .fault_support import report, triggering_into
from .helpers import wait_until
from .redis_server import RedisServer, redis_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis", "--maxmemory", "16mb", "--maxmemory-policy", "noeviction") as running:
        yield running


async def _fill(redis: Redis) -> list[str]:
    """Write filler keys until Redis refuses even a small one for lack of memory; their names.

    A big value is refused while it sits in the client's buffer, which Redis counts as used memory
    and frees after the refusal: smaller and smaller values fill what is left.
    """
    names: list[str] = []
    for size in (256_000, 16_000, 1_000, 100):
        while True:
            name = f"filler:{len(names)}"
            try:
                await redis.set(name, b"x" * size)
            except OutOfMemoryError:
                break
            names.append(name)
    return names


async def echo(payload: Any) -> Any:
    return payload


async def test_a_trigger_refused_for_lack_of_memory_raises_a_jobs_error_and_enqueues_nothing(
    server: RedisServer, define: Define, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`except jobs.JobsError` (and `except RedisUnavailableError`) catch it; the message says why."""
    echoed = define(echo)
    async with triggering_into(server, monkeypatch) as redis:
        await _fill(redis)
        with pytest.raises(RedisOutOfMemoryError, match="refused the write for lack of memory") as refused:
            await echoed.trigger(1)
        assert await redis.exists(keys.queue(queue)) == 0
    assert isinstance(refused.value, JobsError) and isinstance(refused.value, RedisUnavailableError)


async def test_an_outcome_refused_for_lack_of_memory_stays_pending_and_is_stored_once_memory_frees(
    server: RedisServer,
    define: Define,
    start_worker: StartWorker,
    queue: str,
    logs: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failed attempt's retry cannot be written at maxmemory: the worker logs it, keeps the outcome,
    backs off, and stores it when memory frees; the job then runs its second attempt."""
    gate = asyncio.Event()

    async def fails_once(payload: str) -> str:
        await gate.wait()
        attempt = current_attempt()
        if attempt is not None and attempt.number == 1:
            raise RuntimeError("first attempt fails")
        return payload

    flaky = define(fails_once, attempts=2, backoff=Backoff.fixed(delay_ms=0))
    async with triggering_into(server, monkeypatch) as redis:
        worker = await start_worker(redis_url=server.admin_url)
        handle = await flaky.trigger("ok")
        await wait_until(lambda: handle.id in worker.runners[0].running, what="the first attempt running")
        fillers = await _fill(redis)
        gate.set()
        refused = await wait_until(
            lambda: [e for e in logs if e["event"] == "worker.redis_out_of_memory"], what="the refusal logged"
        )
        assert "OutOfMemoryError" in refused[0]["error"] and refused[0]["retry_in_ms"] > 0
        assert worker.runners[0].outbox, "the outcome is kept"
        assert await redis.get(keys.tries(handle.id)) == b"1" and await redis.exists(keys.lock(handle.id))
        await redis.delete(*fillers)
        assert await handle.result(timeout=10) == "ok"
        record = await handle.record()
    report("redis-out-of-memory", refusals_logged=len(refused), attempts=record.attempts if record else None)
    assert record is not None and (record.status, record.attempts) == (JobStatus.COMPLETED, 2)
