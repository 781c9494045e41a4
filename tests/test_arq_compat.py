"""arq's own worker (`arq servers.jobs.WorkerSettings`) runs our jobs with the same retries,
records and log events as ours, and stores nothing but JSON."""

from __future__ import annotations

import itertools
import json
import pickle
import signal
from datetime import datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from jobs import JobStatus
from jobs.runtime.arq_compat import worker_settings
from jobs.runtime.process import StartupError
from jobs.settings import load_settings
from jobs.store import keys

from .conftest import REDIS_URL, Define
from .processes import (
    ARQ,
    FAIL_ATTEMPTS,
    FAIL_DELAY_MS,
    parse_json_lines,
    process_env,
    remote_job,
    run_to_exit,
    worker_process,
)


async def test_arqs_worker_completes_jobs_and_retries_failures_with_backoff(queue: str, redis: Redis) -> None:
    """`arq ... --burst`: a job completes, a failing one is retried FAIL_DELAY_MS apart until its attempts are
    used up; both are retained, nothing else is left in Redis, and only our JSON events are printed."""
    echo = await remote_job("process.echo", queue).trigger({"text": "via arq"})
    fail = await remote_job("process.fail", queue).trigger({"why": "arq"})
    done = run_to_exit([*ARQ, "--burst"], process_env(queue, LOG_LEVEL="DEBUG"))
    assert done.returncode == 0, done.output
    assert done.stderr == "", "arq's own startup lines are silenced too"
    for arq_marker in ("→", "←", "●", "↻", "Starting worker", "redis_version"):
        assert arq_marker not in done.output, done.output
    events = parse_json_lines(done.stdout)

    completed = await echo.record()
    assert completed is not None and completed.status is JobStatus.COMPLETED
    assert completed.attempts == 1 and completed.result == {"text": "via arq"}
    failed = await fail.record()
    assert failed is not None and failed.status is JobStatus.FAILED and failed.attempts == FAIL_ATTEMPTS
    assert failed.error is not None and failed.error.message == "broken on purpose: arq"
    assert await redis.zscore(keys.finished(queue, "completed"), echo.id) is not None
    assert await redis.zscore(keys.finished(queue, "failed"), fail.id) is not None

    started = [e for e in events if e["event"] == "job.started" and e["job_id"] == fail.id]
    assert [e["attempt"] for e in started] == list(range(1, FAIL_ATTEMPTS + 1))
    times = [datetime.fromisoformat(e["timestamp"]) for e in started]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(gap >= FAIL_DELAY_MS / 1000 for gap in gaps), gaps
    retried = [e["attempt"] for e in events if e["event"] == "job.retrying" and e["job_id"] == fail.id]
    assert retried == list(range(1, FAIL_ATTEMPTS))
    assert [e["attempt"] for e in events if e["event"] == "job.failed"] == [FAIL_ATTEMPTS]
    assert [e["job_id"] for e in events if e["event"] == "job.completed"] == [echo.id]

    for job_id in (echo.id, fail.id):
        leftovers = [keys.job(job_id), keys.tries(job_id), keys.lock(job_id), f"arq:result:{job_id}"]
        assert await redis.exists(*leftovers) == 0
    assert await redis.zcard(keys.queue(queue)) == 0


def test_worker_settings_runs_the_jobs_queue_with_json_serializers(define: Define, queue: str) -> None:
    """The class for arq's CLI takes JOBS_QUEUE's jobs and concurrency, on arq's key layout, JSON not pickle."""

    async def mine(payload: dict[str, int]) -> None:
        return None

    async def elsewhere(payload: dict[str, int]) -> None:
        return None

    ours = define(mine)
    define(elsewhere, queue=f"{queue}-other")
    settings = load_settings(redis_url=REDIS_URL, jobs_queue=queue, jobs_queue_concurrency={queue: 4})
    cls: Any = worker_settings(settings)
    assert cls.queue_name == f"arq:queue:{queue}" == keys.queue(queue)
    assert [f.name for f in cls.functions] == [ours.name]
    assert cls.max_jobs == 4 and cls.keep_result == 0
    stored = {"t": 1, "f": ours.name, "a": [{"n": 1}], "k": {}, "et": 1_700_000_000_000, "q": queue}
    raw = cls.job_serializer(stored)
    assert isinstance(raw, bytes) and json.loads(raw) == stored
    assert cls.job_deserializer(raw) == stored
    with pytest.raises(ValueError):
        cls.job_deserializer(pickle.dumps(stored))


def test_worker_settings_for_a_queue_without_jobs_is_a_startup_error(define: Define, queue: str) -> None:
    """arq refuses a worker with no functions with a traceback; we name JOBS_QUEUE and the queues that have jobs."""

    async def mine(payload: dict[str, int]) -> None:
        return None

    define(mine)
    with pytest.raises(StartupError, match=rf"JOBS_QUEUE='{queue}-empty'.*{queue}"):
        worker_settings(load_settings(redis_url=REDIS_URL, jobs_queue=f"{queue}-empty"))


async def test_arqs_worker_logs_ready_stopping_and_stopped_like_ours(queue: str) -> None:
    """A burst run logs `worker.ready`, `worker.stopping` and `worker.stopped` (totals), as `jobs worker` does."""
    await remote_job("process.echo", queue).trigger({"text": "counted"})
    await remote_job("process.fail", queue).trigger({"why": "counted"})
    done = run_to_exit([*ARQ, "--burst"], process_env(queue, JOBS_QUEUE_CONCURRENCY=f"{queue}=2"))
    assert done.returncode == 0, done.output
    events = parse_json_lines(done.stdout)
    names = [e["event"] for e in events if e["event"].startswith("worker.")]
    assert names == ["worker.ready", "worker.stopping", "worker.stopped"], done.stdout
    ready, stopping, stopped = (next(e for e in events if e["event"] == name) for name in names)
    assert ready["queues"] == [queue] and ready["concurrency"] == {queue: 2}
    assert ready["jobs"] == ["process.echo", "process.fail", "process.wait"]
    assert stopping["running"] == 0
    totals = {k: stopped[k] for k in ("completed", "failed", "retried", "released")}
    assert totals == {"completed": 1, "failed": 1, "retried": FAIL_ATTEMPTS - 1, "released": 0}


@pytest.mark.parametrize("grace", ["1", "0"], ids=["after-the-grace-period", "at-once"])
async def test_a_sigterm_to_arqs_worker_logs_the_job_it_cancels_between_stopping_and_stopped(
    queue: str, grace: str
) -> None:
    """SIGTERM: `worker.stopping` (running 1), `job.released` when arq cancels the job, `worker.stopped`."""
    env = process_env(queue, LOG_LEVEL="DEBUG", JOBS_SHUTDOWN_TIMEOUT=grace)
    with worker_process(env, ARQ) as worker:
        await worker.wait_for("worker.ready", timeout=15)
        handle = await remote_job("process.wait", queue).trigger({"seconds": 30})
        await worker.wait_for("job.started", job_id=handle.id)
        worker.send(signal.SIGTERM)
        assert await worker.exit_code(timeout=15) == 0
    events = [e for e in worker.events() if e["event"] in ("worker.stopping", "job.released", "worker.stopped")]
    assert [e["event"] for e in events] == ["worker.stopping", "job.released", "worker.stopped"], worker.output
    stopping, released, stopped = events
    assert stopping["running"] == 1
    assert (released["job_id"], released["job"], released["attempt"]) == (handle.id, "process.wait", 1)
    assert (stopped["released"], stopped["completed"], stopped["failed"]) == (1, 0, 0)
