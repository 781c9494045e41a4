"""Worker heartbeats: every second each worker writes who it is, what it serves and what it runs.

A beat is one JSON document under a key that expires after `BEAT_TTL_MS`, so a killed worker
disappears within seconds, and the worker's id in a sorted set, for listing (ids whose key
expired are pruned as they are listed). The same round trip adds the outcomes counted since
the last beat to the throughput counters. Nothing here runs per job: what runs, and since when,
is read from the queue runners' memory once per beat.

Running jobs are known from the beats alone (a running job stays in its queue, locked): that is
what makes counting a queue O(1). arq's own worker sends no beats: its running jobs count as queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..clock import now_ms
from ..store import throughput
from ..store.connection import REDIS_ERRORS, Connection
from ..store.presence import BEAT_TTL_MS, RunningJob, WorkerInfo

if TYPE_CHECKING:
    from .queue_runner import QueueRunner

BEAT_INTERVAL_S = 1.0
REMOVE_TIMEOUT_S = 2.0


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Heartbeat:
    """Beats for one worker until cancelled; `remove` takes it off the list at a clean shutdown."""

    def __init__(
        self,
        worker_id: str,
        conn: Connection,
        runners: Sequence[QueueRunner],
        concurrency: Mapping[str, int],
        burst: bool,
    ) -> None:
        self.worker_id = worker_id
        self._redis = conn.redis
        self._keys = conn.keys
        self._runners = runners
        self._key = conn.keys.worker(worker_id)
        host, pid, _ = worker_id.rsplit(":", 2)
        self._host, self._pid = host, int(pid)
        self._concurrency = dict(concurrency)
        self._started_ms = now_ms()
        self._burst = burst
        self._flushed = {r.queue: (0, 0) for r in runners}  # completed, failed already added to throughput

    def snapshot(self, at_ms: int) -> WorkerInfo:
        running = [
            RunningJob(job_id, attempt.name, attempt.queue, attempt.number, started)
            for runner in self._runners
            for job_id, (attempt, started) in list(runner.started.items())
        ]
        queues = [r.queue for r in self._runners]
        return WorkerInfo(
            self.worker_id,
            self._host,
            self._pid,
            queues,
            self._concurrency,
            self._started_ms,
            at_ms,
            self._burst,
            running,
        )

    async def beat(self) -> None:
        """Write this worker's beat and flush its outcome counts: one round trip."""
        now = now_ms()
        body = json.dumps(self.snapshot(now).to_dict(), separators=(",", ":"))
        flushing = self._deltas()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._key, body, px=BEAT_TTL_MS)
            pipe.zadd(self._keys.workers, {self.worker_id: now})
            for queue, (completed, failed, _) in flushing.items():
                throughput.add(pipe, queue, completed, failed, now, self._keys)
            await pipe.execute()
        for queue, (_, _, totals) in flushing.items():
            self._flushed[queue] = totals

    async def run(self) -> None:
        """Beat every BEAT_INTERVAL_S; a beat Redis does not take is simply the next one's."""
        while True:
            with contextlib.suppress(*REDIS_ERRORS):
                await self.beat()
            await asyncio.sleep(BEAT_INTERVAL_S)

    async def remove(self) -> None:
        """The last outcome counts, then off the list (bounded: Redis may be gone at shutdown)."""
        with contextlib.suppress(*REDIS_ERRORS, TimeoutError):
            async with asyncio.timeout(REMOVE_TIMEOUT_S):
                await self.beat()
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.delete(self._key)
                    pipe.zrem(self._keys.workers, self.worker_id)
                    await pipe.execute()

    def _deltas(self) -> dict[str, tuple[int, int, tuple[int, int]]]:
        """Per queue with news: completed and failed since the last flush, and the totals now."""
        deltas = {}
        for runner in self._runners:
            totals = (runner.counts["completed"], runner.counts["failed"])
            done, failed = self._flushed[runner.queue]
            if totals != (done, failed):
                deltas[runner.queue] = (totals[0] - done, totals[1] - failed, totals)
        return deltas
