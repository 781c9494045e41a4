"""One queue inside a worker: claim due jobs up to its concurrency, run them, store the outcomes.

Each turn of the loop is one round trip: it stores the outcomes of the attempts that finished
since the last turn and claims as many due jobs as that frees slots for. So at concurrency 1 the
next job starts in the same round trip that records the last one, and under load finished jobs
are stored in batches. An idle queue waits for a wake-up (a trigger's notification, a finished
job) with a slow fallback poll, or until its next delayed job is due. While idle it is
registered as such, so a trigger hands it a due job directly, in the trigger's own round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from redis.exceptions import OutOfMemoryError

from .. import errorinfo
from ..clock import now_ms
from ..definition import Job
from ..limits import RateLimit
from ..observe.observer import Observer
from ..store import limits, scripts, stored
from ..store.attempts import AttemptLog
from ..store.cancel import cancelled_record
from ..store.connection import REDIS_ERRORS, Connection, backoff_after
from ..store.keys import Layout
from . import observed, retention
from .cancels import Cancels
from .execution import Attempt, Outcome, Retrying, reject, run_attempt
from .locks import LockKeeper
from .outage import Outage
from .outbox import Outbox, Settlement
from .progress_writer import ProgressWriter
from .slots import Claimed, Slots

log = structlog.get_logger("jobs")

LOCK_GRACE_MS = 10_000
_NOTHING: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class QueueOptions:
    concurrency: int
    keep_completed: int
    keep_failed: int
    poll_interval: float
    burst: bool
    lock_timeout: float = 30.0
    max_result_bytes: int = 1024 * 1024
    rate_limit: RateLimit | None = None  # JOBS_QUEUE_RATE_LIMIT for this queue
    keep_cancelled: int = 1000


class QueueRunner:
    def __init__(
        self,
        queue: str,
        jobs: dict[str, Job[Any]],
        conn: Connection,
        options: QueueOptions,
        outage: Outage | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.queue = queue
        self.jobs = jobs
        self.conn = conn
        self.options = options
        self.wake = asyncio.Event()
        self.slots = Slots(options.concurrency)
        self.outbox = Outbox()
        self.started: dict[str, tuple[Attempt, int]] = {}  # running attempts and their start (ms), for the heartbeat
        self._attempt_log = AttemptLog(conn.redis, queue, conn.keys)  # retried attempts, for the dashboard's job page
        self.stopping = False
        self.counts = {"completed": 0, "failed": 0, "retried": 0, "released": 0}
        self._outage = outage or Outage()
        layout = conn.keys
        self._keys = [
            layout.queue(queue),
            layout.paused(queue),
            layout.finished(queue, "completed"),
            layout.finished(queue, "failed"),
            layout.idle_workers(queue),
            layout.priority(queue),
            layout.limited(queue),
        ]
        # A claimed job is locked while it runs: the lock is renewed every third of its life, so a
        # job of a killed worker is taken again within the lock's life: its queue's longest job
        # timeout plus a grace period, or JOBS_LOCK_TIMEOUT if that is shorter.
        longest = max((j.config.timeout.total_seconds() for j in jobs.values()), default=300.0)
        self._lock_ms = int(min(longest * 1000 + LOCK_GRACE_MS, options.lock_timeout * 1000))
        self._lock_keeper: asyncio.Task[None] | None = None
        # Locks hold this runner's token: after a turn whose reply was lost, the next turn finds
        # the jobs that turn claimed for it, instead of leaving them locked until expiry.
        self._token = secrets.token_hex(8)
        self.handoff_channel = layout.handoff_channel(queue, self._token)
        self.locks = LockKeeper(conn, queue, self._token, self._lock_ms, self.slots)
        self.cancels = Cancels(conn, queue, self._token, options.keep_cancelled)
        self._checking_marks: asyncio.Task[None] | None = None
        self.progress_writer = ProgressWriter(conn, queue, lambda: self.started)
        self.listening = False  # the worker's listener receives this runner's hand-offs
        self._idle_ttl_ms = int(options.poll_interval * 2000) + 1000  # an idle turn renews it every poll
        self._rules = _limits_of(layout, queue, jobs.values(), options.rate_limit, self._idle_ttl_ms)
        self._handoffs_possible = False  # registered as waiting at some point: hand-offs may be in flight
        self._registered = False  # asked to be registered as waiting in the last turn
        self._recover = False
        # Burst: turns so far, and whether the last one found nothing due, running or scheduled.
        # The worker ends a burst only once every queue is idle in a turn that began after all
        # of them were (a job of one queue may trigger one on another): see `Worker._end_burst`.
        self.turns = 0
        self.idle = False
        self.progress = asyncio.Event()  # set after every burst turn; the worker may share one
        self._failure = "Redis unreachable"  # why the last failed turn failed, for outcomes given up
        self.observer = observer  # metrics or tracing (`jobs.observe`); None when both are off
        self._decode = stored.decode if observer is None or observer.spans is None else _decode_traced

    @property
    def running(self) -> dict[str, asyncio.Task[None]]:
        """The jobs started and not yet stored, by id (see `Slots`)."""
        return self.slots.running

    async def run(self) -> None:
        """Store outcomes and claim jobs until stopped and idle (burst: until nothing is left)."""
        self._lock_keeper = asyncio.create_task(self.locks.keep(), name=f"locks:{self.queue}")
        failures = 0
        slots, outbox = self.slots, self.outbox
        while not (self.stopping and slots.empty()):
            if slots.ready and (self.stopping or slots.hold_left() == 0):
                await self._give_back(slots.take_ready(), reason="given back unstarted")
                continue
            batch = outbox.take()
            want = 0 if self.stopping else slots.wanted()
            self.wake.clear()  # no await since `want` was computed: no wake-up can be missed
            if not batch and want <= 0:
                await self._sleep(slots.hold_left())
                continue
            try:
                claimed, next_due, discarded = await self._settle_and_claim(batch, want)
                if failures:
                    self._outage.ended()
                failures, self._recover = 0, False
            except Exception as exc:  # noqa: BLE001 - the loop outlives Redis outages and surprises
                outbox.put_back(batch)  # nothing of a failed turn is lost
                self._recover = want > 0
                failures += 1
                event = self._failure_event(exc)
                if event != "worker.turn_failed":
                    self._outage.began()
                await self._sleep(backoff_after(failures, exc, event))
                continue
            if discarded:
                Outbox.report_discarded(self.queue, batch, discarded, self.counts)
            outbox.stored(batch)
            for claim in claimed:
                self._start(claim)
            if self.options.burst:
                self._burst_turn(idle=not (claimed or batch) and slots.empty() and next_due < 0)
                if self.idle:
                    await self._sleep(None)  # until the worker asks for another look, or a trigger
                    continue
            if claimed or batch or self.stopping:
                continue
            wait = self.options.poll_interval
            if next_due >= 0:
                wait = min(wait, max(0.0, (next_due - now_ms()) / 1000))
            hold = slots.hold_left()
            await self._sleep(wait if hold is None else min(wait, hold))

    def _burst_turn(self, *, idle: bool) -> None:
        self.turns += 1
        self.idle = idle
        self.progress.set()

    def stop(self) -> None:
        """Claim nothing more; `run` returns once the running jobs are done and stored."""
        self.stopping = True
        self.wake.set()

    def interruptible(self) -> list[asyncio.Task[None]]:
        """Running jobs whose outcome is not being stored yet: safe to cancel and release."""
        return self.slots.interruptible()

    def abandon_outcomes(self) -> None:
        """Shutdown gave up waiting for Redis: unblock the jobs waiting for their outcome to be stored."""
        self.outbox.abandon(self.queue, self._failure)

    async def close(self) -> None:
        """Stop renewing locks and give back what was handed off too late to run; call once no
        job of this queue runs any more and the worker no longer listens for hand-offs."""
        for task in (self._lock_keeper, self._checking_marks):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self._attempt_log.close()
        await self.progress_writer.close()
        if self._handoffs_possible:
            await self._give_back_late_handoffs()

    def listener_subscribed(self, again: bool) -> None:
        """The worker listens (again) for this queue's wake-ups and this runner's hand-offs.

        Again after an outage: a hand-off published as the connection broke was lost; the next
        turn finds such jobs by their lock (this runner's token) instead of waiting for it to lapse.
        """
        self.listening = True
        if again and self._handoffs_possible:
            self._recover = True
        if again and self.started:  # a cancel published while nobody listened: read the marks
            self._checking_marks = asyncio.create_task(self.cancels.check_marks(self._attempts_running))
        self.wake.set()  # anything published while nobody listened

    def cancel_requested(self, job_id: bytes) -> None:
        """A cancel of `job_id` was published on the queue's wake channel (see `Cancels`)."""
        key = job_id.decode(errors="backslashreplace")
        task = self.slots.running.get(key) if key in self.started else None  # its attempt has begun
        if task is None or task not in self.slots.settling:  # settling: its code is done, too late
            self.cancels.request(key, task)

    def _attempts_running(self) -> dict[str, asyncio.Task[None]]:
        """The tasks of the attempts this runner has begun and whose code has not ended."""
        running, settling = self.slots.running, self.slots.settling
        return {i: t for i in self.started if (t := running.get(i)) is not None and t not in settling}

    def take_handoff(self, message: bytes) -> None:
        """A trigger handed this runner a job (see scripts.ENQUEUE): start it as if claimed ahead."""
        attempt, length, rest = message.split(b" ", 2)
        size = int(length)
        try:
            job_id = rest[:size].decode()
        except UnicodeDecodeError:
            self._drop_unreadable_id(rest[:size], int(attempt))
            return
        self._start(Claimed(job_id, rest[size:], int(attempt), ahead=True))

    async def _give_back_late_handoffs(self) -> None:
        """Deregister, and release the jobs handed to this runner that it never started."""
        self.slots.ready.clear()
        mine = list(self.slots.running)
        args: list[Any] = [now_ms(), 0, self._lock_ms, self.queue, self._token, 0, 0, "", len(mine), *mine]
        with contextlib.suppress(*REDIS_ERRORS):
            reply = await self.conn.link.call(scripts.SETTLE_AND_CLAIM, self._keys, args)
            late = [reply[i].decode(errors="backslashreplace") for i in range(1, len(reply), 5)]
            if late:
                await self._give_back(late, reason="handed off while stopping")

    def _failure_event(self, exc: Exception) -> str:
        """The event a failed turn logs: Redis refusing writes for lack of memory is not an outage."""
        if isinstance(exc, OutOfMemoryError):
            self._failure = "Redis out of memory"
            return "worker.redis_out_of_memory"
        self._failure = "Redis unreachable"
        return "worker.redis_unavailable" if isinstance(exc, REDIS_ERRORS) else "worker.turn_failed"

    async def _settle_and_claim(
        self, batch: list[Settlement], want: int
    ) -> tuple[list[Claimed], float, Sequence[bytes]]:
        free = self.slots.free()
        register = self._may_wait(want)
        self._handoffs_possible = self._handoffs_possible or register
        waiting_ms = self._idle_ttl_ms if register else (0 if self._registered else -1)  # -1: nothing to undo
        self._registered = register
        args: list[Any] = [now_ms(), want, self._lock_ms, self.queue, self._token, free, waiting_ms, self._rules]
        if self._recover:
            mine = self.slots.held_ids()
            args += [len(mine), *mine]
        else:
            args.append(-1)
        for settlement in batch:
            args += settlement.args()
        reply = await self.conn.link.call(scripts.SETTLE_AND_CLAIM, self._keys, args)
        claimed: list[Claimed] = []
        for i in range(1, len(reply), 5):
            raw_id, data, attempt, ahead = reply[i], reply[i + 1], int(reply[i + 2]), reply[i + 3] == 1
            try:
                job_id = raw_id.decode()
            except UnicodeDecodeError:
                self._drop_unreadable_id(raw_id, attempt)
                continue
            due = int(float(reply[i + 4]))
            claimed.append(Claimed(job_id, data, attempt, ahead, due if due >= 0 else None))
        head, discarded = reply[0], _NOTHING
        if type(head) is list:  # {next due, id...}: outcomes the script discarded
            head, discarded = head[0], head[1:]
        return claimed, float(head), discarded

    def _may_wait(self, want: int) -> bool:
        """Whether this runner may register as waiting for hand-offs (the script registers it only
        if the queue runs dry before `want`): it listens for them and has room, so a trigger can
        hand it a job directly, and triggers need not wake anyone while no runner waits."""
        return not (self.stopping or self.options.burst or not self.listening or want <= 0 or self.slots.ready)

    def _start(self, claim: Claimed) -> None:
        slots = self.slots
        if slots.holds(claim.job_id):
            # Its lock lapsed while it ran (a long outage): this worker runs it still, so it is
            # not started twice; the claim's count of an attempt is taken back.
            log.warning("job.lock_lost", job_id=claim.job_id, queue=self.queue, reason="lock lapsed; taken back")
            self.outbox.add(Settlement("u", claim.job_id, claim.attempt - 1, 0))
            if claim.ahead:
                self.outbox.add(Settlement("s", claim.job_id, 0, 0))
            return
        if self.stopping or not slots.can_start():
            slots.hold(claim)
            self.wake.set()  # a hand-off: the loop gives it back if it is not started in time
            return
        task = asyncio.create_task(self._execute(claim), name=f"job:{claim.job_id}")
        slots.started(claim.job_id, task)
        task.add_done_callback(lambda _: self._finished(claim.job_id, task))
        if claim.ahead:  # its lock says running after the next turn, which waits for the job to start
            self.outbox.add(Settlement("s", claim.job_id, 0, 0))
            self.wake.set()

    def _finished(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self.slots.running.get(job_id) is task:
            self.started.pop(job_id, None)
        self.slots.finished(job_id, task)
        self._start_ready()
        self.wake.set()

    def _start_ready(self) -> None:
        """Start jobs claimed ahead while slots are free."""
        while not self.stopping and (claim := self.slots.next_ready()) is not None:
            self._start(claim)

    async def _give_back(self, job_ids: list[str], reason: str) -> None:
        """Release jobs this runner holds but never started, and wake the queue's workers for them."""
        for job_id in job_ids:
            await self._release(job_id, reason=reason)
        with contextlib.suppress(*REDIS_ERRORS):
            await self.conn.publish(self.conn.keys.wake_channel(self.queue), "1")

    async def _execute(self, claim: Claimed) -> None:
        started = now_ms()
        try:
            job_data = self._decode(claim.data)
        except stored.UndecodableJob as exc:
            attempt = Attempt(claim.job_id, "<undecodable>", self.queue, claim.attempt)
            outcome: Outcome = reject(attempt, errorinfo.reason("UndecodableJob", str(exc)))
            payload: Any = None
            enqueued = 0
            if self.observer is not None:
                observed.rejected(self.observer, self.queue)
        else:
            job = self.jobs.get(job_data.name)
            name = job_data.name if job is not None else stored.shown_name(job_data.name)  # bounded in logs
            attempt = Attempt(claim.job_id, name, self.queue, claim.attempt, self.progress_writer)
            payload, enqueued = job_data.payload, job_data.enqueued_ms
            if job_data.cancelled or (self.cancels.heard and self.cancels.heard_of(claim.job_id)):
                await self._store_cancelled(claim.job_id, attempt, payload, enqueued, 0)
                return
            self.started[claim.job_id] = (attempt, started)
            watch = None
            if self.observer is not None:  # metrics or tracing on (`jobs.observe`)
                due = claim.due_ms if claim.due_ms is not None else enqueued  # a hand-off: due at its trigger
                watch = observed.started(self.observer, attempt, due, started, job_data.trace)
            try:
                outcome = await run_attempt(job, payload, attempt, max_result_bytes=self.options.max_result_bytes)
            except asyncio.CancelledError:
                if self.cancels.stopped(claim.job_id):
                    if watch is not None:
                        observed.released(watch, "cancelled")
                    await self._store_cancelled(claim.job_id, attempt, payload, enqueued, started)
                    return
                if watch is not None:
                    observed.released(watch, "released")
                await self._release(claim.job_id, attempt)
                raise
            if watch is not None:
                observed.ended(watch, outcome)
            if self.cancels.stopping:  # the job swallowed a cancel and returned: its outcome stands
                self.cancels.stopped(claim.job_id)
        self.slots.settle(claim.job_id)  # still this task: an id is claimed again only once stored
        self._start_ready()  # the next job starts now, while this outcome is being stored
        settlement = self._settlement(outcome, attempt, payload, enqueued, started)
        self.outbox.add(settlement)
        self.wake.set()
        with contextlib.suppress(ConnectionError):
            await settlement.stored

    async def _store_cancelled(self, job_id: str, attempt: Attempt, payload: Any, enqueued: int, started: int) -> None:
        """Retain a job cancelled by request: stopped while running (`started`), or before it started
        (0: the attempt its claim counted is not charged)."""
        self.slots.settle(job_id)
        self._start_ready()
        number = attempt.number if started else attempt.number - 1
        why = f"cancelled while running (attempt {number})" if started else "cancelled before it started"
        record = cancelled_record(job_id, attempt.name, self.queue, payload, number, enqueued, started, why)
        await self.cancels.store(record, number if started else None)

    def _drop_unreadable_id(self, raw_id: bytes, attempt: int) -> None:
        """A queued id no trigger writes (not UTF-8): logged as failed and removed, with no record."""
        shown = raw_id.decode(errors="backslashreplace")
        reason = errorinfo.reason("UndecodableJob", "the job id is not UTF-8 text; removed from the queue")
        reject(Attempt(shown, "<undecodable>", self.queue, attempt), reason)
        if self.observer is not None:
            observed.rejected(self.observer, self.queue)
        self.counts["failed"] += 1
        self.outbox.add(Settlement("f", raw_id, b"", 0))

    def _settlement(self, outcome: Outcome, attempt: Attempt, payload: Any, enqueued: int, started: int) -> Settlement:
        if isinstance(outcome, Retrying):
            self.counts["retried"] += 1
            self._attempt_log.retried(attempt.job_id, attempt.number, started, outcome.error)
            return Settlement("r", attempt.job_id, now_ms() + outcome.delay_ms, 0, attempt)
        record = retention.build_record(attempt, outcome, payload, enqueued, started)
        keep = retention.keep_limit(
            self.jobs.get(record.job),
            record.status,
            keep_completed=self.options.keep_completed,
            keep_failed=self.options.keep_failed,
        )
        self.counts[record.status.value] += 1
        kind = "c" if record.status.value == "completed" else "f"
        return Settlement(kind, attempt.job_id, record.to_json(), keep, attempt)

    async def _release(self, job_id: str, attempt: Attempt | None = None, reason: str = "worker shutting down") -> None:
        """Give back an attempt that shutdown interrupted, or a job claimed ahead: unlocked, not counted."""
        with contextlib.suppress(*REDIS_ERRORS):
            await self.conn.run(scripts.RELEASE, (self.conn.keys.queue(self.queue),), [job_id, self._token])
            if attempt is None:
                log.debug("job.given_back", job_id=job_id, queue=self.queue, reason=reason)
                return
            self.counts["released"] += 1
            log.info(
                "job.released", job_id=job_id, queue=self.queue, reason=reason, job=attempt.name, attempt=attempt.number
            )

    async def _sleep(self, timeout: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout)


_decode_traced = functools.partial(stored.decode, trace=True)


def _limits_of(layout: Layout, queue: str, jobs: Iterable[Job[Any]], rate: RateLimit | None, ttl_ms: int) -> str:
    """The claim script's rules for this queue's rate limit and its jobs' limits ('' for none)."""
    defined = [
        limits.JobLimits(
            job.name,
            None if job.config.rate_limit is None else (job.config.rate_limit.count, job.config.rate_limit.period_ms),
            job.config.max_running,
        )
        for job in jobs
    ]
    return limits.render(layout, queue, None if rate is None else (rate.count, rate.period_ms), defined, ttl_ms)
