"""What the worker's metrics hooks cost one attempt, alone: `observed.started` + `observed.ended`.

An in-process drain (`overhead.py --variants full,metrics`) measures the whole worker, whose CPU
per job swings by more than these hooks cost on a busy two-core machine; this times the hooks in
a loop (the series lookup, the wait and run-time histograms, the counter, two clock reads), so the
per-job price of JOBS_METRICS_PORT can be read apart from that noise.

    .venv/bin/python bench/metrics_hooks.py          # median of 7 runs of 200,000 attempts
"""

from __future__ import annotations

import argparse
import statistics
import time

from jobs.observe.metrics import WorkerMetrics
from jobs.observe.observer import Observer
from jobs.runtime import observed
from jobs.runtime.execution import Attempt, Completed


def per_attempt_us(n: int) -> float:
    observer = Observer(WorkerMetrics({"emails": ["send-welcome"]}), None)
    attempt = Attempt("18ed2fc1511df63c7f0fce272dd6267a", "send-welcome", "emails", 1)
    outcome = Completed(None)
    started = time.perf_counter()
    for _ in range(n):
        observed.ended(observed.started(observer, attempt, 1_000, 1_002, None), outcome)
    hooks = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(n):
        pass
    empty = time.perf_counter() - started
    return (hooks - empty) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    runs = [per_attempt_us(args.n) for _ in range(args.runs)]
    spread = f"{min(runs):.2f}-{max(runs):.2f}"
    print(f"metrics hooks: {statistics.median(runs):.2f} us per attempt (median of {args.runs}; {spread})")


if __name__ == "__main__":
    main()
