"""`jobs_queue_jobs{queue, state}`: what each queue holds, read from Redis when scraped.

The read is the one `jobs stats` makes (`store.counts`), O(log N) per queue; it is kept for a
second and shared by concurrent scrapes, so ten scrapers cost one read. If Redis does not
answer, the scrape goes on without the gauge (the worker's own counters are still served).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import structlog
from prometheus_client.core import GaugeMetricFamily

from ..store.counts import STATES, QueueCounts

log = structlog.get_logger("jobs")

CACHE_SECONDS = 1.0


class QueueGauges:
    """The queue gauges of the queues `read` counts; `refresh` before each exposition."""

    def __init__(self, read: Callable[[], Awaitable[Sequence[QueueCounts]]], cache_seconds: float = CACHE_SECONDS):
        self._read = read
        self._cache_seconds = cache_seconds
        self._counts: Sequence[QueueCounts] = ()
        self._read_at = float("-inf")
        self._reading: asyncio.Task[None] | None = None
        self.reads = 0  # Redis reads so far, for tests

    async def refresh(self) -> None:
        """Read the counts unless read within the last second; concurrent calls share one read."""
        if time.monotonic() - self._read_at < self._cache_seconds:
            return
        if self._reading is None or self._reading.done():
            self._reading = asyncio.ensure_future(self._read_now())
        await asyncio.shield(self._reading)

    async def _read_now(self) -> None:
        self.reads += 1
        try:
            self._counts = await self._read()
        except Exception as exc:  # noqa: BLE001 - a scrape never fails for the gauge alone
            self._counts = ()
            log.warning("metrics.queue_read_failed", error=f"{type(exc).__name__}: {exc}")
        self._read_at = time.monotonic()

    def collect(self) -> Iterator[Any]:
        if not self._counts:
            return
        gauge = GaugeMetricFamily("jobs_queue_jobs", "Jobs a queue holds, by state.", labels=["queue", "state"])
        for counts in self._counts:
            for state in STATES:
                gauge.add_metric([counts.queue, state], getattr(counts, state))
        yield gauge
