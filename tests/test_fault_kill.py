"""SIGKILL mid-job, again and again: no job is lost, and only the jobs a killed worker held run twice.

A killed worker cannot release anything: its jobs keep their locks until the locks expire
(JOBS_LOCK_TIMEOUT), then the restarted worker takes them again as their next attempt.
"""

from __future__ import annotations

import json
import signal
import time
from functools import partial
from pathlib import Path

import pytest
from redis.asyncio import Redis

from jobs.runtime.slots import PREFETCH
from jobs.store import keys

from .fault_support import ask, eventually, fault_env, fault_key, has_logged, report, triggering_into
from .helpers import wait_until
from .processes import remote_job, worker_process
from .redis_server import redis_server

JOBS = 2_000
KILLS = 10
CONCURRENCY = 4
LOCK_TIMEOUT = 1.0  # seconds: a killed worker's jobs come back this fast
POLL = 0.2  # JOBS_POLL_INTERVAL: an idle worker looks for due jobs this often
SLACK = 1.0  # scheduling noise on a busy 2-core machine


async def _statuses(redis: Redis, ids: list[str]) -> dict[str, str]:
    statuses: dict[str, str] = {}
    for first in range(0, len(ids), 500):
        chunk = ids[first : first + 500]
        for job_id, raw in zip(chunk, await redis.mget([keys.record(i) for i in chunk]), strict=True):
            statuses[job_id] = "missing" if raw is None else json.loads(raw)["status"]
    return statuses


@pytest.mark.slow
async def test_ten_sigkills_across_2000_jobs_lose_nothing_and_rerun_at_most_the_jobs_held(
    tmp_path: Path, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All complete; extra runs <= kills x (concurrency + the one job claimed ahead); a killed job
    reruns once its lock expires."""
    with redis_server(tmp_path / "redis") as server:
        async with triggering_into(server, monkeypatch) as redis:
            record = remote_job("fault.record", queue)
            ids: list[str] = []
            for first in range(0, JOBS, 500):
                ids += [h.id for h in await record.trigger_many([{"n": n, "ms": 5} for n in range(first, first + 500)])]
            env = fault_env(
                queue,
                server.admin_url,
                JOBS_LOCK_TIMEOUT=str(LOCK_TIMEOUT),
                JOBS_CONCURRENCY=str(CONCURRENCY),
                JOBS_KEEP_COMPLETED=str(2 * JOBS),
            )
            completed = keys.finished(queue, "completed")
            kills: list[float] = []
            ready: list[float] = []  # when each worker logged worker.ready, test clock (unix time)
            for worker_number in range(KILLS + 1):
                with worker_process(env) as worker:
                    await wait_until(partial(has_logged, worker, "worker.ready"), timeout=15, what="worker.ready")
                    ready.append(time.time())
                    if worker_number == KILLS:
                        await eventually(lambda: _all_done(redis, completed), timeout=30, what=f"{JOBS} completed")
                        break
                    target = (worker_number + 1) * JOBS // (KILLS + 1)
                    await eventually(
                        partial(_at_least, redis, completed, target), timeout=30, what=f"{target} completed"
                    )
                    worker.send(signal.SIGKILL)
                    kills.append(time.time())
                    assert await worker.exit_code(timeout=5) == -signal.SIGKILL
                    assert not worker.stderr_lines, worker.output
            statuses = await _statuses(redis, ids)
            runs = {k.decode(): int(v) for k, v in (await ask(redis.hgetall(fault_key(queue, "runs")))).items()}
            starts = [e.decode().split() for e in await ask(redis.lrange(fault_key(queue, "starts"), 0, -1))]
            failed = await redis.zcard(keys.finished(queue, "failed"))
            left = await redis.zcard(keys.queue(queue))

    assert [i for i, s in statuses.items() if s != "completed"] == [], "a job is not completed"
    assert (failed, left) == (0, 0)
    assert set(runs) == set(ids) and min(runs.values()) >= 1
    double_runs = sum(runs.values()) - JOBS
    pickups = _pickup_delays(starts, kills, ready)
    report(
        "sigkill",
        jobs=JOBS,
        kills=KILLS,
        concurrency=CONCURRENCY,
        lock_timeout_s=LOCK_TIMEOUT,
        lost=JOBS - list(statuses.values()).count("completed"),
        double_runs=double_runs,
        jobs_run_more_than_once=sum(1 for n in runs.values() if n > 1),
        min_rerun_after_kill_s=round(min((p[0] for p in pickups), default=0.0), 3),
        max_rerun_after_kill_s=round(max((p[0] for p in pickups), default=0.0), 3),
        max_rerun_after_lock_free_s=round(max((p[1] for p in pickups), default=0.0), 3),
    )
    # held at a kill: the jobs running, and those done whose outcome is not stored yet; at most
    # concurrency + PREFETCH together (the next job starts while the last outcome is stored)
    assert 1 <= double_runs <= KILLS * (CONCURRENCY + PREFETCH), f"{double_runs} extra runs for {KILLS} kills"
    assert len(pickups) == double_runs
    for _since_kill, since_free in pickups:
        # the lock of a killed job expires at most LOCK_TIMEOUT after the kill; the next worker
        # then takes it at its next claim: at once under load, within one poll when idle
        assert since_free <= POLL + SLACK, f"rerun {since_free:.2f}s after its lock expired and a worker was up"


def _pickup_delays(starts: list[list[str]], kills: list[float], ready: list[float]) -> list[tuple[float, float]]:
    """For every run after an id's first: (seconds since the kill before it, seconds since both
    that kill's locks had expired and the next worker was ready)."""
    seen: set[str] = set()
    delays = []
    for job_id, _pid, at in starts:
        started = float(at)
        if job_id not in seen:
            seen.add(job_id)
            continue
        before = [k for k in range(len(kills)) if kills[k] <= started]
        assert before, f"{job_id} ran twice before any kill"
        k = before[-1]
        free = max(kills[k] + LOCK_TIMEOUT, ready[k + 1])
        delays.append((started - kills[k], max(0.0, started - free)))
    return delays


async def _at_least(redis: Redis, key: str, count: int) -> bool:
    return int(await redis.zcard(key)) >= count


async def _all_done(redis: Redis, key: str) -> bool:
    return int(await redis.zcard(key)) >= JOBS
