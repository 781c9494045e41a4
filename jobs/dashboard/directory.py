"""Which queues the overview lists, without scanning Redis on every request.

The defined queues, those a live worker serves and the paused ones are known at once; queues
that only Redis knows (records of a job no longer defined, jobs from another service) are found
by `admin.known_queues` (a SCAN, proportional to the database) in the background, at most once
per `rescan_s`, and remembered. A page never waits for that scan.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from .. import registry
from ..ops import admin
from ..store.presence import WorkerInfo


class QueueDirectory:
    def __init__(self, rescan_s: float = 300.0) -> None:
        self.rescan_s = rescan_s
        self._found: list[str] = []
        self._scanned_at = float("-inf")
        self._scan: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def queues(self, workers: Sequence[WorkerInfo], paused: set[str]) -> list[str]:
        """The defined queues first, then every other one known, by name."""
        self._maybe_rescan()
        defined = registry.queues()
        others = set(self._found) | paused | {q for w in workers for q in w.queues}
        return defined + sorted(others.difference(defined))

    async def rescan(self) -> None:
        """Look for queues in Redis now (the background scan; a test may await it)."""
        with contextlib.suppress(Exception):  # Redis away: the next request tries again later
            self._found = await admin.known_queues()
        self._scanned_at = time.monotonic()

    def _maybe_rescan(self) -> None:
        loop = asyncio.get_running_loop()
        running = self._scan is not None and not self._scan.done() and self._loop is loop
        if running or time.monotonic() - self._scanned_at < self.rescan_s:
            return
        self._scanned_at = time.monotonic()  # one scan at a time, even if this one is slow
        self._loop = loop
        self._scan = loop.create_task(self.rescan(), name="dashboard:queues")
