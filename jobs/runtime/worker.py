"""The worker: every queue of the registry in one process, over one Redis connection pool.

Shutdown is graceful: on the first SIGTERM/SIGINT it stops claiming, lets running jobs finish
for up to the shutdown timeout, then gives the rest back to the queue without charging them an
attempt. A second signal skips the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from .. import registry
from ..definition import Job
from ..observe.observer import observer_for, serve_metrics
from ..settings import Settings, get_settings
from ..store import subscription
from ..store.connection import REDIS_ERRORS, Connection, backoff_after, connect, wait_until_reachable
from ..store.eviction import warn_if_evicting
from ..store.keys import CANCEL_MESSAGE_PREFIX
from . import heartbeat
from .loop_watch import LoopWatchdog
from .outage import Outage
from .queue_runner import QueueOptions, QueueRunner
from .scheduler import Scheduler

log = structlog.get_logger("jobs")

OUTCOME_GRACE_SECONDS = 5.0


class Worker:
    """Runs the jobs of `queues` (default: every queue of the defined jobs) until stopped."""

    def __init__(
        self,
        *,
        queues: Sequence[str] | None = None,
        settings: Settings | None = None,
        burst: bool = False,
        concurrency: int | None = None,
        handle_signals: bool = True,
    ) -> None:
        self.settings = settings or get_settings()
        self.burst = burst
        self.handle_signals = handle_signals
        jobs = registry.all_jobs()
        self.queues = list(queues) if queues else registry.queues()
        self._concurrency = {q: concurrency or self.settings.concurrency_for(q) for q in self.queues}
        self._jobs_by_queue: dict[str, dict[str, Job[Any]]] = {
            q: {j.name: j for j in jobs if j.queue == q} for q in self.queues
        }
        self.runners: list[QueueRunner] = []
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._outage = Outage()  # one `worker.redis_recovered` per outage, however many queues saw it
        self.id = heartbeat.new_worker_id()  # host:pid:random, as `jobs workers` lists it
        # Metrics (JOBS_METRICS_PORT) and tracing (a tracer provider configured by now): None if neither.
        self.observer = observer_for(self.settings, self._jobs_by_queue)
        self.metrics_port: int | None = None  # the port /metrics is served on, once serving

    def request_stop(self) -> None:
        """Stop gracefully; called a second time, stop without waiting for running jobs."""
        if self._stop.is_set():
            log.warning("worker.force_stop")
            self._force.set()
        self._stop.set()

    async def run(self) -> None:
        """Connect (waiting a bounded time for Redis), run until stopped, then shut down cleanly."""
        self._install_signals()  # a stop while waiting for Redis is a clean exit, not a kill
        conn = connect(self.settings.redis_url)
        try:
            reachable = asyncio.create_task(wait_until_reachable(conn, self.settings.jobs_connect_timeout))
            stop = asyncio.create_task(self._stop.wait())
            await asyncio.wait([reachable, stop], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not reachable.done():
                reachable.cancel()
                log.info("worker.stopped", **self.totals())
                return
            reachable.result()
            await warn_if_evicting(conn)
            await self._serve(conn)
        finally:
            await conn.aclose()

    async def _serve(self, conn: Connection) -> None:
        if not self.queues:
            raise RuntimeError("no queues to run: define jobs (JOBS_MODULES) or name queues with --queue")
        outage, observer = self._outage, self.observer
        self.runners = [
            QueueRunner(q, self._jobs_by_queue[q], conn, self._options(q), outage, observer) for q in self.queues
        ]
        metrics = None
        if observer is not None and observer.metrics is not None:
            observer.metrics.running = self._running_by_queue
            metrics = await serve_metrics(self.settings, observer.metrics, conn, self.queues)
            self.metrics_port = metrics.port
            log.info("worker.metrics", url=f"http://{self.settings.jobs_metrics_host}:{metrics.port}/metrics")
        watchdog = LoopWatchdog(self.settings.jobs_loop_blocked_ms, self._running_jobs)
        watchdog.start()
        try:
            await self._serve_queues(conn)
        finally:
            watchdog.stop()
            if metrics is not None:
                await metrics.close()

    async def _serve_queues(self, conn: Connection) -> None:
        progress = asyncio.Event()
        for runner in self.runners:
            runner.progress = progress
        scheduler = Scheduler(conn, self._jobs_by_queue)
        if self.burst:  # what is due now, once: a burst does not wait for ticks to come
            await scheduler.declare()
            await scheduler.poll()
        listener = asyncio.create_task(self._listen_for_wakeups(conn))
        beat = heartbeat.Heartbeat(self.id, conn, self.runners, self._concurrency, self.burst)
        beating = asyncio.create_task(beat.run(), name="heartbeat")
        loops = [asyncio.create_task(r.run(), name=f"queue:{r.queue}") for r in self.runners]
        ticking = None if self.burst else asyncio.create_task(self._run_schedules(scheduler), name="schedules")
        burst = asyncio.create_task(self._end_burst(progress)) if self.burst else None
        log.info(
            "worker.ready",
            queues=self.queues,
            jobs=sorted(name for jobs in self._jobs_by_queue.values() for name in jobs),
            concurrency=self._concurrency,
            burst=self.burst,
        )
        stop = asyncio.create_task(self._stop.wait())
        drained: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*loops))
        await asyncio.wait([stop, drained], return_when=asyncio.FIRST_COMPLETED)
        log.info("worker.stopping", running=sum(len(r.running) for r in self.runners))
        for runner in self.runners:
            runner.stop()
        await self._drain(drained)
        tasks = [task for task in (listener, stop, burst, ticking) if task is not None]
        for task in tasks:  # no more hand-offs reach this worker: see QueueRunner.close
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(r.close() for r in self.runners))
        beating.cancel()
        await asyncio.gather(beating, return_exceptions=True)
        await beat.remove()
        log.info("worker.stopped", **self.totals())

    async def _run_schedules(self, scheduler: Scheduler) -> None:
        """Keep the declared schedules in step with the code, then fire due ticks until stopped."""
        failures = 0
        while not self._stop.is_set():
            try:
                await scheduler.declare()
                break
            except REDIS_ERRORS as exc:
                failures += 1
                await asyncio.sleep(backoff_after(failures, exc, "schedule.declare_failed"))
        await scheduler.run(self._stop)

    async def _end_burst(self, progress: asyncio.Event) -> None:
        """Stop a burst once nothing is queued, due, scheduled or running on any of its queues.

        A queue found empty is not enough: a job still running on another queue may trigger one
        on it. So once every queue is idle (then nothing runs in this process), each looks once
        more; if every one of those looks, all begun after that moment, finds nothing, the
        burst is over. Otherwise the jobs found run, and the check starts again.
        """
        runners = self.runners

        async def until(condition: Callable[[], bool]) -> None:
            while not condition():
                progress.clear()
                await progress.wait()

        while True:
            await until(lambda: all(r.idle for r in runners))
            marks = [r.turns for r in runners]
            for runner in runners:
                runner.wake.set()
            looked = functools.partial(_looked_again, runners, marks)
            await until(looked)
            if all(r.turns == m + 1 for r, m in zip(runners, marks, strict=True)):  # one empty look each
                for runner in runners:
                    runner.stop()
                return

    def _running_by_queue(self) -> dict[str, int]:
        """Attempts running their code now, by queue (the `jobs_running` gauge, read at scrape)."""
        return {r.queue: r.slots.active for r in self.runners}

    def _running_jobs(self) -> list[tuple[str, str, asyncio.Task[None]]]:
        """(queue, job id, task) of every running job, for the loop watchdog's thread: each dict is
        copied in one step (`list`), so the loop changing it meanwhile cannot break the iteration."""
        return [(r.queue, job_id, task) for r in self.runners for job_id, task in list(r.running.items())]

    def totals(self) -> dict[str, int]:
        total = {"completed": 0, "failed": 0, "retried": 0, "released": 0}
        for runner in self.runners:
            for key, value in runner.counts.items():
                total[key] += value
        return total

    async def _drain(self, loops: asyncio.Future[Any]) -> None:
        """Let running jobs finish within the shutdown timeout, then interrupt and release the rest.

        The queue loops end once their jobs are done and stored; if Redis cannot take the last
        outcomes within a short grace period, they are logged as lost rather than hang the exit.
        """
        forced = asyncio.create_task(self._force.wait())
        await asyncio.wait([loops, forced], timeout=self.settings.jobs_shutdown_timeout, return_when="FIRST_COMPLETED")
        forced.cancel()
        if loops.done():
            return
        for runner in self.runners:
            for task in runner.interruptible():
                task.cancel()
        await asyncio.wait([loops], timeout=OUTCOME_GRACE_SECONDS)
        if not loops.done():
            for runner in self.runners:
                runner.abandon_outcomes()
            await asyncio.wait([loops], timeout=OUTCOME_GRACE_SECONDS)
            loops.cancel()
        await asyncio.gather(loops, return_exceptions=True)

    def _options(self, queue: str) -> QueueOptions:
        return QueueOptions(
            concurrency=self._concurrency[queue],
            keep_completed=self.settings.jobs_keep_completed,
            keep_failed=self.settings.jobs_keep_failed,
            poll_interval=self.settings.jobs_poll_interval,
            burst=self.burst,
            lock_timeout=self.settings.jobs_lock_timeout,
            max_result_bytes=self.settings.jobs_max_result_bytes,
            rate_limit=self.settings.jobs_queue_rate_limit.get(queue),
            keep_cancelled=self.settings.jobs_keep_cancelled,
        )

    def _install_signals(self) -> None:
        if not self.handle_signals:
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)

    async def _listen_for_wakeups(self, conn: Connection) -> None:
        """Wake a queue the moment a trigger publishes on its channel, start the jobs triggers hand
        to its runner; subscribe again after outages."""
        groups: list[dict[bytes, Callable[[bytes], None]]] = [
            {
                conn.keys.wake_channel(runner.queue).encode(): _waker(runner),
                runner.handoff_channel.encode(): runner.take_handoff,
            }
            for runner in self.runners
        ]  # in a cluster one group per queue: its channels share the queue's slot
        failures, subscribed_before = 0, False

        def subscribed() -> None:
            nonlocal failures, subscribed_before
            for runner in self.runners:
                runner.listener_subscribed(again=subscribed_before)
            failures, subscribed_before = 0, True
            self._outage.ended()

        try:
            while True:
                try:
                    await subscription.listen(conn, groups, subscribed, again=failures > 0)
                except REDIS_ERRORS as exc:  # queues poll meanwhile: slower, nothing lost
                    failures += 1
                    self._not_listening()
                    await asyncio.sleep(backoff_after(failures, exc, "worker.subscription_failed"))
        finally:
            self._not_listening()

    def _not_listening(self) -> None:
        for runner in self.runners:
            runner.listening = False


def _looked_again(runners: list[QueueRunner], marks: list[int]) -> bool:
    """Every runner has taken a turn since `marks` and is idle again."""
    return all(r.idle and r.turns > m for r, m in zip(runners, marks, strict=True))


def _waker(runner: QueueRunner) -> Callable[[bytes], None]:
    """A wake-up ("1") wakes the runner; a cancel request names a job it may be running."""

    def heard(message: bytes) -> None:
        if message.startswith(CANCEL_MESSAGE_PREFIX):
            runner.cancel_requested(message[len(CANCEL_MESSAGE_PREFIX) :])
        else:
            runner.wake.set()

    return heard
