"""What the library adds on top of its bare loop, one part at a time (not a test).

Drains N no-op jobs through `jobs.worker.Worker` in burst mode, in this process, for each
variant, and prints jobs/s, the cost against `bare`, and the worker's CPU time per job (steadier
than throughput on a shared machine):

- bare:      payload typed Any, logging at WARNING, no retention (the loop alone)
- validate:  bare + a typed (pydantic) payload
- logging:   validate + the JSON line per job at INFO (job.completed)
- retention: validate + the latest 1000 records kept
- full:      everything, as shipped
- metrics:   full + JOBS_METRICS_PORT (the worker's Prometheus counters and /metrics, nobody scraping)
- tracing:   full + an OpenTelemetry SDK provider whose exporter drops every span (trigger and attempt spans)

Each run is a fresh process (structlog caches a logger's level on first use, so variants must
not share one). Run from the repository root with the project's venv, stdout to a file as a log
collector would:

    .venv/bin/python bench/overhead.py --json bench/overhead.json > bench/.logs/overhead-worker.log

`--variant full` runs one variant in this process (to profile it: `py-spy record -- ...`). The
cost of metrics or tracing is the variant against `full`, A/B in one run:

    .venv/bin/python bench/overhead.py --variants full,metrics,tracing --rounds 7 > bench/.logs/observe.log

Uses database 12 of the local Redis (flushed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

REDIS_URL = os.environ.get("BENCH_OVERHEAD_REDIS_URL", "redis://127.0.0.1:6379/12")
os.environ["REDIS_URL"] = REDIS_URL

from jobs import disconnect, job  # noqa: E402
from jobs.logs.configure import configure_logging  # noqa: E402
from jobs.settings import load_settings  # noqa: E402
from jobs.worker import Worker  # noqa: E402

QUEUE = "overhead"
VARIANTS = {  # typed payload, log lines, retention
    "bare": (False, False, False),
    "validate": (True, False, False),
    "logging": (True, True, False),
    "retention": (True, False, True),
    "full": (True, True, True),
    "metrics": (True, True, True),  # + JOBS_METRICS_PORT
    "tracing": (True, True, True),  # + a tracer provider, spans dropped
}


class Noop(BaseModel):
    user_id: str = "u-1"


async def noop(payload: Noop) -> None:
    return None


async def noop_any(payload: Any) -> None:
    return None


typed_job = job(name="overhead-typed", queue=QUEUE, run=noop)
any_job = job(name="overhead-any", queue=QUEUE, run=noop_any)


async def drain(variant: str, n: int, concurrency: int) -> tuple[float, float]:
    """Jobs/s of one burst drain, and the worker's CPU time per job in microseconds."""
    typed, logging_on, retention_on = VARIANTS[variant]
    the_job = typed_job if typed else any_job
    if variant == "tracing":
        _trace_to_nowhere()
    for start in range(0, n, 1000):
        await the_job.trigger_many([{"user_id": "u-1"}] * min(1000, n - start))
    settings = load_settings(
        redis_url=REDIS_URL,
        jobs_queue=QUEUE,
        log_format="json",
        log_level="INFO" if logging_on else "WARNING",
        jobs_keep_completed=1000 if retention_on else 0,
        jobs_metrics_port=_free_port() if variant == "metrics" else None,
    )
    configure_logging(settings.log_format, settings.log_level)
    worker = Worker(queues=[QUEUE], settings=settings, burst=True, concurrency=concurrency, handle_signals=False)
    started, cpu = time.perf_counter(), time.process_time()
    await worker.run()
    rate = n / (time.perf_counter() - started)
    cpu_us = (time.process_time() - cpu) / n * 1e6
    await (await _redis()).flushdb()
    await disconnect()
    return rate, cpu_us


def _trace_to_nowhere() -> None:
    """An SDK provider, as an app would set one, whose exporter drops the spans: the cost of making them."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Nowhere(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Nowhere()))
    trace.set_tracer_provider(provider)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _redis() -> Any:
    from jobs.store.connection import for_current_loop

    return (await for_current_loop()).redis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="rounds; each variant's median is reported")
    parser.add_argument("--variant", choices=VARIANTS, help="run this variant once, here, and print its jobs/s")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated variants to compare (default: all)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    if args.variant:
        asyncio.run(_flush())
        rate, cpu_us = asyncio.run(drain(args.variant, args.n, args.concurrency))
        print(f"{rate:.1f} {cpu_us:.2f}", file=sys.stderr)
        return
    chosen = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {', '.join(unknown)} (choose from {', '.join(VARIANTS)})")
    rates: dict[str, list[float]] = {v: [] for v in chosen}
    cpu: dict[str, list[float]] = {v: [] for v in chosen}
    for round_number in range(args.rounds):  # variants interleaved, so a slow spell of the machine hits all alike
        # ... and in reverse order every other round: the variant that runs second in a round
        # measured a few µs per job slower whatever it was (2026-12-01, docs/PERFORMANCE.md)
        for variant in chosen if round_number % 2 == 0 else chosen[::-1]:
            rate, cpu_us = _run_variant(variant, args.n, args.concurrency)
            rates[variant].append(rate)
            cpu[variant].append(cpu_us)
    median = {v: _median(r) for v, r in rates.items()}
    median_cpu = {v: _median(c) for v, c in cpu.items()}
    print(f"N={args.n} concurrency={args.concurrency}, median of {args.rounds} rounds", file=sys.stderr)
    base = "bare" if "bare" in median else chosen[0]
    for variant, rate in median.items():
        cost = (1 - rate / median[base]) * 100
        runs = ", ".join(f"{r:,.0f}" for r in rates[variant])
        print(
            f"{variant:>10}: {rate:8,.0f} jobs/s  {cost:5.1f}% below {base}   "
            f"worker CPU {median_cpu[variant]:5.1f} us/job   ({runs})",
            file=sys.stderr,
        )
    if args.json:
        figures: dict[str, Any] = {"n": args.n, "concurrency": args.concurrency, "rounds": args.rounds, "runs": rates}
        figures["median_jobs_per_s"] = median
        figures[f"cost_vs_{base}_pct"] = {v: round((1 - r / median[base]) * 100, 1) for v, r in median.items()}
        figures["worker_cpu_us_per_job"] = {v: round(c, 1) for v, c in median_cpu.items()}
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _run_variant(variant: str, n: int, concurrency: int) -> tuple[float, float]:
    """One variant in a fresh interpreter; its log lines go to our stdout, its rate and CPU come back."""
    cmd = [sys.executable, __file__, "--variant", variant, "--n", str(n), "--concurrency", str(concurrency)]
    done = subprocess.run(cmd, stderr=subprocess.PIPE, text=True, check=True)
    rate, cpu_us = done.stderr.strip().splitlines()[-1].split()
    return float(rate), float(cpu_us)


async def _flush() -> None:
    await (await _redis()).flushdb()
    await disconnect()


if __name__ == "__main__":
    main()
