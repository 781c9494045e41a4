"""Bench peer: saq (Redis queue, JSON serializer, job + result kept ttl=600 s by default)."""

from __future__ import annotations

from typing import Any

from _harness import Peer, job_started, run_cli
from saq import Queue, Worker


async def noop(ctx: dict[str, Any]) -> None:
    """The no-op job."""
    job_started()


class SaqPeer(Peer):
    """saq 0.26: ``Queue.enqueue`` and ``Worker.start`` (what the ``saq`` CLI runs, minus its web UI)."""

    name = "saq"
    distribution = "saq"
    bulk_api = None  # saq has no bulk enqueue (Queue.map enqueues with gather and waits for results)
    config = {
        "queue": "saq RedisQueue (list + BLMOVE, one blocking dequeue per concurrency slot)",
        "serializer": "JSON (saq default)",
        "results": "stored in the job hash in Redis, ttl=600 s (saq default)",
        "worker": "saq.Worker(queue, [noop], concurrency=concurrency).start() in a subprocess",
    }

    def __init__(self, redis_url: str, variant: str | None) -> None:
        super().__init__(redis_url, variant)
        self.queue = Queue.from_url(redis_url)

    async def connect(self) -> None:
        await self.queue.connect()

    async def disconnect(self) -> None:
        await self.queue.disconnect()

    async def enqueue(self) -> None:
        await self.queue.enqueue("noop")

    async def run_worker(self, concurrency: int) -> None:
        await self.queue.connect()
        worker: Worker[Any] = Worker(self.queue, functions=[noop], concurrency=concurrency)
        await worker.start()  # returns after SIGTERM/SIGINT (saq installs its own handlers)


if __name__ == "__main__":
    run_cli(SaqPeer)
