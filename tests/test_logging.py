"""The log contract: lifecycle events and their fields, the job's identity on every line logged
while it runs (the job's own lines too), one line per final failure, JSON or console, LOG_LEVEL."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import structlog

from jobs import Backoff, JobFailedError, UnrecoverableError, current_attempt, get_record

from .conftest import Define, StartWorker
from .helpers import wait_until
from .processes import FAIL_ATTEMPTS, FAIL_DELAY_MS, WORKER, parse_json_lines, process_env, remote_job, run_to_exit

IDENTITY = ("job", "job_id", "queue", "attempt")
Logs = list[dict[str, Any]]


def _of(logs: Logs, event: str, job_id: str | None = None) -> Logs:
    return [e for e in logs if e["event"] == event and (job_id is None or e.get("job_id") == job_id)]


def _identity(entry: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(entry.get(k) for k in IDENTITY)


async def test_every_event_of_a_job_and_its_own_lines_carry_its_identity_and_attempt(
    define: Define, start_worker: StartWorker, logs: Logs, queue: str
) -> None:
    """started/retrying/completed and the job's own structlog lines carry job, job_id, queue, 1-based attempt."""
    own_log = structlog.get_logger("my_app")

    async def fails_once(payload: dict[str, int]) -> str:
        attempt = current_attempt()
        own_log.info("my_app.working", n=payload["n"])
        if attempt is not None and attempt.number == 1:
            raise ConnectionError("first try fails")
        return "ok"

    flaky = define(fails_once, backoff=Backoff.fixed(delay_ms=10))
    await start_worker()
    handle = await flaky.trigger({"n": 7})
    assert await handle.result(timeout=5) == "ok"
    first, second = ((flaky.name, handle.id, queue, n) for n in (1, 2))
    assert [_identity(e) for e in _of(logs, "job.started", handle.id)] == [first, second]
    assert [_identity(e) for e in _of(logs, "my_app.working", handle.id)] == [first, second]
    (retrying,) = _of(logs, "job.retrying", handle.id)
    assert _identity(retrying) == first and retrying["retry_in_ms"] == 10
    assert retrying["error"] == {"type": "ConnectionError", "message": "first try fails"}
    (completed,) = _of(logs, "job.completed", handle.id)
    assert _identity(completed) == second and completed["duration_ms"] >= 0
    assert not _of(logs, "job.failed", handle.id)


async def test_a_final_failure_is_logged_once_with_type_message_and_traceback(
    define: Define, start_worker: StartWorker, logs: Logs, queue: str
) -> None:
    """job.failed appears once per job that fails for good (used-up attempts, or unrecoverable at once)."""

    async def always(payload: dict[str, str]) -> None:
        raise RuntimeError("still broken")

    async def gives_up(payload: dict[str, str]) -> None:
        raise UnrecoverableError("no point retrying")

    retried = define(always, attempts=2, backoff=Backoff.fixed(delay_ms=10))
    unrecoverable = define(gives_up, attempts=5)
    await start_worker()
    handles = [await retried.trigger({}), await unrecoverable.trigger({})]
    for handle in handles:
        with pytest.raises(JobFailedError):
            await handle.result(timeout=5)
    for handle, attempts, error_type in zip(
        handles, (2, 1), ("RuntimeError", "jobs.errors.UnrecoverableError"), strict=True
    ):
        (failed,) = _of(logs, "job.failed", handle.id)
        assert _identity(failed) == (handle.job, handle.id, queue, attempts)
        assert failed["error"]["type"] == error_type and failed["error"]["message"]
        assert "Traceback (most recent call last)" in failed["error"]["traceback"]
        assert len(_of(logs, "job.retrying", handle.id)) == attempts - 1


async def test_worker_ready_lists_queues_jobs_and_concurrency_and_stopping_is_logged(
    define: Define, start_worker: StartWorker, logs: Logs, queue: str
) -> None:
    """worker.ready says what the worker runs; stopping it logs worker.stopping then worker.stopped."""

    async def noop(payload: dict[str, str]) -> None:
        return None

    defined = define(noop)
    worker = await start_worker(concurrency=3)
    (ready,) = _of(logs, "worker.ready")
    assert ready["queues"] == [queue] and ready["jobs"] == [defined.name] and ready["concurrency"] == {queue: 3}
    worker.request_stop()
    await wait_until(lambda: _of(logs, "worker.stopped"), what="worker.stopped")
    assert [e["event"] for e in logs if e["event"].startswith("worker.")][-2:] == ["worker.stopping", "worker.stopped"]


async def test_a_json_worker_process_prints_only_json_lines_following_the_contract(queue: str) -> None:
    """End to end through `python -m servers.jobs --burst` with LOG_FORMAT=json: every stdout line is a JSON
    object, with the contract's events and fields (at DEBUG: `job.started` too)."""
    echo = await remote_job("process.echo", queue).trigger({"text": "hi"})
    fail = await remote_job("process.fail", queue).trigger({"why": "contract"})
    done = run_to_exit([*WORKER, "--burst"], process_env(queue, LOG_LEVEL="DEBUG"))
    assert done.returncode == 0, done.output
    assert done.stderr == ""
    events = parse_json_lines(done.stdout)
    assert all({"event", "level", "timestamp"} <= e.keys() for e in events)

    ready = events[0]
    assert ready["event"] == "worker.ready" and ready["queues"] == [queue]
    assert ready["jobs"] == ["process.echo", "process.fail", "process.wait"] and ready["concurrency"] == {queue: 1}
    assert [e["event"] for e in events[-2:]] == ["worker.stopping", "worker.stopped"]

    echo_identity = ("process.echo", echo.id, queue, 1)
    for event in ("job.started", "echo.said", "job.completed"):
        assert [_identity(e) for e in _of(events, event, echo.id)] == [echo_identity], event
    assert isinstance(_of(events, "job.completed", echo.id)[0]["duration_ms"], int | float)

    attempts = range(1, FAIL_ATTEMPTS + 1)
    assert [e["attempt"] for e in _of(events, "job.started", fail.id)] == list(attempts)
    retrying = _of(events, "job.retrying", fail.id)
    assert [_identity(e) for e in retrying] == [("process.fail", fail.id, queue, n) for n in attempts[:-1]]
    assert all(e["retry_in_ms"] == FAIL_DELAY_MS and e["error"]["type"] == "RuntimeError" for e in retrying)
    (failed,) = _of(events, "job.failed", fail.id)
    assert _identity(failed) == ("process.fail", fail.id, queue, FAIL_ATTEMPTS) and failed["level"] == "error"
    assert failed["error"]["message"] == "broken on purpose: contract"
    assert "Traceback (most recent call last)" in failed["error"]["traceback"]


async def test_at_info_a_job_that_succeeds_prints_one_line(queue: str) -> None:
    """The default level: one line per finished attempt (`job.completed` with its duration), no
    `job.started`; the job's own lines still carry its identity."""
    echo = await remote_job("process.echo", queue).trigger({"text": "one line"})
    done = run_to_exit([*WORKER, "--burst"], process_env(queue))
    assert done.returncode == 0, done.output
    events = [e for e in parse_json_lines(done.stdout) if e.get("job_id") == echo.id]
    assert [e["event"] for e in events] == ["echo.said", "job.completed"]
    assert all(_identity(e) == ("process.echo", echo.id, queue, 1) for e in events)


async def test_log_level_warning_hides_info_events(queue: str) -> None:
    """With LOG_LEVEL=WARNING only retries (warning) and failures (error) are printed."""
    await remote_job("process.echo", queue).trigger({"text": "quiet"})
    await remote_job("process.fail", queue).trigger({})
    done = run_to_exit([*WORKER, "--burst"], process_env(queue, LOG_LEVEL="WARNING"))
    assert done.returncode == 0, done.output
    events = parse_json_lines(done.stdout)
    assert {e["level"] for e in events} == {"warning", "error"}
    assert [e["event"] for e in events] == ["job.retrying"] * (FAIL_ATTEMPTS - 1) + ["job.failed"]


async def test_console_format_is_readable_text_with_the_event_names(queue: str) -> None:
    """LOG_FORMAT=console prints lines that are not JSON but name the same events."""
    await remote_job("process.echo", queue).trigger({"text": "hello console"})
    done = run_to_exit([*WORKER, "--burst"], process_env(queue, LOG_FORMAT="console"))
    assert done.returncode == 0, done.output
    lines = done.stdout.splitlines()
    assert lines and not any(_is_json(line) for line in lines), done.stdout
    for event in ("worker.ready", "echo.said", "job.completed", "worker.stopping", "worker.stopped"):
        assert any(event in line for line in lines), (event, done.stdout)
    assert "hello console" in done.stdout and "\x1b[" not in done.stdout, "no colours when not a terminal"


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


async def test_without_uvloop_a_failure_traceback_is_only_the_jobs_own(queue: str, tmp_path: Path) -> None:
    """No `fast` extra: the job's traceback (log line and record) is not chained to uvloop's ImportError."""
    (tmp_path / "uvloop.py").write_text("raise ImportError(\"No module named 'uvloop'\")\n")
    fail = await remote_job("process.fail", queue).trigger({"why": "plain asyncio"})
    env = process_env(queue, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    done = run_to_exit([*WORKER, "--burst"], env)
    assert done.returncode == 0, done.output
    (failed,) = _of(parse_json_lines(done.stdout), "job.failed", fail.id)
    record = await get_record(fail.id)
    assert record is not None and record.error is not None
    for traceback in (failed["error"]["traceback"], record.error.traceback):
        assert "broken on purpose: plain asyncio" in traceback
        assert "uvloop" not in traceback and "During handling" not in traceback, traceback
