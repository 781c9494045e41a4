"""Prometheus metrics: a worker process's /metrics (JOBS_METRICS_PORT) and the dashboard's queue gauges."""

from __future__ import annotations

import json
import sys

from redis.asyncio import Redis

from jobs import admin
from jobs.dashboard import dashboard
from jobs.observe.metrics import WorkerMetrics
from jobs.observe.queue_gauges import QueueGauges
from jobs.store.counts import QueueCounts

from .conftest import Cli
from .dashboard_support import free_port, http
from .helpers import wait_until
from .observe_support import samples, scrape, value
from .processes import process_env, remote_job, run_to_exit, worker_process

OBSERVE = "tests.observe_jobs"


def observe_env(queue: str, **overrides: str) -> dict[str, str]:
    return process_env(queue, JOBS_MODULES=OBSERVE, OBSERVE_QUEUE=queue, **overrides)


async def test_a_worker_serves_exactly_the_counts_of_what_it_ran(queue: str, cli: Cli) -> None:
    """Five completions, two retries and a final failure: the scrape shows exactly those counts, the
    histograms count every attempt, nothing runs, and jobs_queue_jobs agrees with `jobs stats`."""
    port = free_port()
    with worker_process(observe_env(queue, JOBS_METRICS_PORT=str(port))) as worker:
        ready = await worker.wait_for("worker.metrics")
        assert ready["url"] == f"http://127.0.0.1:{port}/metrics"
        for n in range(5):
            await remote_job("observe.ok", queue).trigger({"n": n})
        await remote_job("observe.fails", queue).trigger({})
        await remote_job("observe.ok", queue).trigger({"later": True}, delay=3600)  # scheduled, not run
        await worker.wait_for("job.failed", job="observe.fails", timeout=20)
        await wait_until(lambda: len(worker.named("job.completed")) == 5, what="five completions")
        status, content_type, text = await scrape(port)
        assert status == 200 and content_type.startswith("text/plain; version=")
        found = samples(text)
        ok, fails = {"queue": queue, "job": "observe.ok"}, {"queue": queue, "job": "observe.fails"}
        assert value(found, "jobs_completed_total", **ok) == 5
        assert value(found, "jobs_completed_total", **fails) == 0
        assert value(found, "jobs_retried_total", **fails) == 2
        assert value(found, "jobs_failed_total", **fails) == 1
        assert value(found, "jobs_failed_total", **ok) == value(found, "jobs_retried_total", **ok) == 0
        assert value(found, "jobs_duration_seconds_count", **ok, outcome="completed") == 5
        assert value(found, "jobs_duration_seconds_count", **fails, outcome="retried") == 2
        assert value(found, "jobs_duration_seconds_count", **fails, outcome="failed") == 1
        assert value(found, "jobs_duration_seconds_bucket", **ok, outcome="completed", le="+Inf") == 5
        assert value(found, "jobs_wait_seconds_count", **ok) == 5
        assert value(found, "jobs_wait_seconds_count", **fails) == 3
        assert value(found, "jobs_running", queue=queue) == 0
        assert not any("job_id" in dict(labels) for _, labels in found), "no label takes a job id"
        stats = await cli("stats", "--queue", queue, "--json")
        assert stats.code == 0, stats.err
        (counts,) = json.loads(stats.out)
        assert (counts["completed"], counts["failed"], counts["scheduled"]) == (5, 1, 1)
        for state in ("queued", "scheduled", "running", "completed", "failed", "cancelled"):
            assert value(found, "jobs_queue_jobs", queue=queue, state=state) == counts[state], state
        worker.send(__import__("signal").SIGTERM)
        assert await worker.exit_code(timeout=15) == 0


async def test_jobs_running_counts_the_attempts_running_now(queue: str, redis: Redis) -> None:
    """While a job waits for its flag the gauge reads 1; once it returns, 0 and one completion;
    a running job cancelled counts in jobs_cancelled_total, and in nothing else."""
    port, flag = free_port(), f"{queue}:flag"
    with worker_process(observe_env(queue, JOBS_METRICS_PORT=str(port), LOG_LEVEL="DEBUG")) as worker:
        await worker.wait_for("worker.metrics")
        handle = await remote_job("observe.wait", queue).trigger({"flag": flag})
        await worker.wait_for("job.started", job_id=handle.id)
        running = samples((await scrape(port))[2])
        assert value(running, "jobs_running", queue=queue) == 1
        await redis.set(flag, 1)
        await worker.wait_for("job.completed", job_id=handle.id)
        done = samples((await scrape(port))[2])
        assert value(done, "jobs_running", queue=queue) == 0
        assert value(done, "jobs_completed_total", queue=queue, job="observe.wait") == 1
        assert value(done, "jobs_cancelled_total", queue=queue, job="observe.wait") == 0
        stopped = await remote_job("observe.wait", queue).trigger({"flag": f"{flag}:never"})
        await worker.wait_for("job.started", job_id=stopped.id)
        assert (await stopped.cancel()).changed
        await worker.wait_for("job.cancelled", job_id=stopped.id)
        after = samples((await scrape(port))[2])
        wait_job = {"queue": queue, "job": "observe.wait"}
        assert value(after, "jobs_cancelled_total", **wait_job) == 1
        assert value(after, "jobs_running", queue=queue) == 0
        assert value(after, "jobs_completed_total", **wait_job) == 1
        assert value(after, "jobs_failed_total", **wait_job) == value(after, "jobs_retried_total", **wait_job) == 0


async def test_the_metrics_port_refuses_other_paths_and_a_port_taken_is_a_bad_setting(queue: str) -> None:
    """/ is a 404; a second worker on the same port stops at once in one line naming the variable, exit 2."""
    port = free_port()
    with worker_process(observe_env(queue, JOBS_METRICS_PORT=str(port))) as worker:
        await worker.wait_for("worker.metrics")
        status, _, body = await scrape(port, "/")
        assert status == 404 and "/metrics" in body
        taken = run_to_exit([sys.executable, "-m", "servers.jobs"], observe_env(queue, JOBS_METRICS_PORT=str(port)))
        assert taken.returncode == 2, taken.output
        assert (
            taken.stderr.startswith(f"error: JOBS_METRICS_PORT={port}: cannot serve /metrics")
            and "Traceback" not in taken.stderr
        )


def test_a_bad_metrics_setting_names_the_variable_and_exits_2(queue: str) -> None:
    """JOBS_METRICS_PORT=abc or 0, JOBS_METRICS_HOST=a/b: one line, the variable named, exit 2."""
    for name, bad in (("JOBS_METRICS_PORT", "abc"), ("JOBS_METRICS_PORT", "0"), ("JOBS_METRICS_HOST", "a/b")):
        done = run_to_exit([sys.executable, "-m", "servers.jobs"], observe_env(queue, **{name: bad}))
        assert done.returncode == 2, done.output
        assert f"{name}={bad!r}" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_without_prometheus_client_the_worker_says_how_to_install_it(queue: str) -> None:
    """The metrics extra missing (its import blocked): one line with the pip command, exit 2."""
    blocker = (
        "import sys; sys.modules['prometheus_client'] = None; from jobs.runtime.process import main; sys.exit(main([]))"
    )
    done = run_to_exit([sys.executable, "-c", blocker], observe_env(queue, JOBS_METRICS_PORT=str(free_port())))
    assert done.returncode == 2, done.output
    assert "pip install 'jobs[metrics]'" in done.stderr and "Traceback" not in done.stderr, done.stderr


async def test_the_dashboard_serves_the_queue_gauges(queue: str) -> None:
    """/metrics of the dashboard: jobs_queue_jobs of a queue only Redis knows, equal to `admin.counts`."""
    app = dashboard()
    stray = remote_job("observe.ok", queue)
    await stray.trigger({})
    await stray.trigger({}, delay=3600)
    await app.state.directory.rescan()
    async with http(app) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=")
    found = samples(response.text)
    counts = await admin.counts(queue)
    assert (counts.queued, counts.scheduled) == (1, 1)
    for state in ("queued", "scheduled", "running", "completed", "failed", "cancelled"):
        assert value(found, "jobs_queue_jobs", queue=queue, state=state) == getattr(counts, state), state
    assert not any(name.startswith("jobs_completed") for name, _ in found), "no worker counters on the dashboard"


def test_the_dashboards_metrics_without_prometheus_client_say_how_to_install_it() -> None:
    """The metrics extra missing (its import blocked): /metrics is a 404 naming the pip command."""
    code = (
        "import sys, asyncio, httpx; sys.modules['prometheus_client'] = None\n"
        "from jobs.dashboard import dashboard\n"
        "async def main():\n"
        "    transport = httpx.ASGITransport(app=dashboard())\n"
        "    async with httpx.AsyncClient(transport=transport, base_url='http://t') as client:\n"
        "        response = await client.get('/metrics')\n"
        "    print(response.status_code, response.text.strip())\n"
        "asyncio.run(main())\n"
    )
    done = run_to_exit([sys.executable, "-c", code], process_env())
    assert done.returncode == 0, done.output
    assert done.stdout.strip() == "404 The metrics need prometheus_client: pip install 'jobs[metrics]'"


async def test_concurrent_scrapes_within_a_second_share_one_read() -> None:
    """Ten refreshes at once, and again within the second: one read of Redis."""
    import asyncio

    async def read() -> list[QueueCounts]:
        await asyncio.sleep(0.01)
        return [QueueCounts("q", 1, 2, 3, 4, 5, False, 6)]

    gauges = QueueGauges(read, cache_seconds=60)
    await asyncio.gather(*(gauges.refresh() for _ in range(10)))
    await gauges.refresh()
    assert gauges.reads == 1
    (family,) = list(gauges.collect())
    assert [(s.labels["state"], s.value) for s in family.samples] == [
        ("queued", 1),
        ("scheduled", 2),
        ("running", 3),
        ("completed", 4),
        ("failed", 5),
        ("cancelled", 6),
    ]


def test_series_exist_for_every_defined_job_and_unknown_names_share_one() -> None:
    """Counters read 0 before the first job; a name no definition has is counted as <unknown>."""
    metrics = WorkerMetrics({"q": ["a", "b"]})
    assert metrics.series("q", "nobody") is metrics.series("q", "someone else")
    metrics.series("q", "a").started(0.002)
    metrics.series("q", "a").ended_completed(0.2)
    families = {f.name: f for f in metrics.collect()}
    completed = {s.labels["job"]: s.value for s in families["jobs_completed"].samples}
    assert completed == {"a": 1, "b": 0, "<unknown>": 0}
    buckets = {
        s.labels["le"]: s.value
        for s in families["jobs_duration_seconds"].samples
        if s.name.endswith("_bucket") and s.labels["job"] == "a" and s.labels["outcome"] == "completed"
    }
    assert (buckets["0.1"], buckets["0.25"], buckets["+Inf"]) == (0, 1, 1)
