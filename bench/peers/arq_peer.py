"""Bench peer: bare arq (defaults: pickle serializer, poll_delay 0.5 s, results kept 3600 s)."""

from __future__ import annotations

from typing import Any

from _harness import Peer, job_started, run_cli
from arq import Worker, create_pool
from arq.connections import ArqRedis, RedisSettings


async def noop(ctx: dict[str, Any]) -> None:
    """The no-op job."""
    job_started()


class ArqPeer(Peer):
    """arq 0.28: ``ArqRedis.enqueue_job`` and ``Worker.async_run`` (what the ``arq`` CLI runs)."""

    name = "arq"
    distribution = "arq"
    bulk_api = None  # arq has no bulk enqueue API
    config = {
        "queue": "default arq queue (sorted set), polled",
        "serializer": "pickle (arq default)",
        "results": "stored in Redis, keep_result=3600 s (arq default)",
        "poll_delay": "0.5 s (arq default)",
        "worker": "arq.Worker(...).async_run() in a subprocess; max_jobs=concurrency",
    }

    def __init__(self, redis_url: str, variant: str | None) -> None:
        super().__init__(redis_url, variant)
        self.settings = RedisSettings.from_dsn(redis_url)
        self.pool: ArqRedis | None = None

    async def connect(self) -> None:
        self.pool = await create_pool(self.settings)

    async def disconnect(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()

    async def enqueue(self) -> None:
        assert self.pool is not None
        await self.pool.enqueue_job("noop")

    async def run_worker(self, concurrency: int) -> None:
        worker = Worker(functions=[noop], redis_settings=self.settings, max_jobs=concurrency)
        try:
            await worker.async_run()
        finally:
            await worker.close()


if __name__ == "__main__":
    run_cli(ArqPeer)
