"""`GET /metrics` of the dashboard: the queue gauges (`jobs_queue_jobs`), so backlog can be scraped
without a worker. The queues are those the overview lists; the read is cached for a second."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ..ops import admin
from ..store.counts import QueueCounts
from .directory import QueueDirectory

if TYPE_CHECKING:
    from ..observe.queue_gauges import QueueGauges

MISSING = "The metrics need prometheus_client: pip install 'jobs[metrics]'\n"


class MetricsPage:
    def __init__(self, directory: QueueDirectory) -> None:
        self._directory = directory
        self._gauges: QueueGauges | None = None
        try:
            from ..observe import queue_gauges
        except ImportError:  # without the metrics extra: the page says how to install it
            return
        self._gauges = queue_gauges.QueueGauges(self._read)

    async def _read(self) -> list[QueueCounts]:
        workers = await admin.workers()
        queues = self._directory.queues(workers, await admin.paused_queues())
        return await admin.counts_many(queues, workers)

    async def metrics(self, request: Request) -> Response:
        if self._gauges is None:
            return PlainTextResponse(MISSING, status_code=404)
        from prometheus_client import generate_latest
        from prometheus_client.exposition import CONTENT_TYPE_LATEST

        await self._gauges.refresh()
        return Response(generate_latest(self._gauges), media_type=CONTENT_TYPE_LATEST)
