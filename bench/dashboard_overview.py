"""What the dashboard's pages cost over a queue of 1,000,000 queued jobs (not a test).

Fills a queue with N queued jobs in the library's stored format (pipelined SET + ZADD, as a
trigger_many would leave them), 1,000 completed and 1,000 failed records, and one live worker
heartbeat; then times requests to the dashboard app in this process (httpx over ASGI: the app and
its Redis work, no network) and prints p50 / p99 / max per page:

    .venv/bin/python bench/dashboard_overview.py [--jobs 1000000] [--requests 200]

Uses database 13 of the local Redis (BENCH_DASHBOARD_REDIS_URL to change it), which must be empty;
emptied at the end. The background queue discovery (a SCAN of the whole database, at most once every
5 minutes) is run and timed first, then left out of the page timings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

REDIS_URL = os.environ.get("BENCH_DASHBOARD_REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ["REDIS_URL"] = REDIS_URL

import httpx  # noqa: E402
from pydantic import BaseModel  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from jobs import JobStatus, job  # noqa: E402
from jobs.clock import now_ms  # noqa: E402
from jobs.dashboard import dashboard  # noqa: E402
from jobs.records import JobRecord  # noqa: E402
from jobs.store import keys  # noqa: E402

QUEUE = "bench-dashboard"
BATCH = 10_000


class Order(BaseModel):
    order_id: str
    customer_id: str
    amount_cents: int


async def process_order(payload: Order) -> None:
    return None


async def notify(payload: Order) -> None:
    return None


orders = job(name="process-order", queue=QUEUE, run=process_order)
notifications = job(name="notify-customer", queue=QUEUE, run=notify)


async def fill(redis: Redis, n: int) -> float:
    """N queued jobs (one in ten a notify-customer), due over the last N ms; returns seconds taken."""
    started = time.perf_counter()
    now = now_ms()
    for first in range(0, n, BATCH):
        async with redis.pipeline(transaction=False) as pipe:
            scores = {}
            for i in range(first, min(n, first + BATCH)):
                job_id = f"{i:012d}{'b' * 20}"
                the_job = notifications if i % 10 == 0 else orders
                payload = {"order_id": f"ord_{i}", "customer_id": f"cus_{i % 5000}", "amount_cents": 1000 + i % 9000}
                pipe.set(keys.job(job_id), the_job.encode(payload, now - n + i))
                scores[job_id] = now - n + i
            pipe.zadd(keys.queue(QUEUE), scores)
            await pipe.execute()
    for status in (JobStatus.COMPLETED, JobStatus.FAILED):
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(1000):
                job_id = f"{status.value}-{i:06d}"
                record = JobRecord(
                    job_id, orders.name, QUEUE, status, {"order_id": f"ord_{i}"}, {"ok": True}, None, 1, now, now, now
                )
                pipe.set(keys.record(job_id), record.to_json())
                pipe.zadd(keys.finished(QUEUE, status.value), {job_id: now * 1000 + i})
            await pipe.execute()
    beat = {
        "id": "bench:1:abc",
        "host": "bench",
        "pid": 1,
        "queues": [QUEUE],
        "concurrency": {QUEUE: 8},
        "started_ms": now,
        "last_beat_ms": now,
        "burst": False,
        "running": [
            {"id": f"{i:012d}{'b' * 20}", "job": orders.name, "queue": QUEUE, "attempt": 1, "started_ms": now}
            for i in range(8)
        ],
    }
    await redis.set(keys.worker("bench:1:abc"), json.dumps(beat), px=600_000)
    await redis.zadd(keys.WORKERS_KEY, {"bench:1:abc": now})
    return time.perf_counter() - started


async def timed(client: httpx.AsyncClient, path: str, requests: int) -> dict[str, Any]:
    for _ in range(5):  # warm-up
        (await client.get(path)).raise_for_status()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    samples.sort()
    return {
        "path": path,
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2),
        "max_ms": round(samples[-1], 2),
        "bytes": len(response.content),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    redis: Redis = Redis.from_url(REDIS_URL)
    if await redis.dbsize():
        raise SystemExit(f"{REDIS_URL} is not empty: point BENCH_DASHBOARD_REDIS_URL at an empty database")
    try:
        seconds = await fill(redis, args.jobs)
        print(f"filled {args.jobs:,} queued jobs in {seconds:.1f} s; Redis holds {await redis.dbsize():,} keys")
        app = dashboard()
        started = time.perf_counter()
        await app.state.directory.rescan()
        scan = time.perf_counter() - started
        print(f"queue discovery (a SCAN of the whole database, in the background every 5 minutes): {scan:.2f} s")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            overview = (await client.get("/")).text
            assert f"{args.jobs - 8:,}" in overview, "the overview does not show the queued count"
            pages = [
                "/",
                "/?partial=1",
                f"/queues/{QUEUE}",
                f"/queues/{QUEUE}?page=1000",
                f"/queues/{QUEUE}?job=notify-customer",
                "/workers",
            ]
            for path in pages:
                r = await timed(client, path, args.requests)
                timing = f"p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms   max {r['max_ms']:7.2f} ms"
                print(f"GET {r['path']:<42} {timing}")
    finally:
        await redis.flushdb()
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
