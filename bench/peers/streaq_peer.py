"""Bench peer: streaq (Redis streams via coredis, pickle serializer, results kept ttl=300 s)."""

from __future__ import annotations

from contextlib import AsyncExitStack

from _harness import Peer, job_started, run_cli
from streaq import Worker
from streaq.task import AsyncRegisteredTask


async def noop() -> None:
    """The no-op job."""
    job_started()


class StreaqPeer(Peer):
    """streaq 7.2: ``task.enqueue()``, ``Worker.enqueue_many`` and ``Worker.run_async`` (what ``streaq run`` runs)."""

    name = "streaq"
    distribution = "streaq"
    bulk_api = "Worker.enqueue_many"
    config = {
        "queue": "Redis stream + consumer group (coredis client); prefetch buffer 2 x concurrency (default)",
        "serializer": "pickle (streaq default)",
        "results": "stored in Redis, task ttl=300 s (streaq default)",
        "worker": "streaq.Worker(concurrency=concurrency).run_async() in a subprocess, anyio on asyncio (default)",
    }

    def __init__(self, redis_url: str, variant: str | None) -> None:
        super().__init__(redis_url, variant)
        self.worker, self.task = self._make_worker(concurrency=16)  # producer side: concurrency unused
        self._stack = AsyncExitStack()

    def _make_worker(self, concurrency: int) -> tuple[Worker[None], AsyncRegisteredTask[[], None]]:
        worker: Worker[None] = Worker(redis_url=self.redis_url, concurrency=concurrency)
        return worker, worker.task(noop)

    async def connect(self) -> None:
        await self._stack.enter_async_context(self.worker)

    async def disconnect(self) -> None:
        await self._stack.aclose()

    async def enqueue(self) -> None:
        await self.task.enqueue()

    async def enqueue_bulk(self, count: int) -> None:
        await self.worker.enqueue_many([self.task.enqueue() for _ in range(count)])

    async def run_worker(self, concurrency: int) -> None:
        worker, _ = self._make_worker(concurrency)
        await worker.run_async()  # returns after SIGTERM/SIGINT (streaq handles signals)


if __name__ == "__main__":
    run_cli(StreaqPeer)
