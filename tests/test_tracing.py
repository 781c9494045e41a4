"""OpenTelemetry: a trace crosses from the triggering process into the worker process's attempts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from opentelemetry import trace
from redis.asyncio import Redis

from jobs import JobStatus
from jobs.observe import tracing
from jobs.store import keys

from .helpers import wait_until
from .observe_support import in_memory_tracing
from .processes import ARQ, process_env, remote_job, run_to_exit, worker_process

OBSERVE = "tests.observe_jobs"


def observe_env(queue: str, spans: Path, **overrides: str) -> dict[str, str]:
    return process_env(queue, JOBS_MODULES=OBSERVE, OBSERVE_QUEUE=queue, OBSERVE_SPANS_FILE=str(spans), **overrides)


def exported(spans: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in spans.read_text().splitlines()] if spans.exists() else []


def ids(span: Any) -> tuple[str, str]:
    context = span.get_span_context()
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


async def test_the_attempt_runs_in_the_trace_of_the_request_that_triggered_it(
    queue: str, tmp_path: Path, redis: Redis
) -> None:
    """Triggered inside a request's span: the PRODUCER span is its child, the job stores its
    traceparent, and the worker's CONSUMER span (child of it, linked to it) is current in the job,
    whose log line carries the same ids; the span has the messaging attributes."""
    spans = tmp_path / "spans.jsonl"
    with in_memory_tracing() as memory:
        request_tracer = trace.get_tracer("web")
        with request_tracer.start_as_current_span("POST /signups") as request:
            handle = await remote_job("observe.traced", queue).trigger({"user": 1})
        trace_id, request_span_id = ids(request)
        (sent,) = [s for s in memory.get_finished_spans() if s.kind is trace.SpanKind.PRODUCER]
    assert sent.name == f"send {queue}" and ids(sent)[0] == trace_id
    assert sent.parent is not None and f"{sent.parent.span_id:016x}" == request_span_id
    assert dict(sent.attributes or {}) == {
        "messaging.system": "jobs",
        "messaging.destination.name": queue,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "jobs.job.name": "observe.traced",
        "messaging.message.id": handle.id,
        "jobs.enqueued": True,
    }
    stored = json.loads(await redis.get(keys.job(handle.id)))
    assert stored["trace"]["traceparent"].startswith(f"00-{trace_id}-{ids(sent)[1]}-")  # W3C: version-trace-span-flags
    assert {"f", "a", "k", "et", "t"} <= stored.keys(), "arq's fields are all there"

    with worker_process(observe_env(queue, spans)) as worker:
        await worker.wait_for("job.completed", job_id=handle.id)
        (line,) = worker.named("traced.ran")
        await wait_until(lambda: exported(spans), what="the attempt span exported")
    record = await handle.record()
    assert record is not None and record.status is JobStatus.COMPLETED
    assert record.result["trace_id"] == trace_id, "the job's current trace is the trigger's"
    (attempt,) = exported(spans)
    assert attempt["name"] == f"process {queue}" and attempt["kind"] == "CONSUMER"
    assert attempt["trace_id"] == trace_id and attempt["parent_span_id"] == ids(sent)[1]
    assert attempt["links"] == [f"{trace_id}-{ids(sent)[1]}"]
    assert attempt["span_id"] == record.result["span_id"] and attempt["status"] == "UNSET"
    assert attempt["attributes"] == {
        "messaging.system": "jobs",
        "messaging.destination.name": queue,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.id": handle.id,
        "jobs.job.name": "observe.traced",
        "jobs.attempt": 1,
        "jobs.outcome": "completed",
    }
    assert (line["seen_trace_id"], line["trace_id"], line["span_id"]) == (trace_id, trace_id, attempt["span_id"])
    assert line["job_id"] == handle.id, "the job's identity is still bound"


async def test_a_retried_job_has_one_span_per_attempt_in_the_same_trace(queue: str, tmp_path: Path) -> None:
    """The first attempt fails: its span records the exception with status error; the retry is a
    second span of the same trace, attempt 2, completed."""
    spans = tmp_path / "spans.jsonl"
    with in_memory_tracing():
        with trace.get_tracer("web").start_as_current_span("request") as request:
            handle = await remote_job("observe.traced", queue).trigger({"flaky": True})
        trace_id = ids(request)[0]
    with worker_process(observe_env(queue, spans)) as worker:
        await worker.wait_for("job.completed", job_id=handle.id, timeout=15)
        await wait_until(lambda: len(exported(spans)) == 2, what="two attempt spans")
    first, second = exported(spans)
    assert [first["attributes"]["jobs.attempt"], second["attributes"]["jobs.attempt"]] == [1, 2]
    assert first["trace_id"] == second["trace_id"] == trace_id and first["span_id"] != second["span_id"]
    assert first["parent_span_id"] == second["parent_span_id"], "both children of the trigger's span"
    assert (first["status"], first["attributes"]["jobs.outcome"]) == ("ERROR", "retried")
    (event,) = first["events"]
    assert (event["name"], event["exception.type"], event["exception.message"]) == (
        "exception",
        "ValueError",
        "first attempt fails",
    )
    assert "Traceback" in event["exception.stacktrace"]
    assert (second["status"], second["attributes"]["jobs.outcome"], second["events"]) == ("UNSET", "completed", [])


async def test_without_a_provider_nothing_is_stored_and_the_attempt_starts_its_own_trace(
    queue: str, tmp_path: Path, redis: Redis
) -> None:
    """No provider in the triggering process (as for a schedule's tick): no trace field stored; the
    worker with a provider runs the attempt as the root of a new trace, unlinked."""
    assert tracing.tracer() is None
    handle = await remote_job("observe.traced", queue).trigger({})
    assert "trace" not in json.loads(await redis.get(keys.job(handle.id)))
    spans = tmp_path / "spans.jsonl"
    with worker_process(observe_env(queue, spans)) as worker:
        await worker.wait_for("job.completed", job_id=handle.id)
        await wait_until(lambda: exported(spans), what="the attempt span exported")
    (attempt,) = exported(spans)
    assert attempt["parent_span_id"] is None and attempt["links"] == []
    record = await handle.record()
    assert record is not None and record.result["trace_id"] == attempt["trace_id"]


async def test_each_tick_of_a_schedule_starts_a_trace_of_its_own(queue: str, tmp_path: Path) -> None:
    """Two ticks of a declared schedule: two root attempt spans, two different traces."""
    spans = tmp_path / "spans.jsonl"
    with worker_process(observe_env(queue, spans, OBSERVE_TICK_SECONDS="0.3")) as worker:
        await wait_until(lambda: len(worker.named("tick.ran")) >= 2, timeout=10, what="two ticks")
        await wait_until(lambda: len(exported(spans)) >= 2, what="two tick spans")
    first, second = worker.named("tick.ran")[:2]
    assert first["seen_trace_id"] != second["seen_trace_id"]
    ticks = {s["trace_id"]: s for s in exported(spans)}
    for line in (first, second):
        span = ticks[line["seen_trace_id"]]
        assert span["parent_span_id"] is None and span["links"] == []
        assert span["attributes"]["messaging.message.id"].startswith("schedule:observe.tick:")


async def test_arqs_worker_runs_a_job_stored_with_a_trace_context(queue: str) -> None:
    """The stored trace field is one arq's own worker ignores: it runs the job as usual."""
    with in_memory_tracing():
        handle = await remote_job("observe.ok", queue).trigger({})
    done = run_to_exit([*ARQ, "--burst"], process_env(queue, JOBS_MODULES=OBSERVE, OBSERVE_QUEUE=queue))
    assert done.returncode == 0, done.output
    record = await handle.record()
    assert record is not None and record.status is JobStatus.COMPLETED and record.result == "done"


async def test_trigger_many_sends_one_span_whose_context_every_job_carries(queue: str, redis: Redis) -> None:
    """One `send` span for the batch, with its size; each stored job carries that span's context."""
    with in_memory_tracing() as memory:
        handles = await remote_job("observe.ok", queue).trigger_many([{}, {}, {}])
        (sent,) = memory.get_finished_spans()
    assert dict(sent.attributes or {})["messaging.batch.message_count"] == 3
    for handle in handles:
        stored = json.loads(await redis.get(keys.job(handle.id)))
        assert stored["trace"]["traceparent"].startswith("00-{}-{}-".format(*ids(sent)))


def test_without_opentelemetry_installed_tracing_is_off() -> None:
    """The otel extra missing (its import blocked): `tracer()` is None and a job encodes without a trace."""
    code = (
        "import sys; sys.modules['opentelemetry'] = None; "
        "from jobs.observe import tracing; assert tracing.tracer() is None; print('off')"
    )
    done = run_to_exit([sys.executable, "-c", code], process_env())
    assert done.returncode == 0 and done.stdout.strip() == "off", done.output
