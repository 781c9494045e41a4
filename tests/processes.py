"""Run the worker as users do, as a subprocess, and read its JSON log lines with deadlines.

`WorkerProcess` collects stdout and stderr on reader threads, so an async test can wait for an
event (`await worker.wait_for("job.started")`) without blocking its event loop.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import TypeAdapter

from jobs import Backoff, Job, JobConfig
from jobs.declare import DEFAULT_TIMEOUT

from .conftest import REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(Path(sys.executable))
WORKER = [PYTHON, "-m", "servers.jobs"]
ARQ = [str(Path(sys.executable).with_name("arq")), "servers.jobs.WorkerSettings"]
JOBS_MODULE = "tests.process_jobs"
FAIL_ATTEMPTS = 3  # of the job `process.fail` in tests/process_jobs.py, retried FAIL_DELAY_MS apart
FAIL_DELAY_MS = 100
_OURS = ("REDIS_URL", "DATABASE_URL", "LOG_FORMAT", "LOG_LEVEL")


def process_env(queue: str | None = None, **overrides: str) -> dict[str, str]:
    """The environment of a worker subprocess: this test's Redis and queue, JSON logs, no stray JOBS_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBS_", "PROCESS_JOBS_")) and k not in _OURS}
    env.update(REDIS_URL=REDIS_URL, JOBS_MODULES=JOBS_MODULE, LOG_FORMAT="json", PYTHONUNBUFFERED="1")
    env.update(PROCESS_JOBS_FAIL_ATTEMPTS=str(FAIL_ATTEMPTS), PROCESS_JOBS_FAIL_DELAY_MS=str(FAIL_DELAY_MS))
    if queue is not None:
        env.update(PROCESS_JOBS_QUEUE=queue, JOBS_QUEUE=queue)
    env.update(overrides)
    return env


def remote_job(name: str, queue: str) -> Job[Any]:
    """A trigger-side stand-in for a job of `tests.process_jobs`: same name and queue, not registered.

    The worker subprocess validates the payload with the real definition.
    """

    async def elsewhere(payload: Any) -> None:
        raise AssertionError("runs in the worker subprocess only")

    config = JobConfig(name, queue, elsewhere, attempts=1, backoff=Backoff.fixed(delay_ms=0), timeout=DEFAULT_TIMEOUT)
    return Job(config=config, payload_type=Any, adapter=TypeAdapter(Any))


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def not_redis() -> Iterator[str]:
    """A `redis://` URL of a local HTTP server: a REDIS_URL pointing at something that is not Redis."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{server.server_address[1]}/0"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def no_such_database() -> str:
    """The suite's Redis, at a database index it does not have (16 unless configured otherwise)."""
    return urlunsplit(urlsplit(REDIS_URL)._replace(path="/99"))


def closed_port() -> int:
    """A local TCP port nothing listens on (just released by the OS)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def parse_json_lines(text: str) -> list[dict[str, Any]]:
    """Every line as a JSON object; fails naming the first line that is not one."""
    events = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
        assert isinstance(value, dict), f"not a JSON object: {line!r}"
        events.append(value)
    return events


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_to_exit(command: Sequence[str], env: Mapping[str, str], timeout: float = 20, cwd: Path = ROOT) -> Finished:
    """Run `command` in `cwd` (default: the project directory) until it exits (a test failure after `timeout`)."""
    started = time.monotonic()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return Finished(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


@dataclass
class WorkerProcess:
    """A running worker subprocess and everything it has printed so far."""

    popen: subprocess.Popen[str]
    stdout_lines: list[str] = field(default_factory=list)
    stderr_lines: list[str] = field(default_factory=list)
    _readers: list[threading.Thread] = field(default_factory=list)

    def _read(self, stream: IO[str], into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.stdout_lines + self.stderr_lines)

    def events(self) -> list[dict[str, Any]]:
        """The stdout lines so far, each a JSON object (fails on any other line)."""
        return parse_json_lines("\n".join(self.stdout_lines))

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e.get("event") == event]

    async def wait_for(self, event: str, *, timeout: float = 10, **fields: Any) -> dict[str, Any]:
        """The first logged `event` whose fields include `fields`; fails if it is not logged in time."""
        deadline = time.monotonic() + timeout
        while True:
            for entry in self.events():
                if entry.get("event") == event and all(entry.get(k) == v for k, v in fields.items()):
                    return entry
            exited = self.popen.poll() is not None
            if exited or time.monotonic() > deadline:
                self._join(1)
                why = f"exited with {self.popen.returncode}" if exited else f"not logged within {timeout}s"
                raise AssertionError(f"{event} {fields or ''}: {why}; output:\n{self.output}")
            await asyncio.sleep(0.01)

    def send(self, sig: signal.Signals) -> None:
        self.popen.send_signal(sig)

    async def exit_code(self, *, timeout: float) -> int:
        """Wait for the process to exit and its output to be read; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.popen.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running after {timeout}s; output:\n{self.output}")
            await asyncio.sleep(0.01)
        self._join(5)
        return self.popen.returncode

    def _join(self, timeout: float) -> None:
        for reader in self._readers:
            reader.join(timeout)


@contextmanager
def worker_process(env: Mapping[str, str], command: Sequence[str] = WORKER) -> Iterator[WorkerProcess]:
    """Start `command` (default `python -m servers.jobs`); killed on the way out if still running."""
    popen = subprocess.Popen(
        list(command), cwd=ROOT, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    worker = WorkerProcess(popen)
    assert popen.stdout is not None and popen.stderr is not None
    for stream, into in ((popen.stdout, worker.stdout_lines), (popen.stderr, worker.stderr_lines)):
        reader = threading.Thread(target=worker._read, args=(stream, into), daemon=True)
        reader.start()
        worker._readers.append(reader)
    try:
        yield worker
    finally:
        if popen.poll() is None:
            popen.kill()
        popen.wait(10)
        worker._join(5)
        popen.stdout.close()
        popen.stderr.close()
