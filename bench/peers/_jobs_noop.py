"""The no-op jobs the `jobs` bench peer defines: a typed payload, and an untyped one for "bare"."""

from __future__ import annotations

from typing import Any

from _harness import job_started
from pydantic import BaseModel

from jobs import job

QUEUE = "bench"


class Noop(BaseModel):
    """An empty model: validation runs, as for any typed job."""


async def noop(payload: Noop) -> None:
    job_started()


async def noop_any(payload: Any) -> None:
    job_started()


noop_job = job(name="noop", queue=QUEUE, run=noop)
noop_any_job = job(name="noop-any", queue=QUEUE, run=noop_any)
