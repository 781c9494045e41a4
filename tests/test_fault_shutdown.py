"""SIGTERM under load, concurrency 4, triggers still arriving: jobs that can finish in the shutdown
timeout finish, the others go back uncharged, nothing queued is touched, and the next worker
runs every job as its first attempt. tests/test_shutdown.py pins the single-job cases."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from jobs.store import keys

from .fault_support import ask, eventually, fault_env, fault_key, has_logged, report, triggering_into
from .helpers import wait_until
from .processes import WORKER, remote_job, worker_process
from .redis_server import redis_server

CONCURRENCY = 4
SHUTDOWN_TIMEOUT = 1.0


class Feed:
    """Triggers short jobs nonstop while the worker shuts down, as a live app would."""

    def __init__(self, queue: str) -> None:
        self.job = remote_job("fault.record", queue)
        self.ids: list[str] = []
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        while not self.stopping.is_set():
            self.ids.append((await self.job.trigger({"n": len(self.ids), "ms": 10})).id)
            await asyncio.sleep(0.01)


async def _runs(redis: Redis, queue: str, ids: list[str]) -> list[int]:
    return [int(v or 0) for v in await ask(redis.hmget(fault_key(queue, "runs"), ids))]


async def _records(redis: Redis, ids: list[str]) -> list[dict[str, object]]:
    raws = await redis.mget([keys.record(i) for i in ids])
    return [
        json.loads(raw) if raw is not None else {"id": i, "status": "missing"} for i, raw in zip(ids, raws, strict=True)
    ]


async def _assert_uncharged_and_queued(redis: Redis, queue: str, ids: list[str]) -> None:
    for job_id in ids:
        assert await redis.zscore(keys.queue(queue), job_id) is not None, "back in its queue"
        assert not await redis.exists(keys.lock(job_id)), "unlocked"
        assert int(await redis.get(keys.tries(job_id)) or 0) == 0, "its interrupted attempt is not counted"


@pytest.mark.slow
async def test_sigterm_under_load_finishes_what_fits_the_timeout_and_requeues_the_rest_uncharged(
    tmp_path: Path, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs that fit the timeout finish, the rest go back uncharged, the queue is untouched; exit 0."""
    with redis_server(tmp_path / "redis") as server:
        async with triggering_into(server, monkeypatch) as redis:
            record = remote_job("fault.record", queue)
            flag = f"{queue}:release-the-long-jobs"
            before = [h.id for h in await record.trigger_many([{"n": n, "ms": 10} for n in range(40)])]
            held = [h.id for h in await record.trigger_many([{"n": n, "flag": flag} for n in (1000, 1001)])]
            finishing = [h.id for h in await record.trigger_many([{"n": n, "ms": 400} for n in (2000, 2001)])]
            backlog = [h.id for h in await record.trigger_many([{"n": n, "ms": 10} for n in range(3000, 3150)])]
            env = fault_env(
                queue,
                server.admin_url,
                JOBS_CONCURRENCY=str(CONCURRENCY),
                JOBS_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT),
                JOBS_KEEP_COMPLETED="10000",
            )
            feed = Feed(queue)
            with worker_process(env) as worker:
                feeding = asyncio.create_task(feed.run())
                await eventually(
                    lambda: _all_started(redis, queue, held + finishing), timeout=15, what="the 4 slow jobs running"
                )
                worker.send(signal.SIGTERM)
                signalled = time.monotonic()
                assert await worker.exit_code(timeout=SHUTDOWN_TIMEOUT + 8) == 0
                took = time.monotonic() - signalled
                feed.stopping.set()
                await feeding
            assert not worker.stderr_lines, worker.output
            stopped = worker.named("worker.stopped")[-1]
            assert stopped["released"] == len(held), stopped
            assert sorted(e["job_id"] for e in worker.named("job.released")) == sorted(held)
            assert [r["status"] for r in await _records(redis, before + finishing)] == ["completed"] * 42
            await _assert_uncharged_and_queued(redis, queue, held)
            never_started = [i for i, n in zip(backlog, await _runs(redis, queue, backlog), strict=True) if n == 0]
            assert len(never_started) >= len(backlog) - CONCURRENCY, "the backlog was not drained at shutdown"
            untouched = never_started + feed.ids
            assert [i for i in untouched if await redis.exists(keys.tries(i), keys.lock(i))] == []

            await redis.set(flag, "1")
            with worker_process(env, [*WORKER, "--burst"]) as burst:
                assert await burst.exit_code(timeout=30) == 0
            everything = before + held + finishing + backlog + feed.ids
            records = await _records(redis, everything)
            runs = await _runs(redis, queue, everything)

    report(
        "sigterm-under-load",
        jobs=len(everything),
        concurrency=CONCURRENCY,
        shutdown_timeout_s=SHUTDOWN_TIMEOUT,
        exit_after_s=round(took, 2),
        finished_in_timeout=len(finishing),
        released_uncharged=len(held),
        triggered_meanwhile=len(feed.ids),
        lost=sum(1 for r in records if r["status"] != "completed"),
        double_runs=sum(runs) - len(everything) - len(held),
    )
    assert [r["status"] for r in records] == ["completed"] * len(everything)
    assert {r["attempts"] for r in records} == {1}, "no attempt was charged by the shutdown"
    assert [n for i, n in zip(everything, runs, strict=True) if i not in held] == [1] * (len(everything) - 2)
    assert SHUTDOWN_TIMEOUT <= took < SHUTDOWN_TIMEOUT + 3.0, f"exited {took:.2f}s after SIGTERM"


@pytest.mark.slow
async def test_a_second_sigterm_under_load_exits_at_once_and_releases_every_running_job(
    tmp_path: Path, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second SIGTERM exits 0 at once; the 4 running jobs go back uncharged and later run as attempt 1."""
    with redis_server(tmp_path / "redis") as server:
        async with triggering_into(server, monkeypatch) as redis:
            record = remote_job("fault.record", queue)
            flag = f"{queue}:release"
            held = [h.id for h in await record.trigger_many([{"n": n, "flag": flag} for n in range(CONCURRENCY)])]
            backlog = [h.id for h in await record.trigger_many([{"n": n, "ms": 5} for n in range(100, 200)])]
            env = fault_env(queue, server.admin_url, JOBS_CONCURRENCY=str(CONCURRENCY), JOBS_SHUTDOWN_TIMEOUT="60")
            with worker_process(env) as worker:
                await eventually(lambda: _all_started(redis, queue, held), timeout=15, what="4 long jobs running")
                worker.send(signal.SIGTERM)
                await wait_until(lambda: has_logged(worker, "worker.stopping"), what="worker.stopping")
                worker.send(signal.SIGTERM)
                signalled = time.monotonic()
                assert await worker.exit_code(timeout=10) == 0
                took = time.monotonic() - signalled
            assert worker.named("worker.force_stop") and not worker.stderr_lines, worker.output
            assert worker.named("worker.stopped")[-1]["released"] == CONCURRENCY
            await _assert_uncharged_and_queued(redis, queue, held)
            assert sum(await _runs(redis, queue, backlog)) == 0, "nothing else was started"

            await redis.set(flag, "1")
            with worker_process(env, [*WORKER, "--burst"]) as burst:
                assert await burst.exit_code(timeout=30) == 0
            records = await _records(redis, held + backlog)

    report("second-sigterm-under-load", jobs=len(held) + len(backlog), running=CONCURRENCY, exit_after_s=round(took, 2))
    assert [r["status"] for r in records] == ["completed"] * len(records)
    assert {r["attempts"] for r in records} == {1}
    assert took < 3.0, f"exited {took:.2f}s after the second signal"


async def _all_started(redis: Redis, queue: str, ids: list[str]) -> bool:
    return all(n > 0 for n in await _runs(redis, queue, ids))
