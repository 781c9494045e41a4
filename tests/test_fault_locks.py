"""Locks under faults: what happens when a worker loses a lock, or never hears that it took one."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from jobs import keys

from .conftest import Define, StartWorker
from .helpers import wait_until


async def test_a_job_whose_lock_vanished_while_it_runs_is_not_started_again_by_the_same_worker(
    define: Define, start_worker: StartWorker, redis: Redis
) -> None:
    """A lock that lapsed mid-run (long outage, blocked loop) never makes its worker run the job twice."""
    runs: list[int] = []
    gate = asyncio.Event()

    async def hold(payload: int) -> int:
        runs.append(payload)
        await gate.wait()
        return payload

    held = define(hold)
    worker = await start_worker(concurrency=2, jobs_poll_interval=0.05)
    handle = await held.trigger(1)
    await wait_until(lambda: runs, what="the job running")
    await redis.delete(keys.lock(handle.id))  # as its expiry during a long outage would
    try:
        with pytest.raises(AssertionError, match="timed out"):  # twenty polls: none may start it again
            await wait_until(lambda: len(runs) > 1, timeout=1.0, what="a second run")
    finally:
        gate.set()
    assert await handle.result(timeout=5) == 1
    assert runs == [1] and worker.totals()["completed"] == 1


class ReplyDropper:
    """A TCP proxy to the test Redis that, once armed, swallows the first reply containing `marker`
    and closes that connection: Redis ran the command, the client never hears of it."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.marker: bytes | None = None
        self.dropped = asyncio.Event()
        self.server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        tasks = [asyncio.create_task(self._pump(client_r, up_w, replies=False))]
        tasks.append(asyncio.create_task(self._pump(up_r, client_w, replies=True)))
        self._tasks.update(tasks)
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for writer in (client_w, up_w):
            writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, replies: bool) -> None:
        while data := await reader.read(65536):
            if replies and self.marker is not None and self.marker in data:
                self.marker = None
                self.dropped.set()
                return  # the reply is lost with the connection
            writer.write(data)
            await writer.drain()


@pytest.mark.slow
async def test_a_job_claimed_in_a_reply_that_never_arrived_runs_without_waiting_for_its_lock(
    define: Define, start_worker: StartWorker, redis: Redis
) -> None:
    """The worker reconnects and finds the job it locked itself: it runs now as attempt 1, not once the lock expires."""

    async def echo(payload: int) -> int:
        return payload

    echoed = define(echo)
    upstream = redis.connection_pool.connection_kwargs["port"]
    proxy = ReplyDropper(upstream)
    port = await proxy.start()
    try:
        db = redis.connection_pool.connection_kwargs.get("db", 0)
        await start_worker(redis_url=f"redis://127.0.0.1:{port}/{db}", jobs_lock_timeout=5, jobs_poll_interval=0.1)
        handle = await echoed.trigger(1, delay=0.3)  # armed before the worker can claim it
        proxy.marker = handle.id.encode()
        await wait_until(proxy.dropped.is_set, timeout=3, what="the claim reply dropped")
        assert await handle.result(timeout=2.5) == 1
        record = await handle.record()
        assert record is not None and record.attempts == 1
    finally:
        await proxy.close()
