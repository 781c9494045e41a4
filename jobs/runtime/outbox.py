"""The outcomes a queue runner has and Redis does not yet: taken by each turn, stored by it.

An outcome leaves only when a turn stored it (`stored`), or when shutdown gives up on Redis
(`abandon`): a turn that fails puts its batch back first, so nothing of it is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import structlog

from .execution import Attempt

log = structlog.get_logger("jobs")

_OUTCOMES = {"c": "completed", "f": "failed", "r": "retried"}  # settlement kind -> what a worker counts


@dataclass(slots=True)
class Settlement:
    """An attempt's outcome waiting to be stored; `stored` resolves once it is in Redis."""

    kind: str  # 'c' completed, 'f' failed, 'r' retry, 'u' unclaim, 's' started
    job_id: str | bytes  # bytes only for an id that is not UTF-8, dropped without a record
    data: bytes | int
    keep: int
    attempt: Attempt | None = None  # whose outcome it is ('c', 'f', 'r'), named if it is discarded
    stored: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def args(self) -> tuple[str, str | bytes, bytes | int, int]:
        return (self.kind, self.job_id, self.data, self.keep)


class Outbox:
    """Pending settlements, in the order they happened."""

    def __init__(self) -> None:
        self._pending: list[Settlement] = []

    def __bool__(self) -> bool:
        return bool(self._pending)

    def __iter__(self) -> Iterator[Settlement]:
        return iter(self._pending)

    def add(self, settlement: Settlement) -> None:
        self._pending.append(settlement)

    def take(self) -> list[Settlement]:
        """Everything pending, for one turn to store."""
        batch, self._pending = self._pending, []
        return batch

    def put_back(self, batch: list[Settlement]) -> None:
        """A turn failed: its batch goes back in front, to be stored by the next one."""
        self._pending[:0] = batch

    @staticmethod
    def stored(batch: list[Settlement]) -> None:
        """A turn stored `batch`: the jobs waiting on their outcome may end."""
        for settlement in batch:
            if not settlement.stored.done():
                settlement.stored.set_result(None)

    def abandon(self, queue: str, reason: str) -> None:
        """Shutdown gave up waiting for Redis: unblock the jobs waiting for their outcome to be stored."""
        for settlement in self._pending:
            log.error("job.outcome_lost", job_id=settlement.job_id, queue=queue, reason=reason)
            settlement.stored.set_exception(ConnectionError("Redis unreachable at shutdown"))
        self._pending = []

    @staticmethod
    def report_discarded(
        queue: str, batch: list[Settlement], discarded: Sequence[bytes], counts: dict[str, int]
    ) -> None:
        """Outcomes the script refused to store: the job's lock is another worker's now (it took the
        job over after this worker's lock lapsed), so this worker's outcome is stale; uncounted."""
        stale = set(discarded)
        for settlement in batch:
            job_id, attempt = settlement.job_id, settlement.attempt
            raw_id = job_id if isinstance(job_id, bytes) else job_id.encode()
            if settlement.kind not in _OUTCOMES or raw_id not in stale:
                continue
            outcome = _OUTCOMES[settlement.kind]
            counts[outcome] -= 1
            log.warning(
                "job.outcome_discarded",
                job_id=job_id if isinstance(job_id, str) else job_id.decode(errors="backslashreplace"),
                queue=queue,
                job=attempt.name if attempt else None,
                attempt=attempt.number if attempt else None,
                outcome=outcome,
                reason="another worker holds the job now: it took it over after this worker's lock lapsed",
            )
