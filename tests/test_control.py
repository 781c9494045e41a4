"""Job control across worker processes: rate limits, max_running and priorities, enforced in Redis.

The workers are subprocesses running `tests.control_jobs`; each job records when it started (and
ended) in Redis, and the assertions read those times back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from redis.asyncio import Redis

from jobs.store import keys

from . import control_jobs
from .helpers import wait_until
from .processes import WorkerProcess, process_env, remote_job, worker_process

CONTROL_JOBS = "tests.control_jobs"


def control_env(queue: str, **overrides: str) -> dict[str, str]:
    return process_env(queue, JOBS_MODULES=CONTROL_JOBS, CONTROL_JOBS_QUEUE=queue, LOG_LEVEL="DEBUG", **overrides)


@contextmanager
def workers(env: dict[str, str], count: int) -> Iterator[list[WorkerProcess]]:
    with ExitStack() as stack:
        yield [stack.enter_context(worker_process(env)) for _ in range(count)]


async def starts(redis: Redis, queue: str, name: str) -> list[float]:
    lines = await redis.lrange(control_jobs.key(queue, "starts"), 0, -1)  # type: ignore[misc]
    return sorted(float(line.split()[2]) for line in lines if line.split()[0].decode() == name)


def most_in_any_window(times: list[float], window: float) -> int:
    """The most of `times` (sorted) within any half-open window [t, t + window)."""
    most, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


def most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])  # an end before a start at one instant
    most = running = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


@pytest.mark.slow
async def test_a_rate_limit_holds_across_three_workers_while_an_unlimited_job_drains_at_full_speed(
    queue: str, redis: Redis
) -> None:
    """RateLimit(5, per=1 s), 30 jobs, three workers at concurrency 4: no one-second window holds
    more than five starts, the drain takes what the limit implies (+20% at most), and 200 jobs of
    an unlimited job queued behind them are all done within the first second of it."""
    await remote_job("control.limited", queue).trigger_many([{"n": n} for n in range(30)])
    await remote_job("control.free", queue).trigger_many([{"n": n, "ms": 5} for n in range(200)])
    with workers(control_env(queue, JOBS_CONCURRENCY="4"), 3):
        limited = await wait_until(
            lambda: _all(starts(redis, queue, "limited"), 30), timeout=30, what="30 limited starts"
        )
        free = await starts(redis, queue, "free")
    assert len(free) == 200
    print(
        "CONTROL-FIGURES",
        {
            "drain_s": round(limited[-1] - limited[0], 3),
            "free_done_s": round(free[-1] - limited[0], 3),
            "most_per_s": most_in_any_window(limited, 1.0),
        },
    )
    assert most_in_any_window(limited, 1.0) <= 5, limited
    drain = limited[-1] - limited[0]
    assert 25 / 5 * 0.98 <= drain <= 25 / 5 * 1.2, drain  # starts 5..30 wait for 5 windows after the first
    assert free[-1] < limited[0] + 1.0, free[-1] - limited[0]


async def _all(reading: Any, count: int) -> list[float] | None:
    got: list[float] = await reading
    return got if len(got) >= count else None


@pytest.mark.slow
async def test_max_running_two_never_runs_three_at_once_across_three_workers(queue: str, redis: Redis) -> None:
    """max_running=2, 12 jobs of 200 ms, three workers at concurrency 4: at most two at once, and two do overlap."""
    await remote_job("control.pair", queue).trigger_many([{"ms": 200} for _ in range(12)])
    spans_key = control_jobs.key(queue, "spans")
    with workers(control_env(queue, JOBS_CONCURRENCY="4"), 3):
        await wait_until(lambda: _length(redis, spans_key, 12), timeout=20, what="12 spans")
    lines = await redis.lrange(spans_key, 0, -1)  # type: ignore[misc]
    spans = [(float(a), float(b)) for a, b in (line.split() for line in lines)]
    assert most_at_once(spans) == 2, spans


async def _length(redis: Redis, key: str, count: int) -> bool:
    return int(await redis.llen(key)) >= count  # type: ignore[misc]


async def test_ten_high_priority_jobs_queued_after_100_low_ones_run_first(queue: str, redis: Redis) -> None:
    """100 jobs at priority 0, then 10 at priority 10, all queued before a worker at concurrency 1
    starts: the ten run first, in the order triggered, then the rest in theirs."""
    ordered = remote_job("control.ordered", queue)
    await ordered.trigger_many([{"n": n} for n in range(100)])
    await ordered.trigger_many([{"n": 100 + n} for n in range(10)], priority=10)
    order_key = control_jobs.key(queue, "order")
    with worker_process(control_env(queue, JOBS_CONCURRENCY="1")):
        await wait_until(lambda: _length(redis, order_key, 110), timeout=30, what="110 runs")
    order = [int(n) for n in await redis.lrange(order_key, 0, -1)]  # type: ignore[misc]
    assert order == list(range(100, 110)) + list(range(100))
    assert not await redis.exists(keys.DEFAULT.priority(queue))  # finished jobs leave the priority set


async def test_jobs_queue_rate_limit_paces_every_job_of_the_queue_without_charging_held_ones(
    queue: str, redis: Redis
) -> None:
    """JOBS_QUEUE_RATE_LIMIT=<queue>=3/s: nine jobs start at most three in any second, and each
    finishes at its first attempt (a job held back is not charged one; it has attempts=1)."""
    paced_queue = queue + "-q"
    handles = await remote_job("control.paced", paced_queue).trigger_many([{"n": n} for n in range(9)])
    with worker_process(control_env(queue, JOBS_CONCURRENCY="4", JOBS_QUEUE_RATE_LIMIT=f"{paced_queue}=3/s")):
        paced = await wait_until(lambda: _all(starts(redis, paced_queue, "paced"), 9), timeout=15, what="9 starts")
        # The worker is killed on leaving the block: wait for the last job's record while it still runs.
        records = [
            await wait_until(lambda h=handle: _record(redis, h.id), timeout=5, what=f"record of {handle.id}")
            for handle in handles
        ]
    assert most_in_any_window(paced, 1.0) <= 3, paced
    assert paced[-1] - paced[0] >= 2 * 0.98
    assert all(record["status"] == "completed" and record["attempts"] == 1 for record in records), records


async def _record(redis: Redis, job_id: str) -> dict[str, Any] | None:
    raw = await redis.get(keys.record(job_id))
    return None if raw is None else json.loads(raw)


async def test_a_worker_with_a_bad_jobs_queue_rate_limit_exits_2_naming_it(queue: str) -> None:
    """JOBS_QUEUE_RATE_LIMIT=emails=10/d: one line naming the variable, exit 2, no traceback."""
    from .processes import WORKER, run_to_exit

    done = run_to_exit(WORKER, control_env(queue, JOBS_QUEUE_RATE_LIMIT="emails=10/d"))
    assert done.returncode == 2, done.output
    assert "JOBS_QUEUE_RATE_LIMIT" in done.stderr and "10/s" in done.stderr
    assert "Traceback" not in done.output
