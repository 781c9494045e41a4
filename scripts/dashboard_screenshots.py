"""Take the README's dashboard screenshots: docs/dashboard-{overview,failed-job,workers}.png.

    .venv/bin/python scripts/dashboard_screenshots.py --redis-url redis://127.0.0.1:6379/11

Runs a small shop's jobs (scripts/dashboard_demo_jobs.py) for real against an empty Redis
database: two worker processes, emails and payments that complete or fail, a flaky CRM sync that
is retried, invoices still running, a paused media queue with a backlog. The hour of history in
the throughput charts is the one thing written directly (a script cannot wait an hour): per-minute
counts of the same shape the workers' heartbeats write. The database is emptied at the end.
Drives Debian's Chromium through Playwright (CHROMIUM, default /usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import math
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--out", default=str(ROOT / "docs"))
    return parser.parse_args()


ARGS = parse()
os.environ["REDIS_URL"] = ARGS.redis_url

import dashboard_demo_jobs as demo  # noqa: E402
import uvicorn  # noqa: E402
from playwright.async_api import async_playwright  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from jobs import JobStatus, admin  # noqa: E402
from jobs.clock import now_ms  # noqa: E402
from jobs.dashboard import dashboard  # noqa: E402
from jobs.store import throughput  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS_CHROMIUM = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
NAMES = ["ada", "grace", "linus", "margaret", "alan", "barbara", "ken", "radia", "edsger", "frances"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def start_worker(queues: list[str], concurrency: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "REDIS_URL": ARGS.redis_url,
        "JOBS_MODULES": "dashboard_demo_jobs",
        "PYTHONPATH": str(ROOT / "scripts"),
        "JOBS_QUEUE_CONCURRENCY": concurrency,
        "LOG_LEVEL": "WARNING",
        "JOBS_SHUTDOWN_TIMEOUT": "0",
    }
    command = [sys.executable, "-m", "jobs", "worker", *(a for q in queues for a in ("--queue", q))]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)


async def seed_history(redis: Redis) -> None:
    """The last hour's per-minute outcomes: a daytime curve with a burst of payment failures."""
    now = now_ms()
    shapes = {
        "emails": (38, 0.01),
        "billing": (14, 0.12),
        "default": (9, 0.03),
        "audit": (30, 0.0),
        "reports": (2, 0.0),
    }
    async with redis.pipeline(transaction=False) as pipe:
        for minute in range(1, 60):
            at = now - minute * 60_000
            for index, (queue, (base, fail_rate)) in enumerate(shapes.items()):
                wave = 1 + 0.45 * math.sin(minute / 7 + index) + 0.2 * math.sin(minute / 2.3 + index * 2)
                done = max(0, round(base * wave))
                failed = round(done * fail_rate * (4 if queue == "billing" and 18 <= minute <= 24 else 1))
                throughput.add(pipe, queue, done, failed, at)
        await pipe.execute()


async def create_jobs() -> None:
    await demo.send_welcome_email.trigger_many(
        [
            {"to": f"{n}.{i}@example.com", "name": n.title(), "locale": "en" if i % 3 else "de"}
            for i in range(60)
            for n in NAMES[:3]
        ]
    )
    await demo.send_welcome_email.trigger({"to": "late@example.com", "name": "Late"}, delay=3600)
    await demo.charge_card.trigger_many(
        [
            {"customer_id": f"cus_{1000 + i:04d}{n}", "amount_cents": 1999 + 500 * i}
            for i in range(12)
            for n in ("a", "b")
        ]
    )
    await demo.sync_crm_contact.trigger_many([{"user_id": f"u-{4200 + i}"} for i in range(8)])
    await demo.render_invoice_pdf.trigger_many(
        [{"order_id": f"ord_{7710 + i}", "customer_id": f"cus_{i:04d}"} for i in range(5)]
    )
    await admin.pause("media")
    for start in range(0, 1840, 460):
        await demo.resize_image.trigger_many(
            [{"path": f"uploads/2025/01/img_{i:05d}.jpg"} for i in range(start, start + 460)]
        )
    for hours in (1, 2, 4):
        await demo.render_invoice_pdf.trigger(
            {"order_id": f"ord_81{hours}0", "customer_id": "cus_0042"}, delay=hours * 3600
        )


async def until(condition: Callable[[], Any], timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while True:
            value = condition()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return
            await asyncio.sleep(0.1)


async def main() -> None:
    redis: Redis = Redis.from_url(ARGS.redis_url)
    if await redis.dbsize():
        raise SystemExit(f"{ARGS.redis_url} is not empty; point --redis-url at an empty database")
    workers = [
        start_worker(["emails", "billing", "default"], "emails=4,billing=2,default=2"),
        start_worker(["reports", "media"], "reports=3,media=4"),
    ]
    server = None
    try:
        await seed_history(redis)
        await create_jobs()

        async def settled() -> bool:
            counts = {c.queue: c for c in await admin.counts_many(["emails", "billing", "default", "reports"])}
            quiet = ("emails", "billing", "default")
            busy = sum(
                counts[q].queued + counts[q].running + (counts[q].scheduled if q != "emails" else 0) for q in quiet
            )
            return busy == 0 and counts["reports"].running == 3

        await until(settled)
        app = dashboard(auth=lambda request: True)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        serving = asyncio.create_task(server.serve())
        await until(lambda: server.started)
        base = f"http://127.0.0.1:{port}"
        failed = [r for r in await admin.latest(JobStatus.FAILED, "billing", limit=50) if r.attempts == 3]
        if not failed:
            raise SystemExit("no charge failed after 3 attempts: change the demo's customers")
        out = Path(ARGS.out)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS_CHROMIUM)
            page = await browser.new_page(viewport={"width": 1360, "height": 900}, device_scale_factor=1.5)
            await page.emulate_media(color_scheme="light")
            shots = (("/", "overview", 820), (f"/jobs/{failed[0].id}", "failed-job", 900), ("/workers", "workers", 560))
            for path, name, height in shots:
                await page.set_viewport_size({"width": 1360, "height": height})
                await page.goto(base + path)
                await page.wait_for_load_state("networkidle")
                await page.screenshot(path=str(out / f"dashboard-{name}.png"), full_page=True)
                print(f"wrote {out / f'dashboard-{name}.png'}")
            await browser.close()
        server.should_exit = True
        await serving
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(20)
        await redis.flushdb()
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
