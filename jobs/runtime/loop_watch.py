"""Notice an event loop that stopped turning: blocking code in one job stalls the whole process.

A job that calls blocking code (`time.sleep`, a synchronous client, CPU-bound work) holds the
loop: no other job of any queue runs, no lock is renewed, and its own timeout cannot fire. A timer
on the loop stamps the time every `TICK_S`, which costs nothing per job; a thread reads the stamp
and, once the timer is late by the threshold, logs `worker.loop_blocked` naming the job the loop
is running, once per episode. When the loop turns again it logs `worker.loop_unblocked` with the
total, also when the thread could not run meanwhile (C code holding the GIL, a stopped process).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog

log = structlog.get_logger("jobs")

TICK_S = 0.1
MAX_LISTED = 20  # running jobs named in one line

RunningJobs = Callable[[], Sequence[tuple[str, str, "asyncio.Task[Any]"]]]
"""(queue, job id, task) of every running job; called from the watchdog thread."""


class LoopWatchdog:
    """Watches the running loop from `start` to `stop`; `threshold_ms` of 0 watches nothing."""

    def __init__(self, threshold_ms: int, running: RunningJobs) -> None:
        self._threshold = threshold_ms / 1000
        self._running = running
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due = 0.0  # when the next tick should run (monotonic); written by the loop only
        self._reported = -1.0  # the `_due` of the episode the thread logged; written by the thread only
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._threshold <= 0:
            return
        self._loop = asyncio.get_running_loop()
        self._schedule()
        self._thread = threading.Thread(target=self._watch, name="jobs-loop-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._timer is not None:
            self._timer.cancel()
        if self._thread is not None:
            self._thread.join(1.0)

    def _schedule(self) -> None:
        assert self._loop is not None
        self._due = time.monotonic() + TICK_S
        self._timer = self._loop.call_later(TICK_S, self._tick)

    def _tick(self) -> None:
        late = time.monotonic() - self._due
        if late >= self._threshold:
            log.warning("worker.loop_unblocked", blocked_ms=round(late * 1000))
        self._schedule()

    def _watch(self) -> None:
        """The thread: check the stamp a few times per threshold, log each late episode once."""
        interval = min(TICK_S, self._threshold / 4)
        while not self._stopped.wait(interval):
            due = self._due
            late = time.monotonic() - due
            if late >= self._threshold and due != self._reported:
                self._reported = due
                log.warning(
                    "worker.loop_blocked",
                    blocked_ms=round(late * 1000),
                    threshold_ms=round(self._threshold * 1000),
                    **self._describe(),
                )

    def _describe(self) -> dict[str, Any]:
        """The job the loop is running now (if it is a job), and every job running."""
        assert self._loop is not None
        current = asyncio.current_task(self._loop)
        running = list(self._running())
        fields: dict[str, Any] = {"running": [job_id for _, job_id, _ in running[:MAX_LISTED]]}
        if len(running) > MAX_LISTED:
            fields["running_total"] = len(running)
        for queue, job_id, task in running:
            if task is current:
                fields.update(job_id=job_id, queue=queue)
        return fields
