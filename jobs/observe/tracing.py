"""OpenTelemetry traces from `trigger` into each attempt, after the messaging conventions.

With a tracer provider configured (the app sets the SDK's), `trigger` runs in a PRODUCER span
`send <queue>` and stores its W3C trace context with the job, as `"trace": {"traceparent": ...}`
beside arq's fields (arq's worker ignores it). Each attempt runs in a CONSUMER span
`process <queue>`, a child of that context (the same trace) and linked to it; a failed attempt
records its exception and sets the status to error; a retry is a new attempt span. A job stored
without a context (a schedule's tick, a retry from the dashboard, a plain arq enqueue) starts a
new trace. While an attempt span is current, structlog lines carry `trace_id` and `span_id`.

Without opentelemetry-api installed, or with no provider set, `tracer()` is None: nothing is
stored and no span is made.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import structlog

from ..records import ErrorInfo

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the `otel` extra is not installed: tracing is off
    trace = None  # type: ignore[assignment]

SYSTEM = "jobs"  # messaging.system: this library is the messaging system, Redis its store
_OFF = () if trace is None else (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
_last: tuple[Any, Any] = (None, None)  # (provider, its tracer): the check is one identity test per trigger


def tracer() -> Any:
    """This library's tracer from the configured provider; None without one, or without the extra."""
    global _last
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    if provider is _last[0]:
        return _last[1]
    found = None if isinstance(provider, _OFF) else provider.get_tracer("jobs")
    _last = (provider, found)
    return found


class Sending:
    """The PRODUCER span of one trigger (or one batch): what the stored jobs carry of it."""

    def __init__(self, span: Any) -> None:
        self.span = span
        self._field: bytes | None = None

    def stored_field(self, job_id: str | None = None) -> bytes:
        """`,"trace":{...}`, to close the stored job's JSON with; names the job on the span."""
        if job_id is not None:
            self.span.set_attribute("messaging.message.id", job_id)
        if self._field is None:
            carrier: dict[str, str] = {}
            TraceContextTextMapPropagator().inject(carrier, context=trace.set_span_in_context(self.span))
            # Nothing to carry (an invalid span context): nothing stored.
            self._field = b',"trace":' + json.dumps(carrier, separators=(",", ":")).encode() if carrier else b""
        return self._field

    def sent(self, enqueued: bool) -> None:
        self.span.set_attribute("jobs.enqueued", enqueued)


@contextmanager
def sending(tracer: Any, queue: str, job: str, count: int | None = None) -> Iterator[Sending]:
    """A `send <queue>` PRODUCER span, current for the block (an error in it is recorded)."""
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.destination.name": queue,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "jobs.job.name": job,
    }
    if count is not None:
        attributes["messaging.batch.message_count"] = count
    with tracer.start_as_current_span(f"send {queue}", kind=trace.SpanKind.PRODUCER, attributes=attributes) as span:
        yield Sending(span)


class AttemptSpan:
    """The CONSUMER span of one attempt, current (and in the log lines) until it ends."""

    __slots__ = ("_logged", "_span", "_token")

    def __init__(self, span: Any, token: Any, logged: Mapping[str, Any]) -> None:
        self._span, self._token, self._logged = span, token, logged

    def ended(self, outcome: str, error: ErrorInfo | None) -> None:
        """The attempt ended: `completed`, `retried` or `failed` (with its error), or `released`."""
        span = self._span
        span.set_attribute("jobs.outcome", outcome)
        if error is not None:
            exception = {"exception.type": error.type, "exception.message": error.message}
            span.add_event("exception", {**exception, "exception.stacktrace": error.traceback})
            span.set_status(trace.Status(trace.StatusCode.ERROR, f"{error.type}: {error.message}"))
        span.end()
        otel_context.detach(self._token)
        structlog.contextvars.reset_contextvars(**self._logged)


class AttemptSpans:
    """Starts the attempt spans of a worker, with the tracer found when it started."""

    def __init__(self, tracer: Any) -> None:
        self._tracer = tracer
        self._propagator = TraceContextTextMapPropagator()

    def start(self, queue: str, job: str, job_id: str, attempt: int, carrier: Any) -> AttemptSpan:
        """A `process <queue>` span, child of the stored context `carrier` if it holds one (and
        linked to it), else the root of a new trace; current until `ended`."""
        parent = otel_context.Context()  # never the worker's own context: no context, a new trace
        links: tuple[Any, ...] = ()
        if isinstance(carrier, dict) and isinstance(carrier.get("traceparent"), str):
            parent = self._propagator.extract({k: v for k, v in carrier.items() if isinstance(v, str)}, parent)
            sent = trace.get_current_span(parent).get_span_context()
            if sent.is_valid:
                links = (trace.Link(sent),)
        span = self._tracer.start_span(
            f"process {queue}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": SYSTEM,
                "messaging.destination.name": queue,
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.message.id": job_id,
                "jobs.job.name": job,
                "jobs.attempt": attempt,
            },
            links=links,
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        own = span.get_span_context()
        logged = structlog.contextvars.bind_contextvars(trace_id=f"{own.trace_id:032x}", span_id=f"{own.span_id:016x}")
        return AttemptSpan(span, token, logged)
