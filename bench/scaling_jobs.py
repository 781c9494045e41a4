"""The no-op jobs `bench/scaling.py` drains: one per queue named in SCALING_QUEUES (comma-separated)."""

from __future__ import annotations

import os

from pydantic import BaseModel

from jobs import Job, job


class Noop(BaseModel):
    """An empty model: validation runs, as for any typed job."""


async def noop(payload: Noop) -> None:
    return None


QUEUES = [q for q in os.environ.get("SCALING_QUEUES", "scaling").split(",") if q]
JOBS: dict[str, Job[Noop]] = {queue: job(name=f"noop-{queue}", queue=queue, run=noop) for queue in QUEUES}
