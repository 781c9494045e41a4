"""`make demo`: a worker plus the example jobs, so a newcomer sees the whole lifecycle in the logs.

Uses the Redis at REDIS_URL, or starts a private `redis-server` on a free port when none answers;
starts `python -m servers.jobs`, triggers the example jobs, waits for every outcome, then stops
the worker with SIGTERM (a graceful shutdown) and the private Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis

from examples.jobs import charge_card, refresh_exchange_rates, send_welcome_email, sync_crm_contact
from jobs import JobFailedError, JobHandle, latest_completed, list_schedules
from jobs.redaction import redact_url
from jobs.settings import get_settings


def say(message: str) -> None:
    print(f"\033[1mdemo:\033[0m {message}" if sys.stdout.isatty() else f"demo: {message}", flush=True)


async def redis_answers(url: str) -> bool:
    client: Redis = Redis.from_url(url, socket_connect_timeout=1)
    try:
        return bool(await client.ping())
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        return False
    finally:
        await client.aclose()


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A throwaway redis-server on a free port, without persistence; stopped on exit."""
    if shutil.which("redis-server") is None:
        raise SystemExit("demo: no Redis answers at REDIS_URL and redis-server is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as data_dir:
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", data_dir],
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 10
            while not asyncio.run(redis_answers(url)):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("demo: the private redis-server did not start")
                time.sleep(0.05)
            yield url
        finally:
            server.terminate()
            server.wait(10)


async def trigger_examples() -> list[JobHandle[Any]]:
    handles: list[JobHandle[Any]] = [
        await send_welcome_email.trigger({"to": "ada@example.com", "name": "Ada"}),
        await sync_crm_contact.trigger({"user_id": "u-42"}),
        await charge_card.trigger({"user_id": "u-42", "amount_cents": 1999}),
        await send_welcome_email.trigger({"to": "grace@example.com", "name": "Grace"}, delay=1),
    ]
    try:
        await send_welcome_email.trigger({"to": "not-an-email", "name": "Nobody"})
    except ValidationError as exc:
        say(f"an invalid payload is rejected before anything is written: {exc.errors()[0]['msg']}")
    return handles


async def report(handles: list[JobHandle[Any]]) -> None:
    for handle in handles:
        try:
            result = await handle.result(timeout=30)
            outcome = f"completed -> {result!r}"
        except JobFailedError as exc:
            outcome = f"failed -> {exc.record.error.type if exc.record.error else '?'}"
        record = await handle.record()
        attempts = record.attempts if record else "?"
        say(f"{handle.job:<20} {handle.id}  attempts={attempts}  {outcome}")


async def show_a_schedule_firing() -> None:
    """The worker declared the example schedules at start; wait for a tick of the two-second one."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ticks = [r for r in await latest_completed("default", limit=50) if r.job == refresh_exchange_rates.name]
        if ticks:
            say(f"schedule {refresh_exchange_rates.name} fired: job {ticks[0].id} completed -> {ticks[0].result!r}")
            break
        await asyncio.sleep(0.2)
    for schedule in await list_schedules():
        next_run = schedule.next_run.isoformat() if schedule.next_run else "-"
        say(f"schedule {schedule.id:<24} {schedule.spec:<12} {schedule.tz:<4} next run {next_run}")


async def trigger_and_report() -> None:
    await report(await trigger_examples())
    await show_a_schedule_firing()


def run_demo(url: str) -> int:
    env = {**os.environ, "REDIS_URL": url, "JOBS_MODULES": "examples.jobs"}
    worker = subprocess.Popen([sys.executable, "-m", "servers.jobs"], env=env)
    try:
        say(f"worker started (pid {worker.pid}) against {redact_url(url)}; triggering the example jobs")
        asyncio.run(trigger_and_report())
    finally:
        say("stopping the worker with SIGTERM (graceful shutdown)")
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(30)
    say(f"worker exited with code {code}")
    return code


def main() -> int:
    url = get_settings().redis_url
    if asyncio.run(redis_answers(url)):
        return run_demo(url)
    say(f"no Redis answers at {redact_url(url)}: starting a private redis-server for this demo")
    with private_redis() as private_url:
        os.environ["REDIS_URL"] = private_url
        get_settings.cache_clear()
        return run_demo(private_url)


if __name__ == "__main__":
    sys.exit(main())
