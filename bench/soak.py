#!/usr/bin/env python3
"""Soak test: sustain load on one worker process for N minutes with retention on; report what drifts.

    .venv/bin/python bench/soak.py                  # 10 minutes, a private redis-server
    .venv/bin/python bench/soak.py --minutes 3 --json soak.json
    .venv/bin/python bench/soak.py --redis-url redis://127.0.0.1:6379/13

The worker is `python -m servers.jobs` (JSON logs at INFO, as in production, read and dropped
here except its own `worker.*` lines) running `soak.work`, a no-op job, at --concurrency. This
process keeps about --backlog jobs queued by `trigger_many`, and every --sample-every seconds
records jobs/s over the last window, Redis `used_memory` and key count, and the worker's VmRSS
(/proc/<pid>/status). At the end it stops triggering, lets the backlog drain, stops the worker
with SIGTERM and checks that every triggered job completed (the worker's own totals).

Retention is the default (JOBS_KEEP_COMPLETED=1000), so Redis should hold a flat number of
keys however long it runs. Without --redis-url a private redis-server (no persistence) on a
free port is used, so `used_memory` is this run's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
QUEUE = os.environ.get("SOAK_QUEUE") or f"soak-{os.getpid()}"  # the worker is given the driver's


async def work(payload: int) -> int:
    """The soak job: nothing but the library's own cost per job."""
    return payload


def _define() -> Any:
    from jobs import job

    return job(name="soak.work", run=work, queue=QUEUE)


soak_job = _define()  # the worker imports this module (JOBS_MODULES=bench.soak) for the definition


@dataclass
class Sample:
    elapsed_s: float
    completed: int
    jobs_per_s: float  # over the window since the previous sample
    queued: int
    redis_used_memory: int
    redis_keys: int
    worker_rss_kib: int


def worker_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def start_private_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server without persistence on a free port, once it accepts connections."""
    if shutil.which("redis-server") is None:
        raise SystemExit("soak: redis-server is not installed; pass --redis-url")
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([*command, "--dir", str(directory)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("soak: the private redis-server did not start") from None
            time.sleep(0.02)


def spawn_worker(env: dict[str, str], stderr_path: Path) -> subprocess.Popen[bytes]:
    """`python -m servers.jobs` from the repository, stdout piped, stderr to a file."""
    with open(stderr_path, "wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "servers.jobs"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=stderr
        )


class WorkerLines:
    """Reads the worker's stdout on a thread, keeping only its `worker.*` events (job lines are dropped)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.events: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            if b'"worker.' in line:
                self.events.append(json.loads(line))

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("event") == event]


async def soak(args: argparse.Namespace, redis_url: str, scratch: Path) -> dict[str, Any]:
    from redis.asyncio import Redis

    from jobs.store import keys

    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBS_")}
    env.update(
        REDIS_URL=redis_url,
        JOBS_MODULES="bench.soak",
        SOAK_QUEUE=QUEUE,
        JOBS_CONCURRENCY=str(args.concurrency),
        LOG_FORMAT="json",
        LOG_LEVEL=args.log_level,
        PYTHONUNBUFFERED="1",
    )
    os.environ["REDIS_URL"] = redis_url
    redis: Redis = Redis.from_url(redis_url)
    queue_key = keys.queue(QUEUE)
    failed_key = keys.finished(QUEUE, "failed")
    stderr_path = scratch / "worker.stderr"
    worker = spawn_worker(env, stderr_path)
    assert worker.stdout is not None
    lines = WorkerLines(worker.stdout)
    triggered = 0
    samples: list[Sample] = []
    try:
        deadline = time.monotonic() + 30
        while not lines.named("worker.ready"):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"soak: the worker did not start: {stderr_path.read_text()[-2000:]}")
            await asyncio.sleep(0.05)

        async def sample(began: float, previous: Sample | None) -> Sample:
            queued = await redis.zcard(queue_key)
            memory = await redis.info("memory")
            elapsed = time.monotonic() - began
            completed = triggered - queued - await redis.zcard(failed_key)
            rate = 0.0
            if previous is not None and elapsed > previous.elapsed_s:
                rate = (completed - previous.completed) / (elapsed - previous.elapsed_s)
            return Sample(
                elapsed_s=round(elapsed, 1),
                completed=completed,
                jobs_per_s=round(rate, 1),
                queued=queued,
                redis_used_memory=int(memory["used_memory"]),
                redis_keys=int(await redis.dbsize()),
                worker_rss_kib=worker_rss_kib(worker.pid),
            )

        began = time.monotonic()
        samples.append(await sample(began, None))
        print(_line(samples[-1]), flush=True)
        end = began + args.minutes * 60
        next_sample = began + args.sample_every
        while time.monotonic() < end:
            queued = await redis.zcard(queue_key)
            if queued < args.backlog:
                batch = min(args.backlog - queued, 1000)
                triggered += len(await soak_job.trigger_many(range(triggered, triggered + batch)))
            if time.monotonic() >= next_sample:
                samples.append(await sample(began, samples[-1]))
                print(_line(samples[-1]), flush=True)
                next_sample += args.sample_every
            if worker.poll() is not None:
                raise SystemExit(f"soak: the worker exited with {worker.returncode}: {stderr_path.read_text()[-2000:]}")
            await asyncio.sleep(0.05)
        loaded = time.monotonic() - began
        samples.append(await sample(began, samples[-1]))
        print(_line(samples[-1]), flush=True)

        drain_deadline = time.monotonic() + 120
        while time.monotonic() < drain_deadline:  # the backlog runs out, then the worker stops
            if not await redis.zcard(queue_key):
                break
            await asyncio.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        exit_code = worker.wait(60)
        lines.thread.join(10)
        totals = lines.named("worker.stopped")[-1] if lines.named("worker.stopped") else {}
        failed = await redis.zcard(failed_key)
        left = await redis.zcard(queue_key)
        worker_stderr = stderr_path.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
        await redis.aclose()

    warm = samples[1] if len(samples) > 2 else samples[0]
    rates = [s.jobs_per_s for s in samples[1:] if s.jobs_per_s > 0]
    return {
        "minutes": args.minutes,
        "concurrency": args.concurrency,
        "backlog": args.backlog,
        "log_level": args.log_level,
        "triggered": triggered,
        "completed_by_worker": totals.get("completed"),
        "failed": failed,
        "left_in_queue": left,
        "lost": triggered - int(totals.get("completed", 0)) - failed,
        "worker_exit_code": exit_code,
        "worker_stderr": worker_stderr[-2000:],
        "jobs_per_s_sustained": round(samples[-1].completed / loaded, 1),
        "jobs_per_s_lowest_window": min(rates, default=0.0),
        "start": asdict(samples[0]),
        "warm": asdict(warm),
        "end": asdict(samples[-1]),
        "samples": [asdict(s) for s in samples],
    }


def _line(s: Sample) -> str:
    return (
        f"{s.elapsed_s:7.1f}s  completed {s.completed:>9,}  {s.jobs_per_s:>8,.1f} jobs/s  queued {s.queued:>5}"
        f"  redis {s.redis_used_memory / 1048576:6.1f} MiB {s.redis_keys:>6} keys"
        f"  worker RSS {s.worker_rss_kib / 1024:6.1f} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to sustain the load (default 10)")
    parser.add_argument("--concurrency", type=int, default=8, help="the worker's JOBS_CONCURRENCY (default 8)")
    parser.add_argument("--backlog", type=int, default=2000, help="jobs kept queued ahead of the worker (default 2000)")
    parser.add_argument("--sample-every", type=float, default=30.0, help="seconds between samples (default 30)")
    parser.add_argument("--log-level", default="INFO", help="the worker's LOG_LEVEL (default INFO, as in production)")
    parser.add_argument("--redis-url", help="use this Redis instead of a private redis-server")
    parser.add_argument("--json", type=Path, help="also write the summary as JSON here")
    args = parser.parse_args()

    redis_process = None
    with tempfile.TemporaryDirectory(prefix="jobs-soak-") as directory:
        url = args.redis_url
        if url is None:
            redis_process, url = start_private_redis(Path(directory))
        try:
            summary = asyncio.run(soak(args, url, Path(directory)))
        finally:
            if redis_process is not None:
                redis_process.terminate()
                redis_process.wait(10)
    shown = {k: v for k, v in summary.items() if k != "samples"}
    print(json.dumps(shown, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    ok = summary["lost"] == 0 and summary["worker_exit_code"] == 0 and not summary["worker_stderr"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
