"""The dashboard in a real browser: Playwright drives the system's Chromium against the app served by
uvicorn, with a real worker running the jobs, all in this test's event loop.

Chromium is Debian's (`apt-get install -y chromium`; CHROMIUM names another binary): Playwright's
own browsers are never downloaded. Without it these tests fail, loudly: `make test` and CI install it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Dialog, Page, async_playwright, expect
from pydantic import BaseModel, Field
from redis.asyncio import Redis

from jobs import JobStatus, UnrecoverableError, admin, current_attempt
from jobs.dashboard import dashboard
from jobs.store import keys

from .conftest import Define, StartWorker
from .dashboard_support import served
from .helpers import wait_until

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
WAIT_MS = 10_000


class Signup(BaseModel):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    seats: int = 1


def acting(request: Any) -> bool:
    return True


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium (or set CHROMIUM)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on(
        "console", lambda message: errors.append(message.text) if _unexpected(message.type, message.text) else None
    )
    yield opened
    await context.close()
    assert errors == [], f"the page logged errors (a CSP violation, a broken script): {errors}"


async def test_an_operator_reads_a_failed_jobs_traceback_retries_it_and_sees_it_complete(
    define: Define, start_worker: StartWorker, queue: str, page: Page
) -> None:
    """Overview, the queue's failures, the job and its traceback; Retry; the page updates to completed."""
    broken = True

    async def charge(payload: Signup) -> str:
        if broken:
            raise UnrecoverableError(f"card declined for {payload.email}")
        return "charged"

    job = define(charge)
    await start_worker()
    handle = await job.trigger({"email": "ada@example.com"})
    await wait_until(lambda: _status_is(handle.id, JobStatus.FAILED), what="the job failed")

    async with served(dashboard(auth=acting)) as base:
        await page.goto(base + "/")
        await page.evaluate("window.notReloaded = true")
        await page.locator(f'tr[data-queue="{queue}"] a[data-count="failed"]').click()
        await expect(page.locator(".tab[aria-current=page]")).to_contain_text("failed")
        await page.get_by_role("link", name=handle.id).click()
        await expect(page.locator("pre.traceback")).to_contain_text(
            "UnrecoverableError: card declined for ada@example.com"
        )
        await expect(page.locator(".job-head .pill")).to_have_text("failed")

        broken = False
        await page.get_by_role("button", name="Retry").click()

        await expect(page.locator(".flash")).to_contain_text("queued again")
        await expect(page.locator(".job-head .pill")).to_have_text("completed", timeout=WAIT_MS)
        await expect(page.locator("pre.result")).to_contain_text('"charged"')
        assert await page.evaluate("window.notReloaded") is True  # boosted links and polling: no full reload
    assert await handle.result(timeout=1) == "charged"


async def test_an_operator_pauses_and_resumes_a_queue(define: Define, queue: str, page: Page) -> None:
    """Pause on the overview: the row says paused and workers would take nothing; Resume: active again."""
    define(_noop)
    async with served(dashboard(auth=acting)) as base:
        await page.goto(base + "/")
        row = page.locator(f'tr[data-queue="{queue}"]')
        await row.get_by_role("button", name="Pause").click()
        await expect(row.locator(".pill")).to_have_text("paused")
        assert queue in await admin.paused_queues()
        await row.get_by_role("button", name="Resume").click()
        await expect(row.locator(".pill")).to_have_text("active")
        assert queue not in await admin.paused_queues()


async def test_the_trigger_form_shows_a_bad_payloads_error_and_enqueues_a_good_one(
    define: Define, start_worker: StartWorker, queue: str, redis: Redis, page: Page
) -> None:
    """A bad email is refused next to its field, nothing enqueued; corrected, the job runs and the page shows it."""
    job = define(_signup)
    await start_worker()
    async with served(dashboard(auth=acting)) as base:
        await page.goto(base + "/")
        await page.locator("tr", has_text=job.name).get_by_role("link", name="Trigger…").click()
        await page.get_by_label("email").fill("not-an-email")
        await page.get_by_label("seats").fill("2")
        await page.get_by_role("button", name="Enqueue").click()

        await expect(page.locator('[data-field="email"] .field-error')).to_contain_text("should match pattern")
        await expect(page.get_by_label("email")).to_have_value("not-an-email")
        assert await redis.zcard(keys.queue(queue)) == 0 and await redis.zcard(keys.finished(queue, "completed")) == 0

        await page.get_by_label("email").fill("ada@example.com")
        await page.get_by_role("button", name="Enqueue").click()
        await expect(page.locator(".job-head .pill")).to_have_text("completed", timeout=WAIT_MS)
        await expect(page.locator("pre.result")).to_contain_text('"ada@example.com x2"')


async def test_a_trigger_shows_up_on_the_overview_within_two_seconds(define: Define, queue: str, page: Page) -> None:
    """The overview polls its counts in place: a job triggered elsewhere appears without a reload."""
    job = define(_noop)
    async with served(dashboard()) as base:
        await page.goto(base + "/")
        queued = page.locator(f'tr[data-queue="{queue}"] a[data-count="queued"]')
        await expect(queued).to_have_text("0")
        await expect(page.get_by_text("read-only").first).to_be_visible()

        await job.trigger({"email": "grace@example.com"})

        await expect(queued).to_have_text("1", timeout=2000)


async def test_a_payload_holding_markup_runs_nothing_in_the_browser(define: Define, queue: str, page: Page) -> None:
    """A payload with a script tag and an onerror handler is shown as text; neither runs."""
    job = define(_any)
    attack = '<script>window.owned = 1</script><img src=x onerror="window.owned = 2">'
    handle = await job.trigger({"note": attack})
    async with served(dashboard()) as base:
        await page.goto(f"{base}/jobs/{handle.id}")
        await expect(page.locator("pre.payload")).to_contain_text(attack.replace('"', '\\"'))
        assert await page.evaluate("typeof window.owned") == "undefined"
        assert await page.locator("pre.payload img, pre.payload script").count() == 0


def _unexpected(kind: str, text: str) -> bool:
    """A console error other than the browser noting a 4xx answer (a form with errors is a 422, on purpose)."""
    return kind == "error" and not text.startswith("Failed to load resource: the server responded with a status of 4")


async def _noop(payload: Signup) -> None:
    return None


async def _signup(payload: Signup) -> str:
    return f"{payload.email} x{payload.seats}"


async def _any(payload: dict[str, str]) -> None:
    return None


async def _status_is(job_id: str, status: JobStatus) -> bool:
    info = await admin.get_job(job_id)
    return info is not None and info.status is status


async def test_an_operator_watches_a_jobs_progress_and_cancels_it(
    define: Define, start_worker: StartWorker, queue: str, page: Page
) -> None:
    """The running job's page shows its progress; Cancel (confirmed) stops it in its worker and the
    page turns to cancelled by itself; the job's finally block ran."""
    finished: list[str] = []

    async def import_files(payload: Signup) -> None:
        try:
            await current_attempt().report_progress(0.4, message="3 of 7 files")
            await asyncio.sleep(60)
        finally:
            finished.append(payload.email)

    job = define(import_files, attempts=3)
    await start_worker()
    handle = await job.trigger({"email": "ada@example.com"})
    await wait_until(handle.progress, what="progress stored")

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    async with served(dashboard(auth=acting)) as base:
        await page.goto(f"{base}/jobs/{handle.id}")
        await expect(page.locator(".job-head .pill")).to_have_text("running")
        await expect(page.locator(".progress-text")).to_contain_text("40% · 3 of 7 files")
        page.once("dialog", accept)
        await page.get_by_role("button", name="Cancel").click()
        await expect(page.locator(".flash")).to_contain_text("being cancelled")
        await expect(page.locator(".job-head .pill")).to_have_text("cancelled", timeout=WAIT_MS)
        await expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    assert finished == ["ada@example.com"]
    assert await handle.status() is JobStatus.CANCELLED
