#!/usr/bin/env python3
"""What one Redis carries, and what a cluster adds: the figures of docs/SCALING.md.

    .venv/bin/python bench/scaling.py redis-time            # Redis's time per job, by phase and command
    .venv/bin/python bench/scaling.py drain                 # 1, 2, 3 worker processes: one Redis vs 3 shards
    .venv/bin/python bench/scaling.py all --json bench/scaling.json

Every server is private (redis-server on free ports, a cluster made with `redis-cli --cluster
create`), so nothing else loads them. Redis's CPU is `used_cpu_user + used_cpu_sys` from
`INFO cpu`, per node; the time inside commands is `INFO commandstats`. The rest of a request's
cost (reading, parsing, replying) is the difference. A worker's CPU is read from /proc/<pid>/stat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

REPO = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
QUEUES = [f"scaling-{i}" for i in range(6)]


# --------------------------------------------------------------------------- servers


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port() -> int:
    while True:
        port = random.randint(20000, 55535)
        if _free(port) and _free(port + 10000):
            return port


@contextlib.contextmanager
def servers(count: int, *, cluster: bool) -> Iterator[list[int]]:
    """`count` private redis-servers (as one cluster if `cluster`); their ports."""
    directory = Path(tempfile.mkdtemp(prefix="jobs-scaling-"))
    ports, processes = [], []
    try:
        for index in range(count):
            port = _port()
            options = ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"] if cluster else []
            command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            command += ["--dir", str(directory), "--logfile", str(directory / f"{index}.log"), *options]
            processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
            ports.append(port)
        for port in ports:
            _wait_for(port)
        if cluster:
            addresses = [f"127.0.0.1:{p}" for p in ports]
            subprocess.run(
                ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            _wait_for_cluster(ports)
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)
        shutil.rmtree(directory, ignore_errors=True)


def _wait_for(port: int) -> None:
    client = redis.Redis(port=port, socket_connect_timeout=1)
    deadline = time.monotonic() + 10
    while True:
        try:
            if client.ping():
                return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.02)


def _wait_for_cluster(ports: list[int]) -> None:
    deadline = time.monotonic() + 20
    while any(redis.Redis(port=p).execute_command("CLUSTER INFO").get("cluster_state") != "ok" for p in ports):
        if time.monotonic() > deadline:
            raise SystemExit("the cluster did not come up")
        time.sleep(0.05)


def redis_cpu(port: int) -> float:
    info = redis.Redis(port=port).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def command_stats(port: int) -> dict[str, tuple[int, int]]:
    """Command -> (calls, µs inside it) since the last CONFIG RESETSTAT."""
    stats = redis.Redis(port=port).info("commandstats")
    return {name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for name, v in stats.items()}


def reset_stats(ports: list[int]) -> None:
    for port in ports:
        redis.Redis(port=port).config_resetstat()


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


# --------------------------------------------------------------------------- workers


def worker_env(url: str, queues: list[str], concurrency: int) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": url,
        "JOBS_MODULES": "scaling_jobs",
        "SCALING_QUEUES": ",".join(queues),
        "JOBS_CONCURRENCY": str(concurrency),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": f"{REPO / 'bench'}{os.pathsep}{REPO}",
    }


def start_workers(
    url: str, count: int, queues: list[str], concurrency: int, *, burst: bool
) -> list[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "jobs", "worker", *(["--burst"] if burst else [])]
    return [
        subprocess.Popen(command, env=worker_env(url, queues, concurrency), stdout=subprocess.DEVNULL, cwd=REPO)
        for _ in range(count)
    ]


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.wait(30)


def use(url: str, queues: list[str]) -> dict[str, Any]:
    """Define the no-op jobs in this process too, against `url`."""
    os.environ["REDIS_URL"] = url
    os.environ["SCALING_QUEUES"] = ",".join(queues)
    for path in (str(REPO), str(REPO / "bench")):
        if path not in sys.path:
            sys.path.insert(0, path)
    from jobs.settings import get_settings

    get_settings.cache_clear()
    sys.modules.pop("scaling_jobs", None)
    from jobs import registry

    for queue in queues:
        with contextlib.suppress(Exception):
            registry.unregister(f"noop-{queue}")
    import scaling_jobs

    return dict(scaling_jobs.JOBS)


# --------------------------------------------------------------------------- Redis time per job


def per_job(stats: dict[str, tuple[int, int]], n: int) -> dict[str, dict[str, float]]:
    return {
        name: {"calls_per_job": calls / n, "us_per_job": usec / n}
        for name, (calls, usec) in sorted(stats.items(), key=lambda item: -item[1][1])
        if calls
    }


async def redis_time(n: int, concurrency: int) -> dict[str, Any]:
    """One Redis: N single triggers, the drain of them by one worker, then N by trigger_many."""
    with servers(1, cluster=False) as (port,):
        url = f"redis://127.0.0.1:{port}/0"
        (noop,) = use(url, QUEUES[:1]).values()
        from jobs import disconnect

        result: dict[str, Any] = {"n": n, "concurrency": concurrency, "retention": "latest 1000 kept"}
        result["one_request_floor"] = await request_floor(port, n)
        reset_stats([port])
        before = redis_cpu(port)
        for _ in range(n):
            await noop.trigger({})
        result["trigger"] = {
            "cpu_us_per_job": (redis_cpu(port) - before) / n * 1e6,
            "commands": per_job(command_stats(port), n),
        }

        reset_stats([port])
        before = redis_cpu(port)
        (worker,) = start_workers(url, 1, QUEUES[:1], concurrency, burst=True)
        worker.wait(600)
        result["claim_and_settle"] = {
            "cpu_us_per_job": (redis_cpu(port) - before) / n * 1e6,
            "commands": per_job(command_stats(port), n),
            "note": "a worker turn claims and settles in one script call; heartbeats and start-up included",
        }
        redis.Redis(port=port).flushall()
        reset_stats([port])
        before = redis_cpu(port)
        for _ in range(n // 100):
            await noop.trigger_many([{}] * 100)
        result["trigger_many_100"] = {
            "cpu_us_per_job": (redis_cpu(port) - before) / n * 1e6,
            "commands": per_job(command_stats(port), n),
        }
        await disconnect()
    single = result["trigger"]["cpu_us_per_job"] + result["claim_and_settle"]["cpu_us_per_job"]
    bulk = result["trigger_many_100"]["cpu_us_per_job"] + result["claim_and_settle"]["cpu_us_per_job"]
    result["ceiling_jobs_per_s_per_core"] = {"single_triggers": 1e6 / single, "trigger_many": 1e6 / bulk}
    return result


async def request_floor(port: int, n: int) -> dict[str, float]:
    """Redis's CPU for a request of its own that does next to nothing (PING) and one plain SET of a
    stored job's size, sent one after the other as single triggers are: the floor under any trigger."""
    from redis.asyncio import Redis

    client = Redis(port=port)
    floor: dict[str, float] = {}
    for name, request in (("ping_us", lambda i: client.ping()), ("set_us", lambda i: client.set(f"f{i}", "x" * 160))):
        before = redis_cpu(port)
        for i in range(n):
            await request(i)
        floor[name] = (redis_cpu(port) - before) / n * 1e6
    await client.flushall()
    await client.aclose()
    return floor


# --------------------------------------------------------------------------- drain, 1-3 workers


async def drain_once(ports: list[int], cluster: bool, workers: int, n: int, concurrency: int) -> dict[str, Any]:
    for port in ports:
        redis.Redis(port=port).flushall()
    url = (
        "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports) if cluster else f"redis://127.0.0.1:{ports[0]}/0"
    )
    jobs_by_queue = use(url, QUEUES)
    from jobs import admin, disconnect
    from jobs.store import connection

    per_queue = n // len(QUEUES)
    for made in jobs_by_queue.values():
        for start in range(0, per_queue, 500):
            await made.trigger_many([{}] * min(500, per_queue - start))
    total = per_queue * len(QUEUES)
    for queue in QUEUES:  # the workers start up paused: the time measured is the drain alone
        await admin.pause(queue)
    running = start_workers(url, workers, QUEUES, concurrency, burst=False)
    try:
        while len(await admin.workers()) < workers:  # noqa: ASYNC110 - other processes: nothing to wait on
            await asyncio.sleep(0.05)
        reset_stats(ports)
        cpu_before = {port: redis_cpu(port) for port in ports}
        worker_before = sum(process_cpu(w.pid) for w in running)
        began = time.perf_counter()
        for queue in QUEUES:
            await admin.resume(queue)
        conn = await connection.for_current_loop()  # a job leaves its queue once its outcome is stored
        while sum([await conn.redis.zcard(conn.keys.queue(q)) for q in QUEUES]):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        wall = time.perf_counter() - began
        cpu = {port: redis_cpu(port) - cpu_before[port] for port in ports}
        worker_cpu = sum(process_cpu(w.pid) for w in running) - worker_before
    finally:
        stop(running)
        await disconnect()
    busy = (sum(cpu.values()) + worker_cpu) / wall
    return {
        "topology": "3-shard cluster" if cluster else "one Redis",
        "workers": workers,
        "jobs": total,
        "jobs_per_s": total / wall,
        "redis_cpu_us_per_job": {str(p): c / total * 1e6 for p, c in cpu.items()},
        "redis_busiest_core_percent": max(cpu.values()) / wall * 100,
        "worker_cpu_us_per_job": worker_cpu / total * 1e6,
        "machine_cores_busy": busy,
    }


async def drain(n: int, worker_counts: list[int], concurrency: int) -> list[dict[str, Any]]:
    rows = []
    for cluster in (False, True):
        with servers(3 if cluster else 1, cluster=cluster) as ports:
            for workers in worker_counts:
                row = await drain_once(ports, cluster, workers, n, concurrency)
                print(json.dumps(row), file=sys.stderr)
                rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["redis-time", "drain", "all"])
    parser.add_argument("--n", type=int, default=0, help="jobs (default 5000 for redis-time, 30000 for drain)")
    parser.add_argument("--workers", default="1,2,3", help="worker process counts for drain")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    found: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "redis": redis.Redis(port=6379).info("server").get("redis_version") if _up(6379) else "?",
        "command": "bench/scaling.py " + " ".join(sys.argv[1:]),
    }
    if args.what in ("redis-time", "all"):
        found["redis_time"] = asyncio.run(redis_time(args.n or 5000, args.concurrency))
    if args.what in ("drain", "all"):
        counts = [int(c) for c in args.workers.split(",")]
        found["drain"] = asyncio.run(drain(args.n or 30000, counts, args.concurrency))
    text = json.dumps(found, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


def _up(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


if __name__ == "__main__":
    main()
