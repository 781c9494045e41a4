"""What job control costs the claim (not a test): Redis's time per claim script, and jobs/s.

Drains N no-op jobs through `jobs.worker.Worker` in this process for each variant, a queue of
its own each, and reads Redis's own time in the claim script (`INFO commandstats`, evalsha:
mostly SETTLE_AND_CLAIM; the triggers are written before the stats are reset):

- plain:        no feature used (the common path)
- rules-unused: another job of the queue has max_running, so the claim carries rules; the drained job has none
- rate-limited: the drained job has a rate limit it never reaches (each start is logged in its window)
- max-running:  the drained job has max_running = concurrency (each claim counts the running set)
- held-100:     100 jobs of a RateLimit(1, per=1h) job queued ahead, held: each claim looks past them
- held-1000:    the same with 1000 held (the most a claim looks past)
- priority:     the drained jobs triggered with priority=5 (the priority set beside the queue)

Run from the repository root, on a quiet machine, against a Redis nothing else uses:

    .venv/bin/python bench/control_cost.py --json bench/control_cost.json

A few-second smoke run: `--n 2000 --rounds 1`. Uses database 12 of BENCH_CONTROL_REDIS_URL
(default redis://127.0.0.1:6379/12), flushed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REDIS_URL = os.environ.get("BENCH_CONTROL_REDIS_URL", "redis://127.0.0.1:6379/12")
os.environ["REDIS_URL"] = REDIS_URL

from jobs import Job, RateLimit, disconnect, job  # noqa: E402
from jobs.logs.configure import configure_logging  # noqa: E402
from jobs.settings import load_settings  # noqa: E402
from jobs.store.connection import for_current_loop  # noqa: E402
from jobs.worker import Worker  # noqa: E402

CONCURRENCY = 32
VARIANTS = ("plain", "rules-unused", "rate-limited", "max-running", "held-100", "held-1000", "priority")
_done: dict[str, int] = {}
_finished: list[asyncio.Event] = []  # one per drain (each drain has its own loop)
_target = 0


def _counting(variant: str) -> Any:
    async def run(payload: Any) -> None:
        _done[variant] = _done.get(variant, 0) + 1
        if _done[variant] >= _target:
            _finished[-1].set()

    return run


async def _never(payload: Any) -> None:
    return None


def _drained(variant: str) -> Job[Any]:
    options: dict[str, Any] = {}
    if variant == "rate-limited":
        options["rate_limit"] = RateLimit(10**9, per=timedelta(hours=1))
    if variant == "max-running":
        options["max_running"] = CONCURRENCY
    return job(name=f"control-cost-{variant}", queue=f"control-cost-{variant}", run=_counting(variant), **options)


DRAINED = {variant: _drained(variant) for variant in VARIANTS}
SIDE = job(name="control-cost-side", queue="control-cost-rules-unused", run=_never, max_running=1)
HELD = {
    v: job(
        name=f"control-cost-held-{v}",
        queue=f"control-cost-{v}",
        run=_never,
        rate_limit=RateLimit(1, timedelta(hours=1)),
    )
    for v in ("held-100", "held-1000")
}


async def drain(variant: str, n: int) -> dict[str, float]:
    """One drain: jobs/s, Redis's µs per evalsha call and per job."""
    global _target
    conn = await for_current_loop()
    await conn.redis.flushdb()
    if variant in HELD:
        await HELD[variant].trigger_many([None] * int(variant.split("-")[1]))
        await asyncio.sleep(0.002)  # the held jobs are ahead of the drained ones in the queue
    for start in range(0, n, 1000):
        await DRAINED[variant].trigger_many([None] * min(1000, n - start), priority=5 if variant == "priority" else 0)
    _done[variant], _target = 0, n
    _finished.append(asyncio.Event())
    settings = load_settings(redis_url=REDIS_URL, log_format="json", log_level="WARNING", jobs_keep_completed=0)
    configure_logging(settings.log_format, settings.log_level)
    worker = Worker(queues=[DRAINED[variant].queue], settings=settings, concurrency=CONCURRENCY, handle_signals=False)
    await conn.redis.config_resetstat()
    started = time.perf_counter()
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(_finished[-1].wait(), 600)
    seconds = time.perf_counter() - started
    stats = (await conn.redis.info("commandstats")).get("cmdstat_evalsha", {})
    worker.request_stop()
    await running
    await conn.redis.flushdb()
    await disconnect()
    calls, usec = int(stats.get("calls", 0)), float(stats.get("usec", 0))
    return {"jobs_per_s": n / seconds, "redis_us_per_call": usec / max(calls, 1), "redis_us_per_job": usec / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds, variants interleaved; medians reported")
    parser.add_argument("--variant", choices=VARIANTS, action="append", help="only these (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    variants = args.variant or list(VARIANTS)
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for variant in variants:
            runs[variant].append(asyncio.run(drain(variant, args.n)))
    print(f"N={args.n} concurrency={CONCURRENCY}, median of {args.rounds} rounds", file=sys.stderr)
    medians = {v: {k: _median([r[k] for r in rs]) for k in rs[0]} for v, rs in runs.items()}
    for variant, m in medians.items():
        print(
            f"{variant:>13}: {m['jobs_per_s']:8,.0f} jobs/s   Redis {m['redis_us_per_call']:7.1f} us/claim call"
            f"   {m['redis_us_per_job']:6.2f} us/job",
            file=sys.stderr,
        )
    if args.json:
        args.json.write_text(
            json.dumps({"n": args.n, "rounds": args.rounds, "median": medians, "runs": runs}, indent=2)
        )


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


if __name__ == "__main__":
    main()
