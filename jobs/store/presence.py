"""Which worker processes are alive, from their heartbeats: what each serves and runs now.

Each worker writes its beat (a JSON document with a TTL of a few seconds) every second
(`runtime/heartbeat.py`), so a killed worker drops off within seconds, and the running jobs it
reports are what tells running from queued without one lookup per queued job.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .connection import Client
from .keys import DEFAULT, Layout

BEAT_TTL_MS = 5_000


@dataclass(frozen=True, slots=True)
class RunningJob:
    """A job a worker is running, as its last beat reported it."""

    id: str
    job: str
    queue: str
    attempt: int
    started_ms: int


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One live worker process, as its last beat reported it."""

    id: str  # host:pid:random
    host: str
    pid: int
    queues: list[str]
    concurrency: dict[str, int]
    started_ms: int
    last_beat_ms: int
    burst: bool = False
    running: list[RunningJob] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: bytes) -> WorkerInfo:
        data = json.loads(raw)
        data["running"] = [RunningJob(**job) for job in data.get("running", [])]
        return cls(**data)


async def live_workers(redis: Client, layout: Layout = DEFAULT) -> list[WorkerInfo]:
    """Every worker whose last beat has not expired, oldest first; ids whose beat expired are pruned."""
    ids = [raw.decode() for raw in await redis.zrange(layout.workers, 0, -1)]
    if not ids:
        return []
    raws = await redis.mget([layout.worker(i) for i in ids])
    gone = [i for i, raw in zip(ids, raws, strict=True) if raw is None]
    if gone:
        await redis.zrem(layout.workers, *gone)
    workers = [WorkerInfo.from_json(raw) for raw in raws if raw is not None]
    return sorted(workers, key=lambda w: (w.started_ms, w.id))


def running_by_queue(workers: Sequence[WorkerInfo]) -> dict[str, dict[str, tuple[RunningJob, WorkerInfo]]]:
    """Queue -> job id -> the running job and its worker (one entry per id, whatever the workers say)."""
    found: dict[str, dict[str, tuple[RunningJob, WorkerInfo]]] = {}
    for worker in workers:
        for job in worker.running:
            found.setdefault(job.queue, {})[job.id] = (job, worker)
    return found
