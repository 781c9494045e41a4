"""Jobs for the observability tests, run by a worker subprocess (`JOBS_MODULES=tests.observe_jobs`).

With `OBSERVE_SPANS_FILE` set, the module configures an OpenTelemetry SDK provider whose exporter
appends each finished span to that file as a JSON line, as an app's job module would set up its own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import structlog

from jobs import Backoff, Every, current_attempt, job

QUEUE = os.environ.get("OBSERVE_QUEUE", "observe")
SPANS_FILE = os.environ.get("OBSERVE_SPANS_FILE")
log = structlog.get_logger("observe_jobs")

if SPANS_FILE:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class FileExporter(SpanExporter):
        """Each span as one JSON line: names, ids, parent, links, kind, status, attributes, events."""

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            with open(str(SPANS_FILE), "a") as out:
                for span in spans:
                    context, parent = span.get_span_context(), span.parent
                    line = {
                        "name": span.name,
                        "kind": span.kind.name,
                        "trace_id": f"{context.trace_id:032x}" if context else None,
                        "span_id": f"{context.span_id:016x}" if context else None,
                        "parent_span_id": f"{parent.span_id:016x}" if parent else None,
                        "links": [f"{link.context.trace_id:032x}-{link.context.span_id:016x}" for link in span.links],
                        "status": span.status.status_code.name,
                        "attributes": dict(span.attributes or {}),
                        "events": [{"name": e.name, **dict(e.attributes or {})} for e in span.events],
                    }
                    out.write(json.dumps(line) + "\n")
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(FileExporter()))
    trace.set_tracer_provider(provider)


async def ok(payload: dict[str, Any]) -> str:
    return "done"


async def fails(payload: dict[str, Any]) -> None:
    raise RuntimeError("broken on purpose")


async def traced(payload: dict[str, Any]) -> dict[str, Any]:
    """Returns the trace id current in the job, and logs a line of its own (which carries the ids);
    fails its first attempt when `payload["flaky"]`."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    log.info("traced.ran", seen_trace_id=f"{context.trace_id:032x}")
    attempt = current_attempt()
    if payload.get("flaky") and attempt is not None and attempt.number == 1:
        raise ValueError("first attempt fails")
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


async def wait_for_flag(payload: dict[str, Any]) -> str:
    """Runs until the Redis key `payload["flag"]` exists (at most 20 s)."""
    import asyncio

    from redis.asyncio import Redis

    redis: Redis = Redis.from_url(os.environ["REDIS_URL"])
    try:
        for _ in range(1000):
            if await redis.exists(payload["flag"]):
                return "flag seen"
            await asyncio.sleep(0.02)
        return "timed out"
    finally:
        await redis.aclose()


job(name="observe.ok", run=ok, queue=QUEUE)
job(name="observe.wait", run=wait_for_flag, queue=QUEUE)
job(name="observe.fails", run=fails, queue=QUEUE, attempts=3, backoff=Backoff.fixed(delay_ms=50))
job(name="observe.traced", run=traced, queue=QUEUE, attempts=2, backoff=Backoff.fixed(delay_ms=50))

TICK_SECONDS = os.environ.get("OBSERVE_TICK_SECONDS")
if TICK_SECONDS:  # a declared schedule: each tick's job runs in a trace of its own

    async def tick() -> None:
        from opentelemetry import trace

        log.info("tick.ran", seen_trace_id=f"{trace.get_current_span().get_span_context().trace_id:032x}")

    job(name="observe.tick", run=tick, queue=QUEUE, schedule=Every(seconds=float(TICK_SECONDS)))
