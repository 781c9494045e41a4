#!/usr/bin/env python3
"""An idle worker with 1000 schedules stays near idle: its CPU over a minute, and Redis's.

    .venv/bin/python bench/schedules_idle.py                 # 1000 schedules, 60 s, a private redis-server
    .venv/bin/python bench/schedules_idle.py --schedules 0   # the same worker with none, to compare
    .venv/bin/python bench/schedules_idle.py --json bench/schedules-idle.json

The worker is `python -m servers.jobs` on one queue with one job, whose schedules (made at run
time, as an app does for its accounts) are daily crons in five time zones and hourly intervals:
none falls due in the minute, so what is measured is the cost of polling them. The worker's CPU
is read from /proc/<pid>/stat (user + system), Redis's from `INFO cpu` and `INFO commandstats`.
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
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
QUEUE = os.environ.get("IDLE_QUEUE") or f"idle-{os.getpid()}"
TICKS = os.sysconf("SC_CLK_TCK")


async def report(payload: dict[str, str]) -> None:
    """The scheduled job (never due during the measurement)."""


def _define() -> Any:
    from jobs import job

    return job(name="idle.report", run=report, queue=QUEUE)


if os.environ.get("IDLE_QUEUE"):  # imported by the worker as its JOBS_MODULES
    idle_report = _define()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def measure(url: str, schedules: int, seconds: float) -> dict[str, Any]:
    from redis.asyncio import Redis

    from jobs import Cron, Every, disconnect

    os.environ["REDIS_URL"] = url
    job = _define()
    zones = ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
    for n in range(schedules):
        spec = Cron(f"{n % 60} {(n // 60) % 24} * * *", tz=zones[n % 5]) if n % 2 else Every(hours=1)
        await job.schedule(f"account-{n}", spec, payload={"account": str(n)})
    await disconnect()
    redis: Redis = Redis.from_url(url)
    env = {
        **os.environ,
        "REDIS_URL": url,
        "IDLE_QUEUE": QUEUE,
        "JOBS_MODULES": "schedules_idle",
        "LOG_LEVEL": "WARNING",
    }
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "bench"), str(REPO)])
    worker = await asyncio.create_subprocess_exec(sys.executable, "-m", "servers.jobs", cwd=REPO, env=env)
    try:
        await asyncio.sleep(5)  # start-up (imports, connecting, the first polls) is not what is measured
        await redis.config_resetstat()
        cpu0, redis0, wall0 = cpu_seconds(worker.pid), await _redis_cpu(redis), time.monotonic()
        await asyncio.sleep(seconds)  # the measurement: an idle worker, doing whatever it does for a minute
        cpu1, redis1, wall1 = cpu_seconds(worker.pid), await _redis_cpu(redis), time.monotonic()
        stats = await redis.info("commandstats")
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), 30)
        await redis.aclose()
    wall = wall1 - wall0
    calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
    return {
        "schedules": schedules,
        "seconds": round(wall, 1),
        "worker_cpu_percent": round((cpu1 - cpu0) / wall * 100, 2),
        "redis_cpu_percent": round((redis1 - redis0) / wall * 100, 2),
        "redis_calls_per_s": round(sum(c for n, c in calls.items() if n != "info") / wall, 1),
        "evalsha_per_s": round(calls.get("evalsha", 0) / wall, 1),
    }


async def _redis_cpu(redis: Any) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is required")
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", data_dir],
            stdout=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            results = [
                asyncio.run(measure(f"redis://127.0.0.1:{port}/0", n, args.seconds)) for n in (0, args.schedules)
            ]
        finally:
            server.terminate()
            server.wait(10)
    for result in results:
        print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
