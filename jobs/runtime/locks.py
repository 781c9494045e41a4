"""Keep a queue runner's locks alive: renewed every third of their life while it holds the jobs,
so only a dead (or frozen) worker's jobs are taken over by another."""

from __future__ import annotations

import asyncio

import structlog

from ..store import scripts
from ..store.connection import REDIS_ERRORS, Connection
from .slots import Slots

log = structlog.get_logger("jobs")


class LockKeeper:
    """Renews the locks of the jobs in `slots`, which hold `token`, every `lock_ms / 3`."""

    def __init__(self, conn: Connection, queue: str, token: str, lock_ms: int, slots: Slots) -> None:
        self._conn = conn
        self._queue = queue
        self._token = token
        self._lock_ms = lock_ms
        self._slots = slots

    async def keep(self) -> None:
        while True:
            await asyncio.sleep(self._lock_ms / 3000)
            await self.renew()

    async def renew(self) -> None:
        """Renew every lock this runner holds, if still its own; report a running job's lock that
        lapsed or another worker took (`job.lock_lost`). A job whose outcome is being stored, or
        that shutdown interrupted, is not reported: storing or releasing it deletes its lock."""
        slots = self._slots
        held = list(slots.running.items())
        job_ids = [job_id for job_id, _ in held] + list(slots.ready)
        if not job_ids:
            return
        try:
            args = [self._lock_ms, self._token, *job_ids]
            renewed = await self._conn.run(scripts.RENEW_LOCKS, (self._conn.keys.queue(self._queue),), args)
        except REDIS_ERRORS as exc:
            log.warning("worker.lock_renewal_failed", queue=self._queue, error=str(exc) or type(exc).__name__)
            return
        for (job_id, task), ok in zip(held, renewed, strict=False):  # the jobs claimed ahead follow
            if ok or slots.running.get(job_id) is not task or task in slots.settling or task.cancelling():
                continue
            log.warning(
                "job.lock_lost", job_id=job_id, queue=self._queue, reason="lock lapsed or taken over while running"
            )
