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
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import structlog

from . import attempt_log, errorinfo, keys, retention, scripts, stored
from .clock import now_ms
from .connection import REDIS_ERRORS, Connection, backoff_after
from .definition import Job
from .execution import Attempt, Outcome, Retrying, reject, run_attempt
from .outage import Outage

log = structlog.get_logger("jobs")

LOCK_GRACE_MS = 10_000
# One job is claimed ahead of the free slots, so the next job starts the moment one ends while
# the round trip that stores the outcome runs; held longer than this (a long job ahead of it),
# it is given back, uncharged, for another worker.
PREFETCH = 1
PREFETCH_HOLD_S = 0.1


@dataclass(frozen=True, slots=True)
class Claimed:
    job_id: str
    data: bytes | None
    attempt: int
    ahead: bool = False  # its lock says "claimed ahead": starting it must say "running"


@dataclass(frozen=True, slots=True)
class QueueOptions:
    concurrency: int
    keep_completed: int
    keep_failed: int
    poll_interval: float
    burst: bool
    lock_timeout: float = 30.0


@dataclass(slots=True)
class Settlement:
    """An attempt's outcome waiting to be stored; `stored` resolves once it is in Redis."""

    kind: str  # 'c' completed, 'f' failed, 'r' retry, 'u' unclaim, 's' started
    job_id: str | bytes  # bytes only for an id that is not UTF-8, dropped without a record
    data: bytes | int
    keep: int
    stored: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def args(self) -> tuple[str, str | bytes, bytes | int, int]:
        return (self.kind, self.job_id, self.data, self.keep)


class QueueRunner:
    def __init__(
        self,
        queue: str,
        jobs: dict[str, Job[Any]],
        conn: Connection,
        options: QueueOptions,
        outage: Outage | None = None,
    ) -> None:
        self.queue = queue
        self.jobs = jobs
        self.conn = conn
        self.options = options
        self.wake = asyncio.Event()
        self.running: dict[str, asyncio.Task[None]] = {}
        self.started: dict[str, tuple[Attempt, int]] = {}  # running attempts and their start (ms), for the heartbeat
        self.settling: set[asyncio.Task[None]] = set()  # outcome known, being stored
        self.stopping = False
        self.counts = {"completed": 0, "failed": 0, "retried": 0, "released": 0}
        self._pending: list[Settlement] = []
        self._outage = outage or Outage()
        self._attempt_log = attempt_log.AttemptLog(conn.redis)  # retried attempts, for the dashboard
        self._keys = [
            keys.queue(queue),
            keys.PAUSED_KEY,
            keys.finished(queue, "completed"),
            keys.finished(queue, "failed"),
            keys.idle_workers(queue),
        ]
        # A claimed job is locked while it runs: the lock is renewed every third of its life, so a
        # job of a killed worker is taken again within the lock's life: its queue's longest job
        # timeout plus a grace period, or JOBS_LOCK_TIMEOUT if that is shorter.
        longest = max((j.config.timeout.total_seconds() for j in jobs.values()), default=300.0)
        self._lock_ms = int(min(longest * 1000 + LOCK_GRACE_MS, options.lock_timeout * 1000))
        self._heartbeat: asyncio.Task[None] | None = None
        # Locks hold this runner's token: after a turn whose reply was lost, the next turn finds
        # the jobs that turn claimed for it, instead of leaving them locked until expiry.
        self._token = secrets.token_hex(8)
        self.handoff_channel = keys.handoff_channel(self._token)
        self.listening = False  # the worker's listener receives this runner's hand-offs
        self._idle_ttl_ms = int(options.poll_interval * 2000) + 1000  # an idle turn renews it every poll
        self._handoffs_possible = False  # registered as idle at some point: hand-offs may be in flight
        self._recover = False
        self._ready: dict[str, tuple[Claimed, float]] = {}  # claimed ahead: locked, not started
        self._prefetch = PREFETCH  # 0 while a held job had to be given back, until a job ends
        # Burst: turns so far, and whether the last one found nothing due, running or scheduled.
        # The worker ends a burst only once every queue is idle in a turn that began after all
        # of them were (a job of one queue may trigger one on another): see `Worker._end_burst`.
        self.turns = 0
        self.idle = False
        self.progress = asyncio.Event()  # set after every burst turn; the worker may share one

    async def run(self) -> None:
        """Store outcomes and claim jobs until stopped and idle (burst: until nothing is left)."""
        self._heartbeat = asyncio.create_task(self._keep_locks(), name=f"locks:{self.queue}")
        failures = 0
        while not (self.stopping and not self.running and not self._ready):
            if self._ready and (self.stopping or self._hold_left() == 0):
                await self._give_back_ready()
                continue
            batch, self._pending = self._pending, []
            want = 0 if self.stopping else self.options.concurrency + self._prefetch - self._active() - len(self._ready)
            self.wake.clear()  # no await since `want` was computed: no wake-up can be missed
            if not batch and want <= 0:
                await self._sleep(self._hold_left())
                continue
            try:
                claimed, next_due = await self._settle_and_claim(batch, want)
                if failures:
                    self._outage.ended()
                failures, self._recover = 0, False
            except Exception as exc:  # noqa: BLE001 - the loop outlives Redis outages and surprises
                self._pending[:0] = batch
                self._recover = want > 0
                failures += 1
                event = "worker.turn_failed"
                if isinstance(exc, REDIS_ERRORS):
                    event = "worker.redis_unavailable"
                    self._outage.began()
                await self._sleep(backoff_after(failures, exc, event))
                continue
            for settlement in batch:
                if not settlement.stored.done():
                    settlement.stored.set_result(None)
            for claim in claimed:
                self._start(claim)
            if self.options.burst:
                self._burst_turn(idle=not (claimed or batch or self.running or self._ready) and next_due < 0)
                if self.idle:
                    await self._sleep(None)  # until the worker asks for another look, or a trigger
                    continue
            if claimed or batch or self.stopping:
                continue
            wait = self.options.poll_interval
            if next_due >= 0:
                wait = min(wait, max(0.0, (next_due - now_ms()) / 1000))
            hold = self._hold_left()
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
        return [t for t in self.running.values() if t not in self.settling]

    def abandon_outcomes(self) -> None:
        """Shutdown gave up waiting for Redis: unblock the jobs waiting for their outcome to be stored."""
        for settlement in self._pending:
            log.error("job.outcome_lost", job_id=settlement.job_id, queue=self.queue, reason="Redis unreachable")
            settlement.stored.set_exception(ConnectionError("Redis unreachable at shutdown"))
        self._pending = []

    async def close(self) -> None:
        """Stop renewing locks and give back what was handed off too late to run; call once no
        job of this queue runs any more and the worker no longer listens for hand-offs."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        await self._attempt_log.close()
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
        self.wake.set()  # anything published while nobody listened

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
        self._ready.clear()
        mine = list(self.running)
        args: list[Any] = [now_ms(), 0, self._lock_ms, self.queue, self._token, 0, 0, len(mine), *mine]
        with contextlib.suppress(*REDIS_ERRORS):
            reply = await self.conn.link.call(scripts.SETTLE_AND_CLAIM, self._keys, args)
            late = [reply[i].decode(errors="backslashreplace") for i in range(1, len(reply), 4)]
            if late:
                await self._give_back(late, reason="handed off while stopping")

    async def _settle_and_claim(self, batch: list[Settlement], want: int) -> tuple[list[Claimed], float]:
        free = max(0, self.options.concurrency - self._active() - len(self._ready))
        register = self._idle_after_turn(want)
        self._handoffs_possible = self._handoffs_possible or register
        idle_ms = self._idle_ttl_ms if register else 0
        args: list[Any] = [now_ms(), want, self._lock_ms, self.queue, self._token, free, idle_ms]
        if self._recover:
            mine = [*self.running, *self._ready]
            args += [len(mine), *mine]
        else:
            args.append(-1)
        for settlement in batch:
            args += settlement.args()
        reply = await self.conn.link.call(scripts.SETTLE_AND_CLAIM, self._keys, args)
        claimed: list[Claimed] = []
        for i in range(1, len(reply), 4):
            raw_id, data, attempt, ahead = reply[i], reply[i + 1], int(reply[i + 2]), reply[i + 3] == 1
            try:
                job_id = raw_id.decode()
            except UnicodeDecodeError:
                self._drop_unreadable_id(raw_id, attempt)
                continue
            claimed.append(Claimed(job_id, data, attempt, ahead))
        next_due: float = float(reply[0])
        return claimed, next_due

    def _idle_after_turn(self, want: int) -> bool:
        """Whether this runner has nothing to run once this turn has stored its outcomes, so it
        may register as idle (kept only if the turn claims nothing)."""
        if self.stopping or self.options.burst or not self.listening or want <= 0 or self._ready:
            return False
        return len(self.running) == len(self.settling)

    def _active(self) -> int:
        """Jobs running their code: those whose outcome is being stored have freed their slot."""
        return len(self.running) - len(self.settling)

    def _can_start(self) -> bool:
        """A slot is free, and at most concurrency + PREFETCH jobs are started but not yet stored.

        The second bound is what a crash runs twice: a job whose outcome is not stored yet runs
        again after a SIGKILL, like the jobs still running.
        """
        return self._active() < self.options.concurrency and len(self.running) < self.options.concurrency + PREFETCH

    def _start(self, claim: Claimed) -> None:
        current = self.running.get(claim.job_id)
        if claim.job_id in self._ready or (current is not None and current not in self.settling):
            # Its lock lapsed while it ran (a long outage): this worker runs it still, so it is
            # not started twice; the claim's count of an attempt is taken back.
            log.warning("job.lock_lost", job_id=claim.job_id, queue=self.queue, reason="lock lapsed; taken back")
            self._pending.append(Settlement("u", claim.job_id, claim.attempt - 1, 0))
            if claim.ahead:
                self._pending.append(Settlement("s", claim.job_id, 0, 0))
            return
        if self.stopping or not self._can_start():
            self._ready[claim.job_id] = (claim, time.monotonic())
            self.wake.set()  # a hand-off: the loop gives it back if it is not started in time
            return
        task = asyncio.create_task(self._execute(claim), name=f"job:{claim.job_id}")
        self.running[claim.job_id] = task
        task.add_done_callback(lambda _: self._finished(claim.job_id, task))
        if claim.ahead:  # its lock says running after the next turn, which waits for the job to start
            self._pending.append(Settlement("s", claim.job_id, 0, 0))
            self.wake.set()

    def _finished(self, job_id: str, task: asyncio.Task[None]) -> None:
        # A retry due at once may be claimed again while its last attempt's task still finishes.
        if self.running.get(job_id) is task:
            del self.running[job_id]
            self.started.pop(job_id, None)
        self.settling.discard(task)
        self._start_ready()
        self.wake.set()

    def _start_ready(self) -> None:
        """Start jobs claimed ahead while slots are free."""
        while self._ready and self._can_start() and not self.stopping:
            job_id = next(iter(self._ready))
            claim, _ = self._ready.pop(job_id)
            self._start(claim)

    def _hold_left(self) -> float | None:
        """Seconds until the oldest job claimed ahead must be given back; None if none is held."""
        if not self._ready:
            return None
        return max(0.0, PREFETCH_HOLD_S - (time.monotonic() - next(iter(self._ready.values()))[1]))

    async def _give_back_ready(self) -> None:
        """Unlock and uncount the jobs claimed ahead (a long job holds the slot, or shutdown)."""
        ready, self._ready = self._ready, {}
        self._prefetch = 0
        await self._give_back(list(ready), reason="given back unstarted")

    async def _give_back(self, job_ids: list[str], reason: str) -> None:
        """Release jobs this runner holds but never started, and wake the queue's workers for them."""
        for job_id in job_ids:
            await self._release(job_id, reason=reason)
        with contextlib.suppress(*REDIS_ERRORS):
            await self.conn.redis.publish(keys.wake_channel(self.queue), "1")

    async def _execute(self, claim: Claimed) -> None:
        started = now_ms()
        try:
            job_data = stored.decode(claim.data)
        except stored.UndecodableJob as exc:
            attempt = Attempt(claim.job_id, "<undecodable>", self.queue, claim.attempt)
            outcome: Outcome = reject(attempt, errorinfo.reason("UndecodableJob", str(exc)))
            payload: Any = None
            enqueued = 0
        else:
            attempt = Attempt(claim.job_id, job_data.name, self.queue, claim.attempt)
            self.started[claim.job_id] = (attempt, started)
            payload, enqueued = job_data.payload, job_data.enqueued_ms
            try:
                outcome = await run_attempt(self.jobs.get(job_data.name), payload, attempt)
            except asyncio.CancelledError:
                await self._release(claim.job_id, attempt)
                raise
        self.settling.add(self.running[claim.job_id])  # still this task: an id is claimed again only once stored
        self._prefetch = PREFETCH
        self._start_ready()  # the next job starts now, while this outcome is being stored
        settlement = self._settlement(outcome, attempt, payload, enqueued, started)
        self._pending.append(settlement)
        self.wake.set()
        with contextlib.suppress(ConnectionError):
            await settlement.stored

    def _drop_unreadable_id(self, raw_id: bytes, attempt: int) -> None:
        """A queued id no trigger writes (not UTF-8): logged as failed and removed, with no record."""
        shown = raw_id.decode(errors="backslashreplace")
        reason = errorinfo.reason("UndecodableJob", "the job id is not UTF-8 text; removed from the queue")
        reject(Attempt(shown, "<undecodable>", self.queue, attempt), reason)
        self.counts["failed"] += 1
        self._pending.append(Settlement("f", raw_id, b"", 0))

    def _settlement(self, outcome: Outcome, attempt: Attempt, payload: Any, enqueued: int, started: int) -> Settlement:
        if isinstance(outcome, Retrying):
            self.counts["retried"] += 1
            self._attempt_log.retried(attempt, started, outcome.error)
            return Settlement("r", attempt.job_id, now_ms() + outcome.delay_ms, 0)
        record = retention.build_record(attempt, outcome, payload, enqueued, started)
        keep = retention.keep_limit(
            self.jobs.get(record.job),
            record.status,
            keep_completed=self.options.keep_completed,
            keep_failed=self.options.keep_failed,
        )
        self.counts[record.status.value] += 1
        return Settlement("c" if record.status.value == "completed" else "f", attempt.job_id, record.to_json(), keep)

    async def _release(self, job_id: str, attempt: Attempt | None = None, reason: str = "worker shutting down") -> None:
        """Give back an attempt that shutdown interrupted, or a job claimed ahead: unlocked, not counted."""
        with contextlib.suppress(*REDIS_ERRORS):
            await self.conn.scripts.release(args=[job_id])
            if attempt is None:
                log.debug("job.given_back", job_id=job_id, queue=self.queue, reason=reason)
                return
            self.counts["released"] += 1
            log.info(
                "job.released", job_id=job_id, queue=self.queue, reason=reason, job=attempt.name, attempt=attempt.number
            )

    async def _keep_locks(self) -> None:
        """Renew the locks of running jobs, so only a dead worker's jobs are taken again."""
        while True:
            await asyncio.sleep(self._lock_ms / 3000)
            job_ids = [*self.running, *self._ready]
            if not job_ids:
                continue
            try:
                async with self.conn.redis.pipeline(transaction=False) as pipe:
                    for job_id in job_ids:
                        pipe.pexpire(keys.lock(job_id), self._lock_ms)
                    renewed = await pipe.execute()
            except REDIS_ERRORS as exc:
                log.warning("worker.lock_renewal_failed", queue=self.queue, error=str(exc) or type(exc).__name__)
                continue
            for job_id, ok in zip(job_ids, renewed, strict=True):
                if not ok and job_id in self.running:
                    log.warning("job.lock_lost", job_id=job_id, queue=self.queue, reason="lock expired while running")

    async def _sleep(self, timeout: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout)
