"""The hook a worker holds when metrics or tracing is on: None when both are off.

`observer_for` decides once, when the worker starts: metrics if JOBS_METRICS_PORT is set (with
prometheus_client installed, or a bad setting that says how to install it), tracing if a tracer
provider is configured by then (the job modules set it up as they are imported).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..settings import Settings, SettingsError
from ..store import counts
from ..store.connection import Connection
from . import tracing

if TYPE_CHECKING:
    from .metrics import WorkerMetrics
    from .metrics_server import MetricsServer


@dataclass(frozen=True, slots=True)
class Observer:
    metrics: WorkerMetrics | None
    spans: tracing.AttemptSpans | None


def observer_for(settings: Settings, jobs_by_queue: Mapping[str, Iterable[str]]) -> Observer | None:
    """The worker's hook, or None when neither metrics nor tracing is on."""
    metrics = None
    if settings.jobs_metrics_port is not None:
        try:
            from .metrics import WorkerMetrics
        except ImportError:
            raise SettingsError(
                f"JOBS_METRICS_PORT={settings.jobs_metrics_port}: metrics need prometheus_client: "
                "pip install 'jobs[metrics]'"
            ) from None
        metrics = WorkerMetrics(jobs_by_queue)
    found = tracing.tracer()
    spans = tracing.AttemptSpans(found) if found is not None else None
    return Observer(metrics, spans) if metrics is not None or spans is not None else None


async def serve_metrics(
    settings: Settings, metrics: WorkerMetrics, conn: Connection, queues: Sequence[str]
) -> MetricsServer:
    """Serve /metrics on JOBS_METRICS_HOST:JOBS_METRICS_PORT: these counters and the queues' gauges."""
    from .metrics_server import Exposition, MetricsServer
    from .queue_gauges import QueueGauges

    names = list(queues)
    gauges = QueueGauges(lambda: counts.read(conn, names))
    server = MetricsServer(Exposition([metrics, gauges]), gauges)
    assert settings.jobs_metrics_port is not None
    await server.start(settings.jobs_metrics_host, settings.jobs_metrics_port)
    return server
