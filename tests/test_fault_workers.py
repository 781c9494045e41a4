"""Three worker processes on one queue: every job runs exactly once, never twice at the same time."""

from __future__ import annotations

import itertools
import json
import signal
from collections import Counter
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import pytest
from redis.asyncio import Redis

from jobs.store import keys

from .fault_support import ask, eventually, fault_env, fault_key, has_logged, report, triggering_into
from .helpers import wait_until
from .processes import remote_job, worker_process
from .redis_server import redis_server

WORKERS = 3
CONCURRENCY = 4
JOBS = 3_000


@pytest.mark.slow
async def test_three_workers_share_3000_jobs_each_run_exactly_once_and_never_concurrently(
    tmp_path: Path, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No crash, so no rerun: each id is completed once, its runs never overlap, and all workers took a share."""
    with redis_server(tmp_path / "redis") as server:
        async with triggering_into(server, monkeypatch) as redis:
            env = fault_env(
                queue, server.admin_url, JOBS_CONCURRENCY=str(CONCURRENCY), JOBS_KEEP_COMPLETED=str(2 * JOBS)
            )
            with ExitStack() as stack:
                workers = [stack.enter_context(worker_process(env)) for _ in range(WORKERS)]
                for worker in workers:
                    await wait_until(partial(has_logged, worker, "worker.ready"), timeout=15, what="worker.ready")
                record = remote_job("fault.record", queue)
                ids: list[str] = []
                for first in range(0, JOBS, 250):  # arriving while the workers run, not all at once
                    batch = [{"n": n, "ms": 2} for n in range(first, first + 250)]
                    ids += [h.id for h in await record.trigger_many(batch)]
                await eventually(lambda: _completed(redis, queue, JOBS), timeout=60, what=f"{JOBS} completed")
                for worker in workers:
                    worker.send(signal.SIGTERM)
                for worker in workers:
                    assert await worker.exit_code(timeout=10) == 0
                    assert not worker.stderr_lines, worker.output
            runs = Counter(
                {k.decode(): int(v) for k, v in (await ask(redis.hgetall(fault_key(queue, "runs")))).items()}
            )
            overlaps = await ask(redis.hlen(fault_key(queue, "overlaps")))
            spans = [s.decode().split() for s in await ask(redis.lrange(fault_key(queue, "spans"), 0, -1))]
            statuses: Counter[str] = Counter()
            for first in range(0, JOBS, 500):
                chunk = ids[first : first + 500]
                raws = await redis.mget([keys.record(i) for i in chunk])
                statuses.update(json.loads(raw)["status"] if raw else "missing" for raw in raws)

    by_worker = Counter(pid for _, pid, _, _ in spans)
    report(
        "three-workers",
        workers=WORKERS,
        concurrency=CONCURRENCY,
        jobs=JOBS,
        lost=JOBS - statuses["completed"],
        double_runs=sum(runs.values()) - len(runs),
        concurrent_runs_of_one_id=overlaps + _overlapping(spans),
        jobs_per_worker=sorted(by_worker.values()),
    )
    assert statuses == {"completed": JOBS}
    assert set(runs) == set(ids) and set(runs.values()) == {1}, "each job ran exactly once"
    assert overlaps == 0 and _overlapping(spans) == 0
    assert len(by_worker) == WORKERS, f"every worker ran jobs: {by_worker}"


def _overlapping(spans: list[list[str]]) -> int:
    """Runs of one id whose [start, end] intervals intersect, from the spans the jobs recorded."""
    by_id: dict[str, list[tuple[float, float]]] = {}
    for job_id, _pid, start, end in spans:
        by_id.setdefault(job_id, []).append((float(start), float(end)))
    count = 0
    for intervals in by_id.values():
        intervals.sort()
        count += sum(1 for (_, end), (start, _) in itertools.pairwise(intervals) if start < end)
    return count


async def _completed(redis: Redis, queue: str, count: int) -> bool:
    return int(await redis.zcard(keys.finished(queue, "completed"))) >= count
