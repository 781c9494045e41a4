"""Schedules across real worker processes: one run per tick with three workers racing, and after
downtime one catch-up run (`missed="once"`) or none (`missed="skip"`), never a burst."""

from __future__ import annotations

import itertools
import signal

import pytest
from redis.asyncio import Redis

from jobs.clock import from_ms, now_ms
from jobs.store import keys

from .helpers import wait_until
from .processes import WorkerProcess, process_env, worker_process

pytestmark = pytest.mark.slow

TICK = "process.tick"


def tick_of(job_id: bytes) -> int:
    return int(job_id.decode().rsplit(":", 1)[1])


async def ticks_run(redis: Redis, queue: str) -> list[int]:
    return [tick_of(i) for i in await redis.lrange(f"process-jobs:{queue}:ticks", 0, -1)]  # type: ignore[misc]


async def stop(*workers: WorkerProcess) -> None:
    for worker in workers:
        worker.send(signal.SIGTERM)
    for worker in workers:
        assert await worker.exit_code(timeout=20) == 0, worker.output


async def test_three_workers_run_every_tick_once_none_twice_none_missed(queue: str, redis: Redis) -> None:
    """`Every(seconds=1)` with three worker processes for ten seconds: the runs are consecutive
    seconds, each exactly once, and the workers' schedule.fired lines add up to the runs."""
    env = process_env(queue, PROCESS_JOBS_TICK_SECONDS="1")
    with worker_process(env) as a, worker_process(env) as b, worker_process(env) as c:
        for worker in (a, b, c):
            await worker.wait_for("worker.ready", timeout=20)
        await wait_until(lambda: _enough(redis, queue, 11), timeout=25, interval=0.2, what="eleven ticks run")
        await stop(a, b, c)
        fired = [e for w in (a, b, c) for e in w.named("schedule.fired")]
    runs = await ticks_run(redis, queue)
    assert len(runs) == len(set(runs)), f"a tick ran twice: {runs}"
    assert all(b - a == 1000 for a, b in itertools.pairwise(sorted(runs))), f"a tick was missed: {runs}"
    assert len(fired) == len(runs) >= 11
    assert not any(e["catch_up"] for e in fired)


async def _enough(redis: Redis, queue: str, count: int) -> bool:
    return len(await ticks_run(redis, queue)) >= count


@pytest.mark.parametrize("missed", ["once", "skip"])
async def test_after_downtime_a_schedule_runs_once_for_the_missed_ticks_or_not_at_all(
    queue: str, redis: Redis, missed: str
) -> None:
    """Every worker stopped while five ticks pass, then one starts: `once` runs one catch-up (the
    latest missed tick), `skip` none; then the ticks go on, one a second."""
    env = process_env(queue, PROCESS_JOBS_TICK_SECONDS="1", PROCESS_JOBS_TICK_MISSED=missed)
    with worker_process(env) as first:
        await first.wait_for("schedule.fired", timeout=20)
        await stop(first)
    await redis.delete(f"process-jobs:{queue}:ticks")
    stale = (now_ms() // 1000 - 5) * 1000  # as if no worker had run for the last five ticks
    await redis.zadd(keys.schedules_due(queue), {TICK: stale})
    with worker_process(env) as second:
        await wait_until(
            lambda: _enough(redis, queue, 3), timeout=20, interval=0.1, what="three runs after the restart"
        )
        await stop(second)
        fired = second.named("schedule.fired")
        skipped = second.named("schedule.skipped")
    runs = sorted(await ticks_run(redis, queue))
    assert all(b - a == 1000 for a, b in itertools.pairwise(runs)), f"a burst of catch-up runs: {runs}"
    assert all(run > stale + 4000 for run in runs), f"an old missed tick ran: {runs}"
    catch_ups = [e for e in fired if e["catch_up"]]
    if missed == "once":
        assert len(catch_ups) == 1 and not skipped
    else:
        assert catch_ups == [] and [e["missed_since"] for e in skipped] == [_iso(stale)]


def _iso(ms: int) -> str:
    moment = from_ms(ms)
    assert moment is not None
    return moment.isoformat().replace("+00:00", "Z")
