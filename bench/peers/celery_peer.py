"""Bench peer: Celery 5 (Redis broker and result backend, JSON, thread pool; solo at concurrency 1)."""

from __future__ import annotations

import threading

from _harness import Peer, job_started, run_cli
from celery import Celery

app = Celery("bench")  # configured by CeleryPeer: the broker URL is the bench's --redis-url
_probe_lock = threading.Lock()  # the harness's probe counts jobs; the thread pool runs 32 at once


@app.task(name="noop")
def noop() -> None:
    """The no-op job (a plain `def`: Celery runs no coroutines)."""
    with _probe_lock:
        job_started()


class CeleryPeer(Peer):
    """Celery 5: ``Task.delay`` and ``app.Worker(...).start()`` (what ``celery worker`` runs)."""

    name = "celery"
    distribution = "celery"
    bulk_api = None  # Celery has no bulk enqueue (a group publishes one message per task)
    config = {
        "queue": "Redis broker (kombu: one list per queue, unacked hash with visibility timeout)",
        "serializer": "JSON (Celery default)",
        "results": "Redis result backend, celery-task-meta-<id> kept 1 day (Celery default result_expires)",
        "worker": "app.Worker(pool='threads', concurrency=C) in a subprocess; pool='solo' at concurrency 1; "
        "default prefetch (4 per slot), acks after the task (acks_late off: Celery default)",
        "job": "a plain def (Celery tasks are synchronous)",
    }

    def __init__(self, redis_url: str, variant: str | None) -> None:
        super().__init__(redis_url, variant)
        app.conf.update(
            broker_url=redis_url,
            result_backend=redis_url,
            broker_connection_retry_on_startup=True,
            worker_hijack_root_logger=False,  # logging stays unconfigured (WARNING and up), as for every peer
        )

    async def connect(self) -> None:
        app.connection_for_write().ensure_connection(max_retries=3)

    async def disconnect(self) -> None:
        app.pool.force_close_all()

    async def enqueue(self) -> None:
        noop.delay()  # blocking, as Celery's producer is; one message per call

    async def run_worker(self, concurrency: int) -> None:
        # Blocks this process's event loop, which has nothing else to do: Celery's worker is not
        # asyncio. It installs its own SIGTERM handler (a warm shutdown), as the harness expects.
        worker = app.Worker(
            pool="solo" if concurrency == 1 else "threads",
            concurrency=concurrency,
            loglevel="WARNING",
            quiet=True,
            without_mingle=True,  # one worker: nobody to synchronise with at start
            without_gossip=True,
            without_heartbeat=True,
        )
        worker.start()


if __name__ == "__main__":
    run_cli(CeleryPeer)
