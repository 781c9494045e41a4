"""Shared scenario driver for peer scripts.

A peer script subclasses :class:`Peer` (how to enqueue one no-op job, optionally
many at once, and how to run a worker), defines its no-op job so that the job
body calls :func:`job_started`, and ends with ``run_cli(MyPeer)``.  Everything
else (CLI, worker subprocess, timing, cleanup, JSON output) lives here, so every
peer is measured the same way.  See ``bench/README.md`` for the CLI/JSON contract.

Cross-process timing: the worker runs in a subprocess of the scenario script.
Inside the job body :func:`job_started` takes ``time.time()`` and writes short
lines to an inherited pipe (``BENCH_SIGNAL_FD``); the scenario process reads
them.  Nothing extra is written to Redis by the jobs themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import importlib.metadata
import json
import os
import platform
import random
import signal
import sys
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from _resp import flush_bench_db, redis_cpu_seconds

SCHEMA_VERSION = 1
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"  # db 15 is the test suite's
SIGNAL_FD_ENV = "BENCH_SIGNAL_FD"
SCRIPT = os.path.abspath(sys.argv[0])  # the peer script, re-run as the worker subprocess
SCENARIOS = ("drain", "latency", "enqueue")


# --------------------------------------------------------------------------- worker-side probe


@dataclass
class _Probe:
    """Per-worker-process job counter; reports to the scenario process over a pipe."""

    mode: str = "off"  # "drain" | "latency" | "off"
    expect: int = 0
    fd: int = -1
    count: int = 0
    first: float = 0.0

    def hit(self) -> None:
        now = time.time()
        self.count += 1
        if self.count == 1:
            self.first = now
        if self.mode == "latency":
            os.write(self.fd, f"S {now!r}\n".encode())
        elif self.mode == "drain":
            if self.count == self.expect:
                os.write(self.fd, f"D {self.count} {self.first!r} {now!r}\n".encode())
            elif self.count % max(1, self.expect // 100) == 0:  # progress, for capped drains
                os.write(self.fd, f"P {self.count} {self.first!r} {now!r}\n".encode())


_PROBE = _Probe()


def job_started() -> None:
    """Call first thing in the peer's no-op job body (cheap: one counter bump)."""
    _PROBE.hit()


# --------------------------------------------------------------------------- the peer interface


class Peer(ABC):
    """One library under test.  Producer methods run in the scenario process,
    :meth:`run_worker` in the worker subprocess."""

    #: Row key in the results table (``--variant`` is appended when given).
    name: ClassVar[str]
    #: Distribution whose version is reported (``importlib.metadata``).
    distribution: ClassVar[str]
    #: Human name of the bulk-enqueue API, or None when the library has none.
    bulk_api: ClassVar[str | None] = None
    #: How the library is configured for the bench (broker, serializer, results, worker...).
    config: ClassVar[dict[str, str]] = {}

    def __init__(self, redis_url: str, variant: str | None) -> None:
        self.redis_url = redis_url
        self.variant = variant

    async def connect(self) -> None:  # noqa: B027 - optional hook
        """Open producer-side connections (default: nothing)."""

    async def disconnect(self) -> None:  # noqa: B027 - optional hook
        """Close producer-side connections (default: nothing)."""

    @abstractmethod
    async def enqueue(self) -> None:
        """Enqueue one no-op job."""

    async def enqueue_bulk(self, count: int) -> None:
        """Enqueue ``count`` no-op jobs with the library's bulk API (only if ``bulk_api``)."""
        raise NotImplementedError

    @abstractmethod
    async def run_worker(self, concurrency: int) -> None:
        """Run a worker with this concurrency until cancelled or signalled (SIGTERM)."""


# --------------------------------------------------------------------------- worker subprocess


class WorkerProcess:
    """A worker subprocess of the current peer script, plus the pipe it reports on."""

    def __init__(self, args: argparse.Namespace, mode: str, expect: int) -> None:
        self._args = args
        self._mode = mode
        self._expect = expect
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._transport: asyncio.BaseTransport | None = None

    async def start(self) -> None:
        """Spawn the worker; its stdout goes to our stderr so our stdout stays JSON-only."""
        read_fd, write_fd = os.pipe()
        cmd = [
            sys.executable,
            SCRIPT,
            "--worker",
            "--concurrency", str(self._args.concurrency),
            "--redis-url", self._args.redis_url,
            "--probe", self._mode,
            "--expect", str(self._expect),
        ]  # fmt: skip
        if self._args.variant:
            cmd += ["--variant", self._args.variant]
        env = {**os.environ, SIGNAL_FD_ENV: str(write_fd)}
        self._proc = await asyncio.create_subprocess_exec(
            *cmd, pass_fds=(write_fd,), env=env, stdout=sys.stderr.fileno(), stdin=asyncio.subprocess.DEVNULL
        )
        os.close(write_fd)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        pipe = os.fdopen(read_fd, "rb", buffering=0)
        self._transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        self._reader = reader

    async def next_event(self, timeout: float) -> list[str]:
        """Next line the worker's probe wrote, split into fields."""
        assert self._reader is not None and self._proc is not None
        try:
            line = await asyncio.wait_for(self._reader.readline(), timeout)
        except TimeoutError:
            raise TimeoutError(f"no job signal from the worker within {timeout:.0f}s") from None
        if not line:
            code = await self._proc.wait()
            raise RuntimeError(f"worker exited early with code {code}")
        return line.decode().split()

    async def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds."""
        if self._transport is not None:
            self._transport.close()
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            print(f"[bench] worker ignored SIGTERM for {grace:.0f}s; its stacks, then SIGKILL:", file=sys.stderr)
            proc.send_signal(signal.SIGUSR1)  # faulthandler dump, see run_cli
            await asyncio.sleep(0.5)
            proc.kill()
            await proc.wait()


def _dump_tasks() -> None:
    """Print every pending asyncio task's stack to stderr (why didn't the worker stop?)."""
    print("[bench] worker still running 5 s after SIGTERM; pending tasks:", file=sys.stderr)
    for task in asyncio.all_tasks():
        task.print_stack(limit=12, file=sys.stderr)


async def _worker_main(peer: Peer, concurrency: int) -> None:
    """Body of the worker subprocess; SIGTERM cancels it unless the library installs its own handler."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        task.cancel()
        loop.call_later(5.0, _dump_tasks)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    with contextlib.suppress(asyncio.CancelledError):
        await peer.run_worker(concurrency)


# --------------------------------------------------------------------------- scenarios


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100) of already sorted values."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


async def _enqueue_loop(peer: Peer, n: int) -> float:
    """Enqueue ``n`` jobs one ``await`` at a time; return seconds taken."""
    start = time.perf_counter()
    for _ in range(n):
        await peer.enqueue()
    return time.perf_counter() - start


async def scenario_drain(peer: Peer, args: argparse.Namespace) -> dict[str, Any]:
    """Enqueue N jobs (timed), then start a worker and time until all N ran.

    With ``--max-drain-s`` the wait is capped: the rate is then taken over the
    jobs done so far (the worker reports progress every 1% of N) and
    ``capped`` is true.
    """
    n = args.n
    cpu_before = redis_cpu_seconds(args.redis_url)
    enqueue_s = await _enqueue_loop(peer, n)
    cpu_enqueued = redis_cpu_seconds(args.redis_url)
    worker = WorkerProcess(args, "drain", n)
    spawned = time.time()
    deadline = spawned + args.max_drain_s if args.max_drain_s > 0 else None
    await worker.start()
    latest: list[str] | None = None
    capped = False
    try:
        while True:
            wait = args.timeout if deadline is None else max(0.0, deadline - time.time())
            try:
                fields = await worker.next_event(wait)
            except TimeoutError:
                if deadline is None or latest is None:
                    raise
                capped = True
                break
            latest = fields
            if fields[0] == "D":
                break
    finally:
        cpu_drained = redis_cpu_seconds(args.redis_url)  # before the worker's shutdown
        await worker.stop()
    done, first, last = int(latest[1]), float(latest[2]), float(latest[3])
    drain_s = last - first
    enqueue_cpu = (cpu_enqueued - cpu_before) / n * 1e6
    worker_cpu = (cpu_drained - cpu_enqueued) / max(done, 1) * 1e6
    return {
        "n": n,
        "concurrency": args.concurrency,
        "enqueue_s": enqueue_s,
        "enqueue_jobs_per_s": n / enqueue_s,
        "completed": done,
        "capped": capped,
        "drain_s": drain_s,
        # start-to-start rate: done jobs span done - 1 intervals between first and last start
        "drain_jobs_per_s": (done - 1) / drain_s if drain_s > 0 else None,
        "startup_s": first - spawned,
        "wall_s": last - spawned,
        # Redis's own CPU (used_cpu_user + used_cpu_sys) per job: one Redis core's ceiling in jobs/s
        "redis_cpu_enqueue_us_per_job": enqueue_cpu,
        "redis_cpu_worker_us_per_job": worker_cpu,
        "redis_cpu_us_per_job": enqueue_cpu + worker_cpu,
    }


async def scenario_latency(peer: Peer, args: argparse.Namespace) -> dict[str, Any]:
    """Idle worker; enqueue one job at a time and measure enqueue-call-to-job-start."""
    rng = random.Random(args.seed)
    worker = WorkerProcess(args, "latency", 0)
    await worker.start()
    latencies: list[float] = []
    try:
        for _ in range(args.warmup):  # also waits until the worker is really consuming
            await peer.enqueue()
            await worker.next_event(args.timeout)
        for _ in range(args.samples):
            await asyncio.sleep(rng.uniform(args.gap_min_ms, args.gap_max_ms) / 1000.0)
            before = time.time()
            await peer.enqueue()
            fields = await worker.next_event(30.0)
            latencies.append((float(fields[1]) - before) * 1000.0)
    finally:
        await worker.stop()
    ordered = sorted(latencies)
    return {
        "samples": len(ordered),
        "concurrency": args.concurrency,
        "gap_ms": [args.gap_min_ms, args.gap_max_ms],
        "p50_ms": percentile(ordered, 50),
        "p90_ms": percentile(ordered, 90),
        "p99_ms": percentile(ordered, 99),
        "mean_ms": sum(ordered) / len(ordered),
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
    }


async def scenario_enqueue(peer: Peer, args: argparse.Namespace) -> dict[str, Any]:
    """Enqueue rate with no worker: a single-enqueue loop, then the bulk API if any."""
    n = args.n
    single_s = await _enqueue_loop(peer, n)
    metrics: dict[str, Any] = {
        "n": n,
        "single_s": single_s,
        "single_jobs_per_s": n / single_s,
        "bulk_api": peer.bulk_api,
        "bulk_size": args.bulk_size if peer.bulk_api else None,
        "bulk_s": None,
        "bulk_jobs_per_s": None,
    }
    if peer.bulk_api:
        flush_bench_db(args.redis_url)
        start = time.perf_counter()
        remaining = n
        while remaining > 0:
            chunk = min(args.bulk_size, remaining)
            await peer.enqueue_bulk(chunk)
            remaining -= chunk
        bulk_s = time.perf_counter() - start
        metrics["bulk_s"] = bulk_s
        metrics["bulk_jobs_per_s"] = n / bulk_s
    return metrics


_SCENARIO_FUNCS = {"drain": scenario_drain, "latency": scenario_latency, "enqueue": scenario_enqueue}


# --------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    """CLI shared by all peer scripts (the contract in bench/README.md)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--scenario", choices=SCENARIOS, help="which scenario to run")
    p.add_argument("--n", type=int, default=20000, help="jobs for drain/enqueue (default 20000)")
    p.add_argument("--concurrency", type=int, default=32, help="worker concurrency (default 32)")
    p.add_argument("--samples", type=int, default=200, help="latency samples (default 200)")
    p.add_argument("--warmup", type=int, default=3, help="latency warm-up jobs, not recorded (default 3)")
    p.add_argument("--gap-min-ms", type=float, default=10.0, help="min random pause between latency samples")
    p.add_argument("--gap-max-ms", type=float, default=500.0, help="max random pause between latency samples")
    p.add_argument("--bulk-size", type=int, default=1000, help="jobs per bulk-enqueue call (default 1000)")
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="bench Redis DB, 10-15 only (it is flushed)")
    p.add_argument("--variant", default=None, help="entry point / flavour, for peers that have several")
    p.add_argument("--max-drain-s", type=float, default=0.0, help="cap a drain at this many seconds (0: no cap)")
    p.add_argument("--timeout", type=float, default=600.0, help="max seconds to wait for any single job signal")
    p.add_argument("--seed", type=int, default=1234, help="seed for the latency gaps")
    # internal: worker subprocess
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--probe", default="off", help=argparse.SUPPRESS)
    p.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    return p


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


async def _run_scenario(peer: Peer, args: argparse.Namespace) -> dict[str, Any]:
    flush_bench_db(args.redis_url)
    await peer.connect()
    try:
        metrics = await _SCENARIO_FUNCS[args.scenario](peer, args)
        loop_type = type(asyncio.get_running_loop())
        metrics["event_loop"] = f"{loop_type.__module__}.{loop_type.__qualname__}"
        return metrics
    finally:
        await peer.disconnect()


def run_cli(peer_cls: type[Peer], argv: Sequence[str] | None = None) -> None:
    """Entry point of a peer script: run a scenario (or, internally, a worker)."""
    args = build_parser().parse_args(argv)
    peer = peer_cls(args.redis_url, args.variant)

    if args.worker:
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        _PROBE.mode, _PROBE.expect = args.probe, args.expect
        _PROBE.fd = int(os.environ.get(SIGNAL_FD_ENV, "-1"))
        asyncio.run(_worker_main(peer, args.concurrency))
        return

    if args.scenario is None:
        build_parser().error("--scenario is required")
    result: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "peer": peer_cls.name + (f":{args.variant}" if args.variant else ""),
        "variant": args.variant,
        "distribution": peer_cls.distribution,
        "version": _version(peer_cls.distribution),
        "scenario": args.scenario,
        "python": platform.python_version(),
        "config": dict(peer_cls.config),
        "ok": False,
        "metrics": None,
        "error": None,
    }
    code = 0
    try:
        result["metrics"] = asyncio.run(_run_scenario(peer, args))
        result["ok"] = True
    except Exception as exc:  # noqa: BLE001 - reported in the JSON line, exit code 1
        traceback.print_exc(file=sys.stderr)
        result["error"] = f"{type(exc).__name__}: {exc}"
        code = 1
    finally:
        with contextlib.suppress(Exception):
            flush_bench_db(args.redis_url)
    print(json.dumps(result), flush=True)
    sys.exit(code)
