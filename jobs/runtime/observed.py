"""One attempt run under the worker's observer: its metrics and its span (`jobs.observe`).

The queue runner calls this instead of `run_attempt` only when metrics or tracing is on, so a
worker with both off runs exactly the path it ran before.
"""

from __future__ import annotations

import time
from typing import Any

from ..definition import Job
from ..observe.observer import Observer
from .execution import Attempt, Completed, Failed, Outcome, Retrying, run_attempt

UNDECODABLE = "<undecodable>"


async def run_observed(
    observer: Observer,
    job: Job[Any] | None,
    payload: Any,
    attempt: Attempt,
    *,
    max_result_bytes: int,
    due_ms: int,
    started_ms: int,
    trace: Any,
) -> Outcome:
    """`run_attempt`, counted and timed (metrics), inside a CONSUMER span (tracing)."""
    metrics, spans = observer.metrics, observer.spans
    series = metrics.series(attempt.queue, attempt.name) if metrics is not None else None
    span = spans.start(attempt.queue, attempt.name, attempt.job_id, attempt.number, trace) if spans else None
    if series is not None:
        series.started((started_ms - due_ms) / 1000)
    began = time.perf_counter()
    try:
        outcome = await run_attempt(job, payload, attempt, max_result_bytes=max_result_bytes)
    except BaseException:  # cancelled by a shutdown: given back, no outcome
        if series is not None:
            series.released()
        if span is not None:
            span.ended("released", None)
        raise
    seconds = time.perf_counter() - began
    if isinstance(outcome, Completed):
        if series is not None:
            series.ended_completed(seconds)
        if span is not None:
            span.ended("completed", None)
    elif isinstance(outcome, Retrying):
        if series is not None:
            series.ended_retried(seconds)
        if span is not None:
            span.ended("retried", outcome.error)
    elif isinstance(outcome, Failed):
        if series is not None:
            series.ended_failed(seconds)
        if span is not None:
            span.ended("failed", outcome.error)
    return outcome


def rejected(observer: Observer, queue: str) -> None:
    """A stored job that could not even be read failed for good: counted under `<undecodable>`."""
    if observer.metrics is not None:
        observer.metrics.series(queue, UNDECODABLE).rejected()
