"""Starting the worker process: every way it can fail before running ends in one clear line on
stderr and a non-zero exit code, never a traceback, and never shows a password."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

from .processes import ARQ, ROOT, WORKER, Finished, closed_port, no_such_database, not_redis, process_env, run_to_exit

JOBS_CLI = [str(Path(sys.executable).with_name("jobs")), "stats"]


def _assert_one_clear_line(done: Finished, *, contains: str) -> None:
    assert "Traceback" not in done.output, done.output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and contains in lines[0], done.stderr


def test_unreachable_redis_exits_1_within_the_connect_timeout() -> None:
    """REDIS_URL pointing at a closed port: exit 1 after about JOBS_CONNECT_TIMEOUT, saying so in one line."""
    url = f"redis://127.0.0.1:{closed_port()}/0"
    done = run_to_exit(WORKER, process_env(REDIS_URL=url, JOBS_CONNECT_TIMEOUT="1"))
    assert done.returncode == 1, done.output
    assert done.seconds < 8, f"took {done.seconds:.1f}s with JOBS_CONNECT_TIMEOUT=1"
    _assert_one_clear_line(done, contains="cannot reach Redis")


@pytest.mark.parametrize("command", [WORKER, ARQ], ids=["worker", "arq"])
def test_the_connect_timeout_is_waited_in_full_and_the_exit_prints_one_line(command: list[str]) -> None:
    """JOBS_CONNECT_TIMEOUT=2 is waited in full (not cut at a backoff step), then one `error:` line is all."""
    url = f"redis://127.0.0.1:{closed_port()}/0"
    done = run_to_exit(command, process_env("process-jobs", REDIS_URL=url, JOBS_CONNECT_TIMEOUT="2"))
    assert done.returncode == 1, done.output
    assert 2 <= done.seconds < 8, f"gave up after {done.seconds:.1f}s with JOBS_CONNECT_TIMEOUT=2"
    (line,) = done.output.splitlines()
    assert line.startswith(f"error: cannot reach Redis at {url}: "), done.output


@pytest.mark.parametrize(
    "url",
    [
        "redis://user:s3cret@127.0.0.1:{port}/0",  # unreachable
        "redis://:s3cret@127.0.0.1:{port}/0",  # password only
        "http://user:s3cret@127.0.0.1:{port}/0",  # rejected by the settings
    ],
    ids=["unreachable", "password-only", "bad-scheme"],
)
def test_a_password_in_redis_url_never_appears_in_the_output(url: str) -> None:
    """Whether Redis is unreachable or the URL is rejected, stdout and stderr never contain the password."""
    done = run_to_exit(WORKER, process_env(REDIS_URL=url.format(port=closed_port()), JOBS_CONNECT_TIMEOUT="0"))
    assert done.returncode in (1, 2), done.output
    assert "s3cret" not in done.output, done.output
    assert "REDIS_URL" in done.stderr or "cannot reach Redis" in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REDIS_URL", "nope"),
        ("REDIS_URL", "redis://127.0.0.1:abc/0"),
        ("JOBS_CONCURRENCY", "0"),
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "LOUD"),
        ("JOBS_QUEUE_CONCURRENCY", "emails=zero"),
        ("JOBS_MODULES", "does.not.exist"),
    ],
)
def test_a_bad_setting_exits_2_naming_the_variable(variable: str, value: str) -> None:
    """A bad value (or a job module that does not import) is reported by its variable name, exit code 2."""
    done = run_to_exit(WORKER, process_env(**{variable: value}))
    assert done.returncode == 2, done.output
    _assert_one_clear_line(done, contains=variable)


def test_a_job_module_that_raises_on_import_names_jobs_modules_the_module_and_the_error() -> None:
    """A module that exists but raises on import: exit 2, naming JOBS_MODULES, the module and the error."""
    done = run_to_exit(WORKER, process_env(PROCESS_JOBS_BROKEN="1"))
    assert done.returncode == 2, done.output
    _assert_one_clear_line(done, contains="JOBS_MODULES")
    assert "tests.process_jobs" in done.stderr and "broken on purpose" in done.stderr


def test_an_import_error_of_a_job_module_gives_the_file_and_line_that_raised_it() -> None:
    """A KeyError raised inside os.py for a missing variable: the line shows the job module's file and line."""
    source = (ROOT / "tests" / "process_jobs.py").read_text().splitlines()
    line = next(n for n, text in enumerate(source, 1) if 'os.environ["PROCESS_JOBS_MISSING_SETTING"]' in text)
    for command in (WORKER, ARQ):
        done = run_to_exit(command, process_env(PROCESS_JOBS_NEEDS_SETTING="1"))
        assert done.returncode == 2, done.output
        _assert_one_clear_line(done, contains="JOBS_MODULES")
        assert done.stderr.strip() == (
            "error: JOBS_MODULES: cannot import 'tests.process_jobs': "
            f"KeyError: 'PROCESS_JOBS_MISSING_SETTING' (at tests/process_jobs.py:{line})"
        )


def test_no_jobs_defined_exits_2_pointing_at_jobs_modules() -> None:
    """With JOBS_MODULES empty there is nothing to run: say which setting to set rather than idle."""
    done = run_to_exit(WORKER, process_env(JOBS_MODULES=""))
    assert done.returncode == 2, done.output
    _assert_one_clear_line(done, contains="JOBS_MODULES")


def test_arqs_own_cli_reports_a_bad_setting_in_one_line() -> None:
    """`arq servers.jobs.WorkerSettings` with REDIS_URL=nope exits non-zero naming REDIS_URL, no traceback."""
    done = run_to_exit(ARQ, process_env(REDIS_URL="nope"))
    assert done.returncode != 0, done.output
    _assert_one_clear_line(done, contains="REDIS_URL")


def test_arqs_own_cli_on_a_queue_without_jobs_names_jobs_queue() -> None:
    """JOBS_QUEUE naming a queue no defined job runs on: exit 2 naming JOBS_QUEUE, not arq's traceback."""
    done = run_to_exit(ARQ, process_env(JOBS_QUEUE="no-such-queue"))
    assert done.returncode == 2, done.output
    _assert_one_clear_line(done, contains="JOBS_QUEUE='no-such-queue'")


def test_arqs_own_cli_with_redis_unreachable_exits_1_in_one_line() -> None:
    """arq would retry and end in a traceback; we wait JOBS_CONNECT_TIMEOUT and say why, password hidden."""
    url = f"redis://user:s3cret@127.0.0.1:{closed_port()}/0"
    done = run_to_exit(ARQ, process_env("process-jobs", REDIS_URL=url, JOBS_CONNECT_TIMEOUT="1"))
    assert done.returncode == 1, done.output
    _assert_one_clear_line(done, contains="cannot reach Redis")
    assert "s3cret" not in done.output


@pytest.mark.parametrize("command", [WORKER, ARQ, JOBS_CLI], ids=["worker", "arq", "jobs-cli"])
@pytest.mark.parametrize("kind", ["no-such-database", "not-redis"])
def test_a_redis_url_that_can_never_work_exits_2_naming_redis_url(command: list[str], kind: str) -> None:
    """A database the server does not have, or a server that is not Redis: exit 2 at once, one line."""
    with contextlib.ExitStack() as stack:
        url = no_such_database() if kind == "no-such-database" else stack.enter_context(not_redis())
        done = run_to_exit(command, process_env("process-jobs", REDIS_URL=url, JOBS_CONNECT_TIMEOUT="10"))
    assert done.returncode == 2, done.output
    assert done.seconds < 8, f"waited {done.seconds:.1f}s for a URL that can never work"
    why = "the server has no database 99" if kind == "no-such-database" else "the server there is not Redis"
    _assert_one_clear_line(done, contains=f"error: REDIS_URL={url}: {why}")


@pytest.mark.parametrize(
    ("command", "overrides", "names"),
    [
        ([*WORKER, "--queue", "process-jobs", "--queue", "emailz"], {}, "--queue 'emailz'"),
        (WORKER, {"JOBS_QUEUE_CONCURRENCY": "process-jobs=2,emailz=4"}, "JOBS_QUEUE_CONCURRENCY"),
        (ARQ, {"JOBS_QUEUE_CONCURRENCY": "emailz=4"}, "JOBS_QUEUE_CONCURRENCY"),
    ],
    ids=["worker-queue", "worker-concurrency", "arq-concurrency"],
)
def test_a_queue_name_no_defined_job_uses_exits_2_listing_the_known_queues(
    command: list[str], overrides: dict[str, str], names: str
) -> None:
    """A typo in --queue or JOBS_QUEUE_CONCURRENCY is refused, naming it and the queues the jobs use."""
    done = run_to_exit(command, process_env("process-jobs", **overrides))
    assert done.returncode == 2, done.output
    _assert_one_clear_line(done, contains=names)
    assert "'emailz'" in done.stderr and "(queues of the defined jobs: process-jobs)" in done.stderr
