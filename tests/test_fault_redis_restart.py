"""Redis restarted under load (AOF, fsync always): the worker waits it out and carries on, triggers
fail fast while it is down, and every trigger that returned a handle ends as a completed job."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest
from redis.asyncio import Redis

from jobs import RedisUnavailableError
from jobs.store import keys

from .fault_support import eventually, fault_env, has_logged, report, triggering_into
from .helpers import wait_until
from .processes import WorkerProcess, remote_job, worker_process
from .redis_server import AOF, RedisServer, redis_server

RESTARTS = 2
OUTAGE = 1.5  # seconds Redis stays down each time
TRIGGER_LOOPS = 3  # callers triggering at the same time, as web requests would


class Triggers:
    """Callers triggering `fault.sleep` jobs nonstop; each trigger is acknowledged (a handle) or refused."""

    def __init__(self, queue: str) -> None:
        self.job = remote_job("fault.sleep", queue)
        self.acknowledged: list[str] = []
        self.refused: list[float] = []  # seconds each refused trigger took to raise
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            began = time.monotonic()
            try:
                handle = await self.job.trigger({"n": n, "ms": 20})
            except RedisUnavailableError:
                self.refused.append(time.monotonic() - began)
                await asyncio.sleep(0.02)
            else:
                self.acknowledged.append(handle.id)
                await asyncio.sleep(0.005)
            n += 1


async def _completed(redis: Redis, ids: list[str]) -> int:
    raws = await redis.mget([keys.record(i) for i in ids]) if ids else []
    return sum(1 for raw in raws if raw is not None and json.loads(raw)["status"] == "completed")


async def _restart(server: RedisServer, triggers: Triggers) -> tuple[float, float]:
    """Stop Redis cleanly, keep it down OUTAGE seconds while triggers fail, start it again.

    Returns how long it was down, and when (unix time) it answered again."""
    refused_before = len(triggers.refused)
    await asyncio.to_thread(server.stop)
    down = time.monotonic()
    await wait_until(
        lambda: len(triggers.refused) > refused_before and time.monotonic() - down >= OUTAGE,
        timeout=OUTAGE + 5,
        what="triggers refused while Redis is down",
    )
    await asyncio.to_thread(server.start)
    return time.monotonic() - down, time.time()


def _resume_delays(worker: WorkerProcess, back: list[float]) -> list[float]:
    """Seconds from each return of Redis to the worker's next job start."""
    starts = [
        datetime.fromisoformat(e["timestamp"]).timestamp() for e in worker.events() if e["event"] == "job.started"
    ]
    return [min(t for t in starts if t >= b) - b for b in back]


@pytest.mark.slow
async def test_a_worker_rides_out_redis_restarts_and_every_acknowledged_trigger_completes(
    tmp_path: Path, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker never exits, triggers fail fast while Redis is down, no acknowledged job is lost."""
    with redis_server(tmp_path / "redis", *AOF) as server:
        async with triggering_into(server, monkeypatch) as redis:
            # A claim whose reply Redis never sent before stopping leaves its jobs locked, unseen by the
            # worker, until the lock expires: a short lock keeps this test short (see docs/RELIABILITY.md).
            env = fault_env(
                queue, server.admin_url, JOBS_CONCURRENCY="4", JOBS_KEEP_COMPLETED="100000", JOBS_LOCK_TIMEOUT="3"
            )
            with worker_process(env) as worker:
                await wait_until(lambda: has_logged(worker, "worker.ready"), timeout=15, what="worker.ready")
                triggers = Triggers(queue)
                loops = [asyncio.create_task(triggers.run()) for _ in range(TRIGGER_LOOPS)]
                outages, back = [], []
                for _ in range(RESTARTS):
                    started = await redis.zcard(keys.finished(queue, "completed"))
                    await eventually(
                        partial(_at_least, redis, queue, started + 100), timeout=10, what="100 jobs completed"
                    )
                    outage, answered = await _restart(server, triggers)
                    outages.append(outage)
                    back.append(answered)
                    assert worker.popen.poll() is None, f"the worker exited:\n{worker.output}"
                count = len(triggers.acknowledged)
                await wait_until(lambda: len(triggers.acknowledged) >= count + 100, timeout=10, what="triggers again")
                triggers.stopping.set()
                await asyncio.gather(*loops)  # a trigger raising anything else than RedisUnavailableError fails here
                acknowledged = triggers.acknowledged
                await eventually(
                    lambda: _completed_all(redis, acknowledged), timeout=30, what="every acknowledged job completed"
                )
                assert worker.popen.poll() is None, f"the worker exited:\n{worker.output}"
                assert has_logged(worker, "worker.redis_unavailable"), "the worker noticed the outage"
                resumed = _resume_delays(worker, back)
                worker.send(signal.SIGTERM)
                assert await worker.exit_code(timeout=10) == 0
            assert "Traceback" not in worker.output, worker.output
            failed = await redis.zcard(keys.finished(queue, "failed"))

    report(
        "redis-restart",
        restarts=RESTARTS,
        outage_s=[round(o, 2) for o in outages],
        acknowledged=len(acknowledged),
        refused=len(triggers.refused),
        max_refusal_s=round(max(triggers.refused), 3),
        worker_resumed_after_s=[round(r, 2) for r in resumed],
        lost=0,
        failed=failed,
    )
    assert failed == 0
    assert max(triggers.refused) < 1.0, "a trigger hung while Redis was down"
    assert max(resumed) < 5.0 + 1.0, "the worker retries Redis at least every 5 s (its backoff cap)"


async def _at_least(redis: Redis, queue: str, count: int) -> bool:
    return int(await redis.zcard(keys.finished(queue, "completed"))) >= count


async def _completed_all(redis: Redis, ids: list[str]) -> bool:
    done = 0
    for first in range(0, len(ids), 500):
        done += await _completed(redis, ids[first : first + 500])
    return done == len(ids)


async def test_a_trigger_client_idle_across_a_redis_restart_works_on_its_first_try(
    tmp_path: Path, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pooled connections that Redis closed while it restarted are replaced, not handed to the next trigger."""
    with redis_server(tmp_path / "redis", *AOF) as server:
        async with triggering_into(server, monkeypatch) as redis:
            echo = remote_job("fault.echo", queue)
            await asyncio.gather(*(echo.trigger(n) for n in range(4)))  # several pooled connections
            await asyncio.to_thread(server.stop)  # this loop keeps running meanwhile, as an app's does
            await asyncio.to_thread(server.start)
            handle = await echo.trigger("after the restart")
            assert handle.enqueued
            assert await redis.zcard(keys.queue(queue)) == 5, "the jobs queued before the restart were kept (AOF)"


@pytest.mark.slow
async def test_after_an_outage_the_worker_logs_once_that_redis_answers_again_and_how_long_it_was_down(
    tmp_path: Path, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`worker.redis_unavailable`, then one `worker.redis_recovered` with `down_ms` once Redis is back."""
    with redis_server(tmp_path / "redis", *AOF) as server:
        async with triggering_into(server, monkeypatch):
            with worker_process(fault_env(queue, server.admin_url)) as worker:
                await worker.wait_for("worker.ready", timeout=15)
                await asyncio.to_thread(server.stop)
                down = time.monotonic()
                await worker.wait_for("worker.redis_unavailable", timeout=10)
                assert not worker.named("worker.redis_recovered"), "nothing recovered while Redis is down"
                await asyncio.to_thread(server.start)
                recovered = await worker.wait_for("worker.redis_recovered", timeout=10)
                outage_ms = (time.monotonic() - down) * 1000
                handle = await remote_job("fault.echo", queue).trigger("after the outage")
                assert await handle.result(timeout=10) == "after the outage"
                worker.send(signal.SIGTERM)
                assert await worker.exit_code(timeout=10) == 0
    assert len(worker.named("worker.redis_recovered")) == 1, worker.output
    assert recovered["level"] == "info" and 0 < recovered["down_ms"] <= outage_ms, (recovered, outage_ms)
