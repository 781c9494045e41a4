"""The `jobs` console script end to end: real subprocesses against Redis, jobs from tests/cli_jobs.py."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import signal
import socket
import sys
from pathlib import Path

from redis.asyncio import Redis

from jobs import JobStatus, admin
from jobs.clock import now_ms
from jobs.store import keys, scripts
from jobs.store.inspection import get_record

from .cli_jobs import flag_key
from .cli_runner import Cli, Result
from .conftest import REDIS_URL
from .helpers import wait_until
from .redis_server import redis_server

ROOT = Path(__file__).resolve().parent.parent
JOBS = Path(sys.executable).parent / "jobs"


async def test_stats_show_the_retention_limit_after_a_burst_worker(cli: Cli, queue: str, redis: Redis) -> None:
    """With JOBS_KEEP_COMPLETED=5, seven completed jobs leave exactly the latest five retained."""
    triggered = await cli("trigger", "cli-double", '{"n": 0}', "--json")
    assert triggered.code == 0, triggered.err
    data = triggered.json()
    assert isinstance(data, dict) and (data["job"], data["queue"], data["enqueued"]) == ("cli-double", queue, True)
    await _enqueue(redis, queue, "cli-double", [{"n": n} for n in range(1, 7)])

    worker = await cli("worker", "--burst", "--queue", queue, env={"JOBS_KEEP_COMPLETED": "5"})

    assert worker.code == 0, worker.err
    stats, text, completed = await asyncio.gather(
        cli("stats", "--queue", queue, "--json"),
        cli("stats", "--queue", queue),
        cli("completed", "--queue", queue, "--json"),
    )
    assert stats.json() == [
        {
            "queue": queue,
            "queued": 0,
            "scheduled": 0,
            "running": 0,
            "completed": 5,
            "failed": 0,
            "paused": False,
            "cancelled": 0,
        }
    ]
    header, row = text.out.splitlines()
    assert header.split() == ["QUEUE", "STATE", "QUEUED", "SCHEDULED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"]
    assert row.split() == [queue, "active", "0", "0", "0", "5", "0", "0"]
    records = completed.json()
    assert isinstance(records, list)
    assert sorted(r["result"] for r in records) == [4, 6, 8, 10, 12]


async def test_a_failed_job_is_shown_with_its_error_and_retried_to_success(cli: Cli, queue: str, redis: Redis) -> None:
    """`failed` and `show` print the error and traceback; `retry` runs it again with fresh attempts."""
    job_id = f"flaky-{queue}"
    assert (await cli("trigger", "cli-flaky", '{"n": 3}', "--job-id", job_id)).code == 0
    assert (await cli("worker", "--burst", "--queue", queue)).code == 0

    failed, shown = await asyncio.gather(cli("failed", "--queue", queue), cli("show", job_id))

    row = failed.out.splitlines()[1].split()
    assert row[:4] == [job_id, "cli-flaky", queue, "1"]
    assert "UnrecoverableError: flag not set for 3" in failed.out
    assert "status:   failed" in shown.out and "Traceback (most recent call last)" in shown.out
    assert 'raise UnrecoverableError(f"flag not set for {payload.n}")' in shown.out
    await redis.set(flag_key(queue), "1", ex=60)
    try:
        retried = await cli("retry", job_id)
        assert retried.code == 0 and f"retried job {job_id}" in retried.out
        assert "job.retried_manually" in retried.err
        assert (await cli("worker", "--burst", "--queue", queue)).code == 0
    finally:
        await redis.delete(flag_key(queue))
    record = await get_record(job_id)
    assert record is not None and record.status is JobStatus.COMPLETED
    assert (record.result, record.attempts) == ("recovered", 1)


async def test_a_paused_queue_keeps_its_job_through_a_burst_run_until_resumed(
    cli: Cli, queue: str, redis: Redis
) -> None:
    """A paused queue still takes jobs; its workers take none until `resume`."""
    assert (await cli("pause", queue)).code == 0
    try:
        (job_id,) = await _enqueue(redis, queue, "cli-double", [{"n": 4}])
        assert (await cli("worker", "--burst", "--queue", queue)).code == 0
        info = await admin.get_job(job_id)
        assert info is not None and info.status is JobStatus.QUEUED
        stats = await cli("stats", "--queue", queue)
        assert stats.out.splitlines()[1].split()[:3] == [queue, "paused", "1"]
    finally:
        resumed = await cli("resume", queue, "--json")
    assert resumed.json() == {"queue": queue, "paused": False, "changed": True}
    assert (await cli("worker", "--burst", "--queue", queue)).code == 0
    record = await get_record(job_id)
    assert record is not None and record.result == 8


async def test_bad_input_exits_2_with_one_clear_message_and_enqueues_nothing(
    cli: Cli, queue: str, redis: Redis
) -> None:
    """Unknown job, bad JSON, invalid payload, bad delay, bad setting: exit 2, no traceback."""
    unknown, bad_json, invalid, bad_delay, bad_url, as_json = await asyncio.gather(
        cli("trigger", "nope", "{}"),
        cli("trigger", "cli-double", "{bad"),
        cli("trigger", "cli-double", '{"n": "x"}'),
        cli("trigger", "cli-double", '{"n": 1}', "--delay", "5x"),
        cli("stats", env={"REDIS_URL": "nope"}),
        cli("trigger", "cli-double", "[1]", "--json"),
    )

    for result in (unknown, bad_json, invalid, bad_delay, bad_url, as_json):
        assert result.code == 2 and "Traceback" not in result.err, result
    assert unknown.err == "error: no job named 'nope' (known jobs: cli-double, cli-flaky)\n"
    assert bad_json.err.startswith("error: PAYLOAD is not valid JSON:") and bad_json.out == ""
    assert invalid.err.splitlines() == [
        "error: invalid payload for job cli-double: 1 validation error",
        '  n: Input should be a valid integer, unable to parse string as an integer (input: "x")',
    ]
    assert bad_delay.err.startswith("error: --delay: expected a duration such as 30s")
    assert len(bad_url.err.splitlines()) == 1 and bad_url.err.startswith("error: invalid setting REDIS_URL='nope'")
    error = as_json.json()
    assert isinstance(error, dict) and error["exit_code"] == 2 and "validation error" in error["error"]
    assert await redis.exists(keys.queue(queue)) == 0


async def test_unknown_ids_and_unreachable_redis_exit_1(cli: Cli) -> None:
    """Show, retry and remove of an unknown id, and a Redis nobody listens on, end in one line and exit 1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    results = await asyncio.gather(
        cli("show", "no-such-id"),
        cli("retry", "no-such-id"),
        cli("remove", "no-such-id", "--json"),
        cli("stats", env={"REDIS_URL": f"redis://127.0.0.1:{closed_port}/0"}),
    )

    assert [r.code for r in results] == [1, 1, 1, 1]
    assert all(len(r.err.splitlines()) == 1 for r in results), results
    assert results[0].err == "error: no job with id 'no-such-id' (never existed, or no longer retained)\n"
    assert results[2].json() == {
        "error": "no job with id 'no-such-id' (never existed, or no longer retained)",
        "exit_code": 1,
    }
    assert results[3].err.startswith(f"error: cannot reach Redis at redis://127.0.0.1:{closed_port}/0")


async def test_list_shows_the_defined_jobs_also_through_python_m_jobs(cli: Cli, queue: str) -> None:
    """`jobs list` prints a table of the registered jobs; `python -m jobs` is the same command."""
    table, listed = await asyncio.gather(cli("list"), cli("list", "--json", command=(sys.executable, "-m", "jobs")))

    assert table.out.splitlines()[0].split() == ["NAME", "QUEUE", "ATTEMPTS", "BACKOFF", "TIMEOUT", "PAYLOAD"]
    assert table.out.splitlines()[1].split() == ["cli-double", queue, "3", "fixed", "10ms", "5s", "Number"]
    jobs = listed.json()
    assert isinstance(jobs, list) and [j["name"] for j in jobs] == ["cli-double", "cli-flaky"]
    assert jobs[1] == {**jobs[1], "queue": queue, "attempts": 1, "timeout_ms": 300_000}


async def _enqueue(redis: Redis, queue: str, name: str, payloads: list[dict[str, int]]) -> list[str]:
    """Enqueue stored jobs the way a trigger does, without defining the jobs in this process."""
    now = now_ms()
    ids = [f"{queue}-{i}" for i in range(len(payloads))]
    args: list[str | int] = [keys.wake_channel(queue), now, queue, 1, 0]  # ids chosen here, priority 0
    for job_id, payload in zip(ids, payloads, strict=True):
        stored: dict[str, object] = {"t": None, "q": queue, "f": name, "a": [payload], "k": {}, "et": now}
        args += [job_id, json.dumps(stored), now]
    script_keys = [keys.queue(queue), keys.PAUSED_KEY, keys.idle_workers(queue)]
    script_keys += [keys.DEFAULT.limited(queue), keys.DEFAULT.priority(queue)]
    await redis.register_script(scripts.ENQUEUE.text)(keys=script_keys, args=args)
    return ids


async def test_log_events_under_log_format_json_are_json_lines_on_stderr(cli: Cli, queue: str, redis: Redis) -> None:
    """`LOG_FORMAT=json`: pause, resume and remove log one JSON object per line on stderr, not a bytes repr."""
    (job_id,) = await _enqueue(redis, queue, "cli-double", [{"n": 1}])
    env = {"LOG_FORMAT": "json"}
    results = [await cli(*args, env=env) for args in (("pause", queue), ("resume", queue), ("remove", job_id))]

    assert [r.code for r in results] == [0, 0, 0], results
    events = [json.loads(r.err) for r in results]
    assert [e["event"] for e in events] == ["queue.paused", "queue.resumed", "job.removed"]
    assert events[0]["queue"] == queue and events[2]["job_id"] == job_id
    assert results[0].out.startswith(f"paused queue {queue}")


async def test_list_json_has_the_payload_type_the_table_shows(cli: Cli) -> None:
    """`jobs list --json` carries each job's payload type, as the PAYLOAD column does."""
    listed = (await cli("list", "--json")).json()
    assert isinstance(listed, list) and [j["payload"] for j in listed] == ["Number", "Number"]


async def test_a_usage_error_under_json_is_an_error_document(cli: Cli) -> None:
    """argparse's errors (a missing id) honour --json: one JSON document on stdout, exit 2; text keeps argparse's."""
    as_json, as_text = await asyncio.gather(cli("show", "--json"), cli("show"))

    expected = "jobs show: the following arguments are required: id"
    assert (as_json.code, as_json.json()) == (2, {"error": expected, "exit_code": 2})
    assert as_text.code == 2 and as_text.out == ""
    assert as_text.err.splitlines() == [
        "usage: jobs show [-h] [--json] id",
        "jobs show: error: the following arguments are required: id",
    ]


async def test_a_job_id_that_is_not_utf8_is_bad_input_not_a_traceback(cli: Cli) -> None:
    """`jobs show $'\\xff'` (also remove, retry, trigger --job-id): exit 2 naming the bytes, with --json a document."""
    not_utf8 = os.fsdecode(b"\xff")  # what Python makes of the byte 0xff on the command line
    results = await asyncio.gather(
        cli("show", not_utf8, "--json"),
        cli("remove", not_utf8),
        cli("retry", not_utf8),
        cli("trigger", "cli-double", '{"n": 1}', "--job-id", not_utf8, "--json"),
    )
    for result in results:
        assert result.code == 2 and "Traceback" not in result.err, result
        assert "not valid UTF-8 text: b'\\xff'" in result.err.splitlines()[-1], result
    assert results[0].json() == {"error": "jobs show: argument id: not valid UTF-8 text: b'\\xff'", "exit_code": 2}
    assert isinstance(results[3].json(), dict)


async def test_an_empty_job_id_is_bad_input(cli: Cli, redis: Redis, queue: str) -> None:
    """`--job-id ""` would lose the deduplication asked for: exit 2, nothing enqueued."""
    result = await cli("trigger", "cli-double", '{"n": 1}', "--job-id", "")
    assert (result.code, result.err) == (2, "error: job_id must be a non-empty string (or None, for a new unique id)\n")
    assert await redis.exists(keys.queue(queue)) == 0


async def test_output_into_a_closed_pipe_ends_quietly(queue: str, tmp_path: Path) -> None:
    """`jobs completed --json | head`: the reader left; no BrokenPipeError traceback, the command exits 0."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written
    env = {**os.environ, "REDIS_URL": REDIS_URL, "JOBS_MODULES": "tests.cli_jobs", "PYTHONPATH": str(ROOT)}
    try:
        process = await asyncio.create_subprocess_exec(
            str(JOBS),
            "completed",
            "--json",
            env={**env, "CLI_TEST_QUEUE": queue},
            cwd=tmp_path,
            stdout=write,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        os.close(write)
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert (process.returncode, err.decode()) == (0, "")


async def test_version_prints_the_installed_version(cli: Cli) -> None:
    """`jobs --version` names the distribution's version."""
    result = await cli("--version")
    assert (result.code, result.out) == (0, f"jobs {importlib.metadata.version('jobs')}\n")


async def test_show_says_a_running_jobs_start_is_not_reported_without_a_heartbeat(
    cli: Cli, redis: Redis, queue: str
) -> None:
    """A job locked by a worker that sends no heartbeat (arq's own): `show` says its start is unknown, not omits it."""
    (job_id,) = await _enqueue(redis, queue, "cli-double", [{"n": 1}])
    await redis.set(keys.lock(job_id), "a-worker-token", px=30_000)  # as a worker's claim locks it
    await redis.set(keys.tries(job_id), 1)

    shown, as_json = await asyncio.gather(cli("show", job_id), cli("show", job_id, "--json"))

    assert "status:   running" in shown.out
    assert "started:  not reported: no live worker's heartbeat lists it" in shown.out
    info = as_json.json()
    assert isinstance(info, dict) and (info["status"], info["started_ms"], info["attempts"]) == ("running", None, 1)


async def test_retry_all_failed_without_a_queue_retries_the_failures_of_every_queue(
    cli: Cli, queue: str, tmp_path: Path
) -> None:
    """`retry --all-failed` with no --queue spans every queue (on a Redis of its own: only this test's queues)."""
    other = f"{queue}-other"
    with redis_server(tmp_path / "redis") as server:
        env = {"REDIS_URL": server.admin_url, "CLI_TEST_OTHER_QUEUE": other}
        first = await cli("trigger", "cli-flaky", '{"n": 1}', "--job-id", "one", env=env)
        second = await cli("trigger", "cli-flaky-other", '{"n": 2}', "--job-id", "two", env=env)
        assert (first.code, second.code) == (0, 0), (first, second)
        assert (await cli("worker", "--burst", env=env)).code == 0
        client: Redis = Redis.from_url(server.admin_url)
        try:
            assert await client.zcard(keys.finished(queue, "failed")) == 1
            assert await client.zcard(keys.finished(other, "failed")) == 1
            await client.set(flag_key(queue), "1")
            await client.set(flag_key(other), "1")

            retried = await cli("retry", "--all-failed", "--json", env=env)
            assert retried.code == 0, retried
            assert retried.json() == {"retried": ["one", "two"], "skipped": {}}
            assert (await cli("worker", "--burst", env=env)).code == 0
            assert await client.zcard(keys.finished(queue, "completed")) == 1
            assert await client.zcard(keys.finished(other, "completed")) == 1
        finally:
            await client.aclose()


async def test_workers_lists_the_live_workers_and_show_gives_a_running_jobs_start(
    cli: Cli, queue: str, redis: Redis
) -> None:
    """`jobs workers` (text, --json) lists a running worker; `jobs show` gives its job's start (from the heartbeat)."""
    flag, wait = flag_key(queue), {"CLI_TEST_WAIT_JOB": "1"}
    worker = await asyncio.create_subprocess_exec(
        str(JOBS),
        "worker",
        env={**os.environ, "REDIS_URL": REDIS_URL, "JOBS_MODULES": "tests.cli_jobs", "CLI_TEST_QUEUE": queue, **wait},
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        triggered = await cli("trigger", "cli-wait", '{"n": 1}', "--json", env=wait)
        job_id = triggered.json()["id"]  # type: ignore[index]

        async def running_here() -> Result | None:
            shown = await cli("show", job_id, env=wait)
            return shown if "worker:" in shown.out else None

        shown = await wait_until(running_here, timeout=15, what="the job running, with its start")
        listed, as_json = await asyncio.gather(cli("workers"), cli("workers", "--json"))
    finally:
        await redis.set(flag, "1")
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), 20)
        await redis.delete(flag)
    assert "status:   running" in shown.out and "started:  20" in shown.out
    mine = [w for w in as_json.json() if w["pid"] == worker.pid]  # type: ignore[union-attr]
    assert len(mine) == 1 and mine[0]["queues"] == [queue] and mine[0]["running"][0]["id"] == job_id
    assert listed.out.startswith("ID ") and f":{worker.pid}:" in listed.out


async def test_dashboard_without_its_extra_says_how_to_install_it(cli: Cli) -> None:
    """Without uvicorn (or starlette, jinja2, ...) installed: one line naming the extra, exit 2."""
    blocked = "import sys; sys.modules['uvicorn'] = None; from jobs.cli.main import main; sys.exit(main(sys.argv[1:]))"

    result = await cli("dashboard", "--port", "0", command=(sys.executable, "-c", blocked))

    assert (result.code, result.out) == (2, "")
    assert result.err == "error: the dashboard needs uvicorn: pip install 'jobs[dashboard]'\n"
