"""A queue runner's jobs in hand: those running, and those claimed ahead of a free slot.

The invariants a reader can check here, and nowhere else:

- `running` holds every job this runner started and whose outcome is not stored yet; those in
  `settling` have finished their code and wait for the turn that stores the outcome. So
  `active` (running their code) is `len(running) - len(settling)`, and is at most `concurrency`.
- `len(running)` is at most `concurrency + PREFETCH` (`can_start`): what a SIGKILL runs twice is
  a job started and not stored, so at most that many (docs/RELIABILITY.md).
- `ready` holds jobs claimed (locked, their attempt counted) but not started: at most
  `PREFETCH` from a turn's claim, plus hand-offs that arrived while every slot was busy. Each
  is started within `PREFETCH_HOLD_S`, or given back, uncharged.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

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
    due_ms: int | None = None  # when it fell due (its queue score); None for a hand-off (due at its trigger)


class Slots:
    """The jobs a runner holds, by state; every count the claim and the start decide on."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.running: dict[str, asyncio.Task[None]] = {}
        self.settling: set[asyncio.Task[None]] = set()  # outcome known, being stored
        self.ready: dict[str, tuple[Claimed, float]] = {}  # claimed ahead: locked, not started
        self.prefetch = PREFETCH  # 0 while a held job had to be given back, until a job ends

    @property
    def active(self) -> int:
        """Jobs running their code: those whose outcome is being stored have freed their slot."""
        return len(self.running) - len(self.settling)

    def can_start(self) -> bool:
        """A slot is free, and fewer than concurrency + PREFETCH jobs are started and not stored."""
        return self.active < self.concurrency and len(self.running) < self.concurrency + PREFETCH

    def wanted(self) -> int:
        """How many jobs a turn may claim: the free slots, plus one ahead unless one was given back."""
        return self.concurrency + self.prefetch - self.active - len(self.ready)

    def free(self) -> int:
        """How many of a turn's claims start at once; the rest are claimed ahead."""
        return max(0, self.concurrency - self.active - len(self.ready))

    def nothing_to_run(self) -> bool:
        """No job runs its code and none waits to start (outcomes may still be being stored)."""
        return not self.ready and len(self.running) == len(self.settling)

    def empty(self) -> bool:
        return not self.running and not self.ready

    def holds(self, job_id: str) -> bool:
        """Whether this runner runs `job_id` (not just stores its outcome) or holds it ready."""
        current = self.running.get(job_id)
        return job_id in self.ready or (current is not None and current not in self.settling)

    def started(self, job_id: str, task: asyncio.Task[None]) -> None:
        self.running[job_id] = task

    def settle(self, job_id: str) -> None:
        """The job's code is done: its slot frees, its outcome waits to be stored."""
        self.settling.add(self.running[job_id])
        self.prefetch = PREFETCH

    def finished(self, job_id: str, task: asyncio.Task[None]) -> None:
        """The job's task ended (outcome stored, or released)."""
        # A retry due at once may be claimed again while its last attempt's task still finishes.
        if self.running.get(job_id) is task:
            del self.running[job_id]
        self.settling.discard(task)

    def hold(self, claim: Claimed) -> None:
        self.ready[claim.job_id] = (claim, time.monotonic())

    def next_ready(self) -> Claimed | None:
        """A job claimed ahead to start now, if a slot is free for it."""
        if not self.ready or not self.can_start():
            return None
        claim, _ = self.ready.pop(next(iter(self.ready)))
        return claim

    def hold_left(self) -> float | None:
        """Seconds until the oldest job claimed ahead must be given back; None if none is held."""
        if not self.ready:
            return None
        return max(0.0, PREFETCH_HOLD_S - (time.monotonic() - next(iter(self.ready.values()))[1]))

    def take_ready(self) -> list[str]:
        """Every job claimed ahead, to give back; claim none ahead again until a job ends."""
        ready, self.ready = self.ready, {}
        self.prefetch = 0
        return list(ready)

    def held_ids(self) -> list[str]:
        """Every job whose lock this runner holds: running (or settling) and claimed ahead."""
        return [*self.running, *self.ready]

    def interruptible(self) -> list[asyncio.Task[None]]:
        """Running jobs whose outcome is not being stored yet: safe to cancel and release."""
        return [t for t in self.running.values() if t not in self.settling]
