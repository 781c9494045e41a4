"""The worker's lifecycle events under arq's loop: `worker.ready`, `worker.stopping`, `job.released`
and `worker.stopped`, as `jobs worker` logs them.

arq's hooks (`on_startup`, `on_shutdown`) are handed a context dict, never arq's `Worker`, so the
counts are kept here, by our job function, and the stop is noticed from the signal itself.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import structlog

from .execution import Attempt

log = structlog.get_logger("jobs")


class ArqRun:
    """One run of arq's worker on one queue: what is running, what happened, whether it stops."""

    def __init__(self, queue: str, jobs: list[str], concurrency: int) -> None:
        self.queue = queue
        self.jobs = jobs
        self.concurrency = concurrency
        self.running = 0
        self.stopping = False
        self.counts = {"completed": 0, "failed": 0, "retried": 0, "released": 0}

    def started(self) -> None:
        """arq's worker is up (its `on_startup`): log `worker.ready`, watch for the stop signal."""
        call_on_stop_signal(asyncio.get_running_loop(), self.stop_requested)
        log.info("worker.ready", queues=[self.queue], jobs=self.jobs, concurrency={self.queue: self.concurrency})

    def stop_requested(self) -> None:
        if not self.stopping:
            self.stopping = True
            log.info("worker.stopping", running=self.running)

    def cancelled(self, attempt: Attempt) -> None:
        """arq cancelled a running attempt: at shutdown, it goes back to the queue (charged, unlike ours)."""
        if not self.stopping:  # arq's own timeout, which ours precedes: not a release
            return
        self.counts["released"] += 1
        log.info(
            "job.released",
            job=attempt.name,
            job_id=attempt.job_id,
            queue=attempt.queue,
            attempt=attempt.number,
            reason="arq's shutdown cancelled it; arq runs it again as its next attempt",
        )

    def ended(self) -> None:
        """arq's worker has stopped (its `on_shutdown`; a burst run ends without a signal)."""
        self.stop_requested()
        log.info("worker.stopped", **self.counts)


def call_on_stop_signal(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Call `callback` on `loop` when SIGTERM or SIGINT arrives, leaving arq's handling of it as is.

    arq registers its handlers with the loop, which learns of a signal from its wakeup file
    descriptor, written whatever the Python-level handler is; that handler is only asyncio's
    no-op placeholder. So ours takes its place, and calls it too. A signal the loop does not
    handle (arq run without signal handling, or off the main thread) is left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if callable(previous):
            signal.signal(sig, _chained(loop, callback, previous))


def _chained(
    loop: asyncio.AbstractEventLoop, callback: Callable[[], None], previous: Callable[[int, FrameType | None], Any]
) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(callback)
        previous(signum, frame)

    return handler
