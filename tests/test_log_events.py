"""The worker's per-job events: the direct JSON path prints exactly what structlog would."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import pytest
import structlog

from jobs.logs.configure import configure_logging, direct_lines
from jobs.logs.events import log as events
from jobs.logs.output import writer_for
from jobs.settings import LogLevel


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    saved_config, saved_handlers = structlog.get_config(), logging.getLogger().handlers[:]
    yield
    structlog.configure(**saved_config)
    logging.getLogger().handlers[:] = saved_handlers


def configure(level: LogLevel) -> io.BytesIO:
    """JSON logging at `level` to a fresh stdout; returns what is written to it."""
    raw = io.BytesIO()
    with patch.object(sys, "stdout", SimpleNamespace(buffer=raw)):
        configure_logging("json", level)
    return raw


def lines(raw: io.BytesIO) -> list[dict[str, Any]]:
    writer_for(raw).flush()
    return [json.loads(line) for line in raw.getvalue().splitlines()]


def test_an_event_on_the_direct_path_is_the_line_structlog_renders() -> None:
    stdout = configure("INFO")
    assert direct_lines() is not None
    structlog.contextvars.bind_contextvars(request_id="gone")
    structlog.contextvars.unbind_contextvars("request_id")  # bound once, unbound: not on the line
    with structlog.contextvars.bound_contextvars(job="send", job_id="j-1", queue="emails", attempt=2, tenant="t"):
        events.info("job.completed", duration_ms=1.5, queue="from-the-call")
        structlog.get_logger("jobs").info("job.completed", duration_ms=1.5, queue="from-the-call")
    direct, via_structlog = lines(stdout)
    assert direct.pop("timestamp") <= via_structlog.pop("timestamp")
    assert direct == via_structlog
    # the call's fields and the event first, as structlog orders them (the context's order is its own)
    assert list(direct)[:3] == list(via_structlog)[:3] == ["duration_ms", "queue", "event"]
    assert direct == {"duration_ms": 1.5, "event": "job.completed", "job": "send", "job_id": "j-1"} | {
        "queue": "from-the-call",  # a call's field wins over the bound one, as in structlog
        "attempt": 2,
        "tenant": "t",
        "level": "info",
    }


def test_the_direct_path_honours_the_level() -> None:
    stdout = configure("WARNING")
    events.info("job.started")
    events.warning("job.retrying", retry_in_ms=10)
    assert [line["event"] for line in lines(stdout)] == ["job.retrying"]


def test_events_follow_structlog_once_it_is_reconfigured() -> None:
    stdout = configure("INFO")
    structlog.configure(cache_logger_on_first_use=False)  # a cached logger would outlive this test
    assert direct_lines() is not None
    with structlog.testing.capture_logs() as captured:  # swaps the processors in place
        assert direct_lines() is None
        events.error("job.failed", error={"type": "ValueError"})
    assert captured == [{"event": "job.failed", "error": {"type": "ValueError"}, "log_level": "error"}]
    assert lines(stdout) == []


async def test_a_line_rendered_later_shows_the_context_and_time_of_its_event() -> None:
    stdout = configure("INFO")
    with structlog.contextvars.bound_contextvars(job_id="j-1"):
        events.info("job.completed", duration_ms=1.0)
    structlog.contextvars.bind_contextvars(job_id="j-2", tenant="later")  # before the line is rendered
    try:
        after = time.time()
        assert stdout.getvalue() == b""  # rendered and written at the next iteration
        await asyncio.sleep(0)
        (line,) = lines(stdout)
    finally:
        structlog.contextvars.unbind_contextvars("job_id", "tenant")
    assert line["job_id"] == "j-1" and "tenant" not in line
    logged = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()
    assert logged <= after
