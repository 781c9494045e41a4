"""The outcomes a queue runner has and Redis does not yet: taken by each turn, stored by it.

An outcome leaves only when a turn stored it (`stored`), or when shutdown gives up on Redis
(`abandon`): a turn that fails puts its batch back first, so nothing of it is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

import structlog

from .execution import Attempt

log = structlog.get_logger("jobs")


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
