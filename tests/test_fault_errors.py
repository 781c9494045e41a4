"""Hostile exceptions and results from jobs, in a real worker process with JSON logs: records and
log lines stay bounded and parseable, odd results are stored, and the worker keeps running."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from jobs import JobRecord, JobStatus
from jobs.errorinfo import MAX_MESSAGE, MAX_TRACEBACK
from jobs.store import keys
from jobs.store.inspection import get_record

from .fault_support import ask, eventually, fault_env, fault_key, has_logged, report, triggering_into
from .processes import WorkerProcess, remote_job, worker_process
from .redis_server import RedisServer, redis_server

# What each hostile exception of `fault.explode` must be recorded as: (type, text the message contains).
EXCEPTIONS = {
    "huge-message": ("RuntimeError", "characters truncated"),
    "huge-binary-message": ("RuntimeError", "characters truncated"),
    "huge-traceback": ("RuntimeError", "link 1999"),
    "unprintable": ("tests.fault_jobs.UnprintableError", "<unprintable: RuntimeError>"),
    "str-not-a-string": ("tests.fault_jobs.NotAStringError", "<unprintable: TypeError>"),
    "unrepresentable-argument": ("ValueError", "<unprintable: RuntimeError>"),
    "log-injection": ("RuntimeError", '{"event":"job.completed"'),
    "unserializable-arguments": ("RuntimeError", "<object object at"),
}
# A JSON log line escapes a control character in at most 6 characters (\u0000).
LINE_BOUND = 6 * (MAX_MESSAGE + MAX_TRACEBACK) + 2_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as running:
        yield running


async def _records(ids: dict[str, str]) -> dict[str, JobRecord] | None:
    records = {kind: await get_record(job_id) for kind, job_id in ids.items()}
    return None if any(r is None for r in records.values()) else {k: r for k, r in records.items() if r}


def _lines_of(worker: WorkerProcess, job_id: str) -> list[str]:
    return [line for line in worker.stdout_lines if job_id in line]


async def _still_runs_jobs(worker: WorkerProcess, queue: str) -> None:
    handle = await remote_job("fault.echo", queue).trigger({"alive": True})
    assert await handle.result(timeout=10) == {"alive": True}
    assert worker.popen.poll() is None


async def test_hostile_exceptions_are_recorded_truncated_and_logged_on_bounded_json_lines(
    server: RedisServer, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each hostile exception fails its attempts cleanly; every log line is one bounded JSON object."""
    async with triggering_into(server, monkeypatch):
        with worker_process(fault_env(queue, server.admin_url)) as worker:
            explode = remote_job("fault.explode", queue)
            ids = {kind: (await explode.trigger({"kind": kind})).id for kind in EXCEPTIONS}
            records = await eventually(lambda: _records(ids), timeout=20, what="a record per hostile exception")
            await _still_runs_jobs(worker, queue)
        assert not worker.stderr_lines, worker.output
        events = worker.events()  # fails on any line that is not a JSON object: no line was split or injected

    longest = max(len(line) for line in worker.stdout_lines)
    report("hostile-exceptions", kinds=len(EXCEPTIONS), longest_log_line=longest, lost=0)
    for kind, (error_type, text) in EXCEPTIONS.items():
        record = records[kind]
        assert record.status is JobStatus.FAILED and record.attempts == 2, kind
        assert record.error is not None and record.error.type == error_type, (kind, record.error)
        assert text in record.error.message + record.error.traceback, (kind, record.error.message[:300])
        assert len(record.error.message) <= MAX_MESSAGE + 100 and len(record.error.traceback) <= MAX_TRACEBACK + 100
        lifecycle = [e["event"] for e in events if e.get("job_id") == ids[kind]]
        assert lifecycle == ["job.started", "job.retrying", "job.started", "job.failed"], (kind, lifecycle)
    assert longest <= LINE_BOUND
    huge = _lines_of(worker, ids["huge-message"])
    assert max(map(len, huge)) < MAX_MESSAGE + MAX_TRACEBACK + 2_000, "a 1 MB message makes a line of about 18 KB"
    assert all(len(line) < MAX_MESSAGE + 1_000 for line in huge if '"job.retrying"' in line), "no traceback on retry"


CONVERTED = {
    "set": [1, 2, 3],
    "huge-int": 10**100,
    "converted": {
        "when": "2025-01-07T10:42:00Z",
        "day": "2025-01-07",
        "id": "00000000-0000-0000-0000-000000000007",
        "price": "9.90",
        "color": "red",
        "path": "/tmp/report.csv",
        "pair": [1, 2],
        "receipt": {"paid_at": "2025-01-07T10:42:00Z", "Amount": "1.5"},
        "totals": {"count": 2, "tags": ["a"]},
        "7": "an int key",
    },
}
# What each unstorable result of `fault.odd_result` is refused for: text its UnstorableResult message holds.
REFUSED = {
    "object": "result: a value of type tests.fault_jobs.Opaque, which has no JSON form",
    "tuple-keys": "result: a key of type tuple",
    "exception": "result: a value of type KeyError",
    "lambda": "result: a value of type function",
    "utf8-bytes": "result: bytes, which JSON cannot hold",
    "non-utf8-bytes": "result: bytes, which JSON cannot hold",
    "nested-bytes": "result['files'][0]['data']: bytes",
    "nan": "result['ratio']: nan, which JSON cannot hold",
    "infinity": "result: inf, which JSON cannot hold",
    "lone-surrogate": "result['text']: text with a lone surrogate",
    "circular": "nesting deeper than 512 levels (or a circular reference)",
    "unrepresentable": "result: a value of type tests.fault_jobs._BadRepr",
    "too-large": "over the 4096 byte limit (JOBS_MAX_RESULT_BYTES)",
}


def _strict_json(raw: bytes) -> Any:
    """`raw` parsed as JSON proper: NaN, Infinity and text that is not UTF-8 raise."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} is not JSON: {raw[:200]!r}")

    return json.loads(raw.decode("utf-8"), parse_constant=refuse)


async def test_results_convert_by_documented_rules_and_the_rest_fails_at_once_as_unstorable(
    server: RedisServer, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Models, dates, UUIDs, sets... are stored as JSON; bytes, NaN, objects, a result over the limit
    fail their first attempt with UnstorableResult naming what and where, and are not retried."""
    async with triggering_into(server, monkeypatch) as redis:
        with worker_process(fault_env(queue, server.admin_url, JOBS_MAX_RESULT_BYTES="4096")) as worker:
            odd = remote_job("fault.odd_result", queue)
            ids = {kind: (await odd.trigger({"kind": kind})).id for kind in [*CONVERTED, *REFUSED]}
            records = await eventually(lambda: _records(ids), timeout=20, what="a record per result")
            await _still_runs_jobs(worker, queue)
            runs = await _runs(redis, queue, list(ids.values()))
            raw_records = [await redis.get(keys.record(job_id)) for job_id in ids.values()]
        assert not worker.stderr_lines, worker.output
        worker.events()  # every line is a JSON object

    report("odd-results", kinds=len(ids), converted=len(CONVERTED), refused=len(REFUSED))
    assert {kind: records[kind].result for kind in CONVERTED} == CONVERTED
    assert {records[kind].status for kind in CONVERTED} == {JobStatus.COMPLETED}
    for kind, text in REFUSED.items():
        record = records[kind]
        assert (record.status, record.attempts) == (JobStatus.FAILED, 1), kind  # fault.odd_result has 3 attempts
        assert record.error is not None and record.error.type == "UnstorableResult", (kind, record.error)
        assert text in record.error.message, (kind, record.error.message)
    assert runs == [1] * len(ids)
    assert all(raw is not None and _strict_json(raw) for raw in raw_records), "every record is JSON proper"


@pytest.mark.slow
async def test_a_result_that_cannot_even_be_shown_fails_its_job_once_and_is_never_run_again(
    server: RedisServer, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Results whose repr raises, circular ones, non-UTF-8 bytes: a failed record, one run, however
    many lock periods pass."""
    async with triggering_into(server, monkeypatch) as redis:
        env = fault_env(queue, server.admin_url, JOBS_LOCK_TIMEOUT="0.5")
        with worker_process(env) as worker:
            odd = remote_job("fault.odd_result", queue)
            ids = {kind: (await odd.trigger({"kind": kind})).id for kind in UNSHOWABLE}
            records = await eventually(lambda: _records(ids), timeout=10, what="a record per result")
            await _still_runs_jobs(worker, queue)  # well over a lock period later
            runs = await _runs(redis, queue, list(ids.values()))
    outcomes = {kind: (r.status, r.error and r.error.type) for kind, r in records.items()}
    assert outcomes == dict.fromkeys(UNSHOWABLE, (JobStatus.FAILED, "UnstorableResult"))
    assert runs == [1] * len(UNSHOWABLE)


UNSHOWABLE = ["non-utf8-bytes", "circular", "unrepresentable"]


@pytest.mark.slow
async def test_a_job_raising_cancelled_error_itself_is_a_failed_attempt_not_an_endless_loop(
    server: RedisServer, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the worker's own cancellation (shutdown) releases a job; the job's CancelledError counts as a failure."""
    async with triggering_into(server, monkeypatch) as redis:
        with worker_process(fault_env(queue, server.admin_url)) as worker:
            handle = await remote_job("fault.cancels_itself", queue).trigger({})
            try:
                record = await eventually(handle.record, timeout=3, what="the failure record")
            finally:
                runs = await _runs(redis, queue, [handle.id])
                released = has_logged(worker, "job.released")
    assert record.status is JobStatus.FAILED and record.attempts == 3
    assert record.error is not None and record.error.type == "asyncio.exceptions.CancelledError"
    assert (runs, released) == ([3], False)


@pytest.mark.slow
async def test_a_job_calling_sys_exit_fails_its_attempt_and_the_worker_keeps_running(
    server: RedisServer, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SystemExit from inside a job is the job's failure, not a request to stop the worker."""
    async with triggering_into(server, monkeypatch):
        with worker_process(fault_env(queue, server.admin_url)) as worker:
            handle = await remote_job("fault.explode", queue).trigger({"kind": "system-exit"})
            record = await eventually(handle.record, timeout=3, what="the failure record")
            await _still_runs_jobs(worker, queue)
    assert record.status is JobStatus.FAILED and record.error is not None and record.error.type == "SystemExit"


async def _runs(redis: Redis, queue: str, ids: list[str]) -> list[int]:
    return [int(n or 0) for n in await ask(redis.hmget(fault_key(queue, "runs"), ids))]
