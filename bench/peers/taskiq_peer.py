"""Bench peer: taskiq + taskiq-redis, RedisStreamBroker (the README's default, with acks)
and RedisAsyncResultBackend so results are stored in Redis like the other peers."""

from __future__ import annotations

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _harness import Peer, job_started, run_cli
from taskiq.receiver import Receiver
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker


async def noop() -> None:
    """The no-op job."""
    job_started()


class TaskiqPeer(Peer):
    """taskiq 0.13: ``task.kiq()``; the worker is what one ``taskiq worker`` child process runs."""

    name = "taskiq"
    distribution = "taskiq"
    bulk_api = None  # taskiq has no bulk kick API
    config = {
        "broker": "taskiq_redis.RedisStreamBroker (stream + consumer group, acks; taskiq-redis README default)",
        "serializer": "JSON messages (taskiq default); results pickled (result backend default)",
        "results": "RedisAsyncResultBackend(result_ex_time=3600) -- taskiq stores none by default",
        "worker": "Receiver(broker, max_async_tasks=concurrency).listen(shutdown_event) in a subprocess, "
        "as in one `taskiq worker` child (the CLI forks 2 by default; uvloop only if installed, it is not); "
        "ack when result saved (default)",
    }

    def __init__(self, redis_url: str, variant: str | None) -> None:
        super().__init__(redis_url, variant)
        backend: RedisAsyncResultBackend[Any] = RedisAsyncResultBackend(redis_url=redis_url, result_ex_time=3600)
        self.broker = RedisStreamBroker(url=redis_url).with_result_backend(backend)
        self.task = self.broker.register_task(noop, task_name="noop")

    async def connect(self) -> None:
        await self.broker.startup()  # also creates the consumer group, so jobs queued now are kept

    async def disconnect(self) -> None:
        await self.broker.shutdown()

    async def enqueue(self) -> None:
        await self.task.kiq()

    async def run_worker(self, concurrency: int) -> None:
        self.broker.is_worker_process = True
        shutdown = asyncio.Event()  # SIGTERM sets it, as the taskiq CLI does
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, shutdown.set)
        with ThreadPoolExecutor() as pool:
            receiver = Receiver(broker=self.broker, executor=pool, max_async_tasks=concurrency)
            try:
                await receiver.listen(shutdown)  # runs broker.startup() first
            finally:
                await asyncio.wait_for(self.broker.shutdown(), 10.0)


if __name__ == "__main__":
    run_cli(TaskiqPeer)
