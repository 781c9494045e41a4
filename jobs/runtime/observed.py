"""One attempt under the worker's observer: its metrics and its span (`jobs.observe`).

The queue runner calls `started` before `run_attempt` and `ended` (or `released`) after it,
only when metrics or tracing is on: a worker with both off runs exactly the path it ran before.
Plain functions, no coroutine of their own: with metrics on, an attempt costs two calls more.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..observe.observer import Observer
from .execution import Attempt, Completed, Outcome, Retrying

if TYPE_CHECKING:  # neither extra is imported unless it is used
    from ..observe.metrics import JobSeries
    from ..observe.tracing import AttemptSpan

UNDECODABLE = "<undecodable>"

Watch = tuple["JobSeries | None", "AttemptSpan | None", float]


def started(observer: Observer, attempt: Attempt, due_ms: int, started_ms: int, trace: Any) -> Watch:
    """An attempt starts: its wait observed, its span started and made current."""
    metrics, spans = observer.metrics, observer.spans
    series = None
    if metrics is not None:
        series = metrics.series(attempt.queue, attempt.name)
        series.started((started_ms - due_ms) / 1000)
    span = spans.start(attempt.queue, attempt.name, attempt.job_id, attempt.number, trace) if spans else None
    return series, span, time.perf_counter()


def ended(watch: Watch, outcome: Outcome) -> None:
    """The attempt ended with `outcome`: counted, its run time observed, its span ended."""
    series, span, began = watch
    kind = type(outcome)
    if series is not None:
        seconds = time.perf_counter() - began
        if kind is Completed:
            series.ended_completed(seconds)
        elif kind is Retrying:
            series.ended_retried(seconds)
        else:
            series.ended_failed(seconds)
    if span is not None:
        if isinstance(outcome, Completed):
            span.ended("completed", None)
        else:
            span.ended("retried" if kind is Retrying else "failed", outcome.error)


def released(watch: Watch, why: str) -> None:
    """Interrupted: `released` by a shutdown (given back: it runs again, no counter moves) or
    `cancelled` (`jobs cancel`: counted as such); its span says which."""
    series, span, _ = watch
    if series is not None and why == "cancelled":
        series.cancelled += 1
    if span is not None:
        span.ended(why, None)


def rejected(observer: Observer, queue: str) -> None:
    """A stored job that could not even be read failed for good: counted under `<undecodable>`."""
    if observer.metrics is not None:
        observer.metrics.series(queue, UNDECODABLE).rejected()
