"""Bench peer: bullmq, the Python port of BullMQ (Lua scripts, JSON data, completed jobs kept)."""

from __future__ import annotations

from typing import Any

from _harness import Peer, job_started, run_cli
from bullmq import Queue, Worker  # type: ignore[import-untyped]

QUEUE_NAME = "bench"


async def noop(job: Any, token: str) -> None:
    """The no-op job (BullMQ processor signature)."""
    job_started()


class BullmqPeer(Peer):
    """bullmq 3.4: ``Queue.add`` / ``Queue.addBulk`` and ``Worker(...).run()``."""

    name = "bullmq"
    distribution = "bullmq"
    bulk_api = "Queue.addBulk"
    config = {
        "queue": "BullMQ queue (Lua scripts, blocking marker wait)",
        "serializer": "JSON (BullMQ)",
        "results": "return value kept on the job hash in Redis, removeOnComplete=False (BullMQ default: kept)",
        "worker": "bullmq.Worker(name, processor, {concurrency, autorun: False}).run() in a subprocess",
    }

    def __init__(self, redis_url: str, variant: str | None) -> None:
        super().__init__(redis_url, variant)
        self.queue: Queue | None = None

    async def connect(self) -> None:
        self.queue = Queue(QUEUE_NAME, {"connection": self.redis_url})

    async def disconnect(self) -> None:
        if self.queue is not None:
            await self.queue.close()

    async def enqueue(self) -> None:
        assert self.queue is not None
        await self.queue.add("noop", {})

    async def enqueue_bulk(self, count: int) -> None:
        assert self.queue is not None
        await self.queue.addBulk([{"name": "noop", "data": {}} for _ in range(count)])

    async def run_worker(self, concurrency: int) -> None:
        worker = Worker(QUEUE_NAME, noop, {"connection": self.redis_url, "concurrency": concurrency, "autorun": False})
        try:
            await worker.run()
        finally:
            await worker.close()


if __name__ == "__main__":
    run_cli(BullmqPeer)
