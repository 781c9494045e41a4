"""The latency floor of this machine: what one hop through Redis costs an idle pair of processes.

An idle worker's pickup latency cannot be lower than one PUBLISH reaching another process, so
the pickup figures in bench/RESULTS.md are read against these. Both are measured with random
10-100 ms pauses between samples, as the pickup scenario does, so every process starts asleep.

    .venv/bin/python bench/floor.py            # local Redis, db 12 (nothing is written)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import time

from redis.asyncio import Redis

CHANNEL = "jobs-bench:floor"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def subscriber(url: str, samples: int) -> None:
    """Print how long after its stamp each message arrived, one line per message."""
    redis = Redis.from_url(url)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(CHANNEL)
    print("ready", flush=True)
    received = 0
    while received < samples:
        message = await pubsub.get_message(timeout=5.0)
        if message is not None:
            print(f"{(time.time() - float(message['data'])) * 1000:.4f}", flush=True)
            received += 1
    await redis.aclose()


async def publisher(url: str, samples: int) -> list[float]:
    redis = Redis.from_url(url)
    rtts = []
    for _ in range(samples):
        await asyncio.sleep(random.uniform(0.01, 0.1))
        await redis.publish(CHANNEL, repr(time.time()))
        await asyncio.sleep(random.uniform(0.01, 0.1))
        started = time.perf_counter()
        await redis.ping()
        rtts.append((time.perf_counter() - started) * 1000)
    await redis.aclose()
    return rtts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--subscriber", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscriber:
        asyncio.run(subscriber(args.redis_url, args.samples))
        return
    cmd = [sys.executable, __file__, "--subscriber", "--redis-url", args.redis_url, "--samples", str(args.samples)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        rtts = asyncio.run(publisher(args.redis_url, args.samples))
        hops = [float(line) for line in child.stdout]
    print(f"PING round trip       p50 {percentile(rtts, 0.5):.3f} ms   p99 {percentile(rtts, 0.99):.3f} ms")
    print(f"PUBLISH -> subscriber p50 {percentile(hops, 0.5):.3f} ms   p99 {percentile(hops, 0.99):.3f} ms")


if __name__ == "__main__":
    main()
