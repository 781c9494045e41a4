"""A queue runner's side of `jobs cancel`: stop the attempt it runs, or the job it is about to start.

A cancel of a job a worker holds reaches the runner two ways (store/lua/cancel.lua): a message on
the queue's wake channel, heard by every worker of the queue and acted on by the one that runs the
job (its task is cancelled: CancelledError in the job, whose finally blocks and async context
managers run), and a mark in the stored job, which the worker reads with the job when it starts
it, so a job claimed before the cancel and started after it, or taken over from a killed worker,
never runs. A message heard for a job this runner has not received yet (its claim's reply still on
the way) is remembered for a few seconds; after a subscription outage, the running jobs' marks are
read once. Nothing here costs a job that nobody cancels more than an empty-dict check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

import structlog

from ..records import JobRecord
from ..store import scripts
from ..store.connection import REDIS_ERRORS, Connection

log = structlog.get_logger("jobs")

HEARD_FOR_S = 10.0  # how long a cancel of a job not (yet) held here is remembered
STORE_ATTEMPTS = 8  # tries to store a cancelled job before leaving it to its lock's expiry
_MARK = b'{"cancel":1'


class Cancels:
    """The cancel requests of one queue runner."""

    def __init__(self, conn: Connection, queue: str, token: str, keep: int) -> None:
        self._conn, self._queue, self._token, self.keep = conn, queue, token, keep
        self.heard: dict[str, float] = {}  # job id -> when heard, for jobs not running here (yet)
        self.stopping: set[str] = set()  # running here, their task cancelled by request
        self.count = 0  # jobs this runner retained as cancelled

    def request(self, job_id: str, task: asyncio.Task[None] | None) -> None:
        """A cancel was heard for `job_id`; `task` is its attempt if it runs its code here."""
        if task is not None:
            if job_id not in self.stopping:
                self.stopping.add(job_id)
                task.cancel("cancelled by request")
            return
        now = time.monotonic()
        if len(self.heard) > 1000 or any(now - at > HEARD_FOR_S for at in self.heard.values()):
            self.heard = {i: at for i, at in self.heard.items() if now - at <= HEARD_FOR_S}
        self.heard[job_id] = now

    def heard_of(self, job_id: str) -> bool:
        """Whether a cancel of the job about to start was heard (and forget it: it is acted on)."""
        return self.heard.pop(job_id, None) is not None

    def stopped(self, job_id: str) -> bool:
        """After the attempt's task raised CancelledError or returned: whether a cancel request
        did it (then the task is un-cancelled, to store the outcome); False for a shutdown."""
        if not self.stopping or job_id not in self.stopping:
            return False
        self.stopping.discard(job_id)
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return True

    async def store(self, record: JobRecord, attempt_number: int | None) -> None:
        """Retain a job this runner cancelled, fenced by its lock; log `job.cancelled`."""
        self.count += 1
        failures = 0
        while True:
            try:
                stored = await self._conn.run(
                    scripts.SETTLE_CANCELLED,
                    [self._conn.keys.queue(self._queue), self._conn.keys.finished(self._queue, "cancelled")],
                    [record.id, self._token, record.to_json(), self.keep],
                )
                break
            except REDIS_ERRORS as exc:
                failures += 1
                if failures >= STORE_ATTEMPTS:  # its lock lapses; whoever takes it over reads the mark
                    log.error("job.outcome_lost", job_id=record.id, queue=self._queue, reason=str(exc))
                    return
                await asyncio.sleep(min(0.1 * 2 ** (failures - 1), 2.0))
        if stored:
            log.info(
                "job.cancelled",
                job=record.job,
                job_id=record.id,
                queue=self._queue,
                attempt=attempt_number,
                status="running" if attempt_number else "queued",
            )
        else:
            log.warning(
                "job.outcome_discarded",
                job_id=record.id,
                queue=self._queue,
                job=record.job,
                outcome="cancelled",
                reason="another worker holds the job now: it took it over after this worker's lock lapsed",
            )

    async def check_marks(self, running: Callable[[], Mapping[str, asyncio.Task[None]]]) -> None:
        """After the subscription was down: cancel the running jobs whose stored job is marked
        (`running()`: the attempts begun, by job id, whose code has not ended)."""
        ids = list(running())
        if not ids:
            return
        try:
            raws = await self._conn.redis.mget([self._conn.keys.job(i, self._queue) for i in ids])
        except REDIS_ERRORS:
            return
        now = running()  # as it is after the read: an attempt may have ended meanwhile
        for job_id, raw in zip(ids, raws, strict=True):
            task = now.get(job_id)
            if raw is not None and raw.startswith(_MARK) and task is not None:
                self.request(job_id, task)
