"""Plain-text rendering for the `jobs` command: aligned tables and key/value blocks, no dependency."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from .. import text
from ..definition import Job
from ..limits import describe
from ..ops.admin import JobInfo, QueueCounts, WorkerInfo
from ..records import JobRecord, JobStatus

CELL_WIDTH = text.CELL_WIDTH
parse_duration, duration, timestamp, short = text.parse_duration, text.duration, text.timestamp, text.short


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    cells = [list(headers), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def jobs_table(jobs: Sequence[Job[Any]]) -> str:
    if not jobs:
        return "no jobs defined (set JOBS_MODULES to the modules that define them)"
    ordered = sorted(jobs, key=lambda j: (j.queue, j.name))
    rows: list[tuple[Any, ...]] = [
        (
            j.name,
            j.queue,
            j.config.attempts,
            f"{j.config.backoff.kind} {duration(j.config.backoff.delay_ms)}",
            duration(j.config.timeout.total_seconds() * 1000),
            type_name(j.payload_type),
        )
        for j in ordered
    ]
    headers: tuple[str, ...] = ("NAME", "QUEUE", "ATTEMPTS", "BACKOFF", "TIMEOUT", "PAYLOAD")
    limits = [describe(j.config.rate_limit, j.config.max_running) for j in ordered]
    if any(limits):  # a LIMITS column only where some job has one
        headers = (*headers, "LIMITS")
        rows = [(*row, shown or "-") for row, shown in zip(rows, limits, strict=True)]
    return table(headers, rows)


def type_name(payload_type: Any) -> str:
    """A job's payload type as `jobs list` shows it, e.g. `WelcomeEmail`."""
    name: str = getattr(payload_type, "__name__", str(payload_type))
    return name


def counts_table(all_counts: Sequence[QueueCounts]) -> str:
    if not all_counts:
        return "no queues found"
    rows = [
        (
            c.queue,
            "paused" if c.paused else "active",
            c.queued,
            c.scheduled,
            c.running,
            c.completed,
            c.failed,
            c.cancelled,
        )
        for c in all_counts
    ]
    return table(("QUEUE", "STATE", "QUEUED", "SCHEDULED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"), rows)


def records_table(records: Sequence[JobRecord], what: str) -> str:
    if not records:
        return f"no {what} jobs retained"
    outcome = "RESULT" if what == "completed" else "ERROR"
    rows = [
        (
            r.id,
            r.job,
            r.queue,
            r.attempts,
            timestamp(r.finished_ms),
            short(f"{r.error.type}: {r.error.message}" if r.error else r.result),
        )
        for r in records
    ]
    return table(("ID", "JOB", "QUEUE", "ATTEMPTS", "FINISHED", outcome), rows)


def job_detail(info: JobInfo) -> str:
    """Every field of one job; the payload and result as indented JSON, the traceback in full."""
    fields: list[tuple[str, str]] = [
        ("id", info.id),
        ("job", info.job or "-"),
        ("queue", info.queue or "-"),
        ("status", info.status.value),
        ("attempts", str(info.attempts)),
        ("enqueued", timestamp(info.enqueued_ms)),
    ]
    if info.due_ms is not None:
        fields.append(("due", timestamp(info.due_ms)))
    if info.priority is not None:
        fields.append(("priority", str(info.priority)))
    if info.finished_ms is not None:
        fields += [("started", timestamp(info.started_ms)), ("finished", timestamp(info.finished_ms))]
    elif info.started_ms is not None:  # running: from its worker's heartbeat
        fields += [("started", timestamp(info.started_ms)), ("worker", info.worker or "-")]
    elif info.status is JobStatus.RUNNING:
        fields.append(("started", "not reported: no live worker's heartbeat lists it (arq's own worker sends none)"))
    fields.append(("payload", _block(info.payload)))
    if info.progress is not None:
        fields.append(("progress", progress_text(info.progress)))
    if info.result is not None:
        fields.append(("result", _block(info.result)))
    if info.error:
        fields.append(("error", f"{info.error['type']}: {info.error['message']}"))
    width = max(len(k) for k, _ in fields) + 1
    lines = [f"{(k + ':').ljust(width)} {v}" for k, v in fields]
    if info.error and info.error.get("traceback"):
        lines += ["traceback:", _indent(info.error["traceback"].rstrip())]
    return "\n".join(lines)


def progress_text(progress: dict[str, Any]) -> str:
    """`40% (3 of 7 files)`: a job's latest reported progress."""
    percent = f"{progress['fraction'] * 100:.0f}%"
    message = progress.get("message")
    return f"{percent} ({message})" if message else percent


def workers_table(workers: Sequence[WorkerInfo]) -> str:
    if not workers:
        return "no live workers (a worker shows up within a second of starting)"
    rows = [
        (
            w.id,
            w.host,
            w.pid,
            ",".join(f"{q}={w.concurrency.get(q, 1)}" for q in w.queues),
            len(w.running),
            timestamp(w.started_ms),
            timestamp(w.last_beat_ms),
        )
        for w in workers
    ]
    return table(("ID", "HOST", "PID", "QUEUES", "RUNNING", "STARTED", "LAST BEAT"), rows)


def _block(value: Any) -> str:
    """JSON on the same line when it is short, else indented below."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    if len(text) <= CELL_WIDTH:
        return text
    return "\n" + _indent(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
