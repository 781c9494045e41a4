"""The dashboard over HTTP: every page and action, read-only, auth callable and basic, CSRF, escaping, 404s."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field
from redis.asyncio import Redis

from jobs import Cron, JobStatus, UnrecoverableError, admin, current_attempt
from jobs.dashboard import dashboard
from jobs.dashboard.access import CSRF_COOKIE
from jobs.ops import admin as ops_admin
from jobs.settings import get_settings
from jobs.store import keys

from .conftest import Define, StartWorker, run_burst
from .dashboard_support import ORIGIN, csrf, http, post
from .helpers import wait_until
from .processes import closed_port
from .redis_server import redis_server

XSS = "<script>alert(1)</script>"


class Item(BaseModel):
    n: int
    note: str = ""


async def _ok(payload: Item) -> dict[str, Any]:
    return {"n": payload.n, "echo": payload.note}


async def _fail(payload: Item) -> None:
    raise UnrecoverableError(f"bad item {payload.n}: {payload.note}")


class Signup(BaseModel):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    seats: int = 1
    plan: Literal["free", "pro"] = "free"
    newsletter: bool = False
    tags: list[str] = []
    note: str | None = None


def acting(request: Any) -> bool:
    return True


async def failed_job(define: Define, queue: str, note: str = "") -> str:
    handle = await define(_fail, attempts=1).trigger({"n": 1, "note": note})
    await run_burst([queue])
    return handle.id


async def test_every_page_answers_and_says_read_only_without_auth(define: Define, queue: str) -> None:
    """No auth and no credentials: each page is 200, says "read-only", and offers no action."""
    job_id = await failed_job(define, queue)
    ok = define(_ok)
    app = dashboard()
    pages = ["/", f"/queues/{queue}", "/workers", "/schedules", f"/jobs/{job_id}", f"/trigger/{ok.name}"]
    pages += [f"/queues/{queue}?state={s}" for s in ("queued", "scheduled", "running", "completed", "failed")]
    async with http(app) as client:
        for path in pages:
            page = await client.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-type"].startswith("text/html")
            assert "read-only" in page.text, path
            assert 'method="post"' not in page.text or path.startswith("/trigger"), path
            assert "Retry</button>" not in page.text and "Pause</button>" not in page.text


async def test_read_only_refuses_every_action_with_403_and_changes_nothing(define: Define, queue: str) -> None:
    """Even with a valid CSRF token, every POST route is refused; the failed job and the queue stay as they were."""
    job_id = await failed_job(define, queue)
    ok = define(_ok)
    actions = [f"/jobs/{job_id}/retry", f"/jobs/{job_id}/remove", f"/queues/{queue}/pause", f"/queues/{queue}/resume"]
    actions += [
        f"/jobs/{job_id}/cancel",
        f"/queues/{queue}/retry-failed",
        f"/trigger/{ok.name}",
        "/schedules/no-such-schedule/run-now",
    ]
    async with http(dashboard()) as client:
        for path in actions:
            refused = await post(client, path, {"n": "1"})
            assert refused.status_code == 403, path
            assert "read-only" in refused.text
    info = await admin.get_job(job_id)
    assert info is not None and info.status is JobStatus.FAILED
    assert queue not in await admin.paused_queues()
    assert (await admin.counts(queue)).queued == 0


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_an_auth_callable_that_allows_acting_gets_every_action(define: Define, queue: str, kind: str) -> None:
    """Retry, pause, resume, retry-failed and remove each do what the CLI does, then redirect (303) to the result."""

    async def allow(request: Any) -> bool:
        return True

    job_id = await failed_job(define, queue)
    other = await failed_job(define, queue)
    app = dashboard(auth=acting if kind == "sync" else allow)
    async with http(app) as client:
        page = await client.get(f"/jobs/{job_id}")
        assert "read-only" not in page.text and "Retry</button>" in page.text

        retried = await post(client, f"/jobs/{job_id}/retry")
        assert (retried.status_code, retried.headers["location"]) == (303, f"/jobs/{job_id}?done=retried")
        assert "queued again" in (await client.get(retried.headers["location"])).text
        info = await admin.get_job(job_id)
        assert info is not None and info.status is JobStatus.QUEUED

        paused = await post(client, f"/queues/{queue}/pause", {"next": "/"})
        assert (paused.status_code, paused.headers["location"]) == (303, "/?done=paused")
        assert queue in await admin.paused_queues()
        resumed = await post(client, f"/queues/{queue}/resume", {"next": "https://evil.example/"})
        assert resumed.headers["location"] == f"/queues/{queue}?done=resumed"  # not an open redirect
        assert queue not in await admin.paused_queues()

        all_failed = await post(client, f"/queues/{queue}/retry-failed")
        assert all_failed.headers["location"] == f"/queues/{queue}?state=failed&done=retried-all&n=1&skipped=0"
        assert "1 failed job queued again" in (await client.get(all_failed.headers["location"])).text

        removed = await post(client, f"/jobs/{other}/remove")
        assert removed.status_code == 303 and await admin.get_job(other) is None
        again = await post(client, f"/jobs/{other}/remove")
        assert again.status_code == 404 and "No such job" in again.text


async def test_an_auth_callable_that_says_no_makes_the_dashboard_read_only(define: Define, queue: str) -> None:
    """The app's own session check refuses: the pages say read-only, the actions are 403."""
    job_id = await failed_job(define, queue)
    async with http(dashboard(auth=lambda request: request.headers.get("x-admin") == "yes")) as client:
        assert "read-only" in (await client.get("/")).text
        assert (await post(client, f"/jobs/{job_id}/retry")).status_code == 403
        client.headers["x-admin"] = "yes"
        assert "read-only" not in (await client.get("/")).text
        assert (await post(client, f"/jobs/{job_id}/retry")).status_code == 303


async def test_basic_credentials_guard_every_page_and_allow_acting(
    define: Define, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JOBS_DASHBOARD_USER/PASSWORD: 401 with a challenge without them or with wrong ones; with them, acting."""
    monkeypatch.setenv("JOBS_DASHBOARD_USER", "ops")
    monkeypatch.setenv("JOBS_DASHBOARD_PASSWORD", "s3cret:with:colons")
    get_settings.cache_clear()
    job_id = await failed_job(define, queue)
    app = dashboard()

    def basic(user: str, password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    async with http(app) as anonymous:
        for path in ("/", f"/jobs/{job_id}", "/workers"):
            refused = await anonymous.get(path)
            assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic realm=")
        assert (await anonymous.get("/", headers=basic("ops", "wrong"))).status_code == 401
        assert (await anonymous.get("/", headers={"Authorization": "Basic !!"})).status_code == 401
        assert (await anonymous.post(f"/jobs/{job_id}/retry")).status_code == 401
        assert (await anonymous.get("/static/dashboard.css")).status_code == 200  # no secret in the stylesheet
    async with http(app, headers=basic("ops", "s3cret:with:colons")) as client:
        page = await client.get("/")
        assert page.status_code == 200 and "signed in as ops" in page.text and "read-only" not in page.text
        assert (await post(client, f"/jobs/{job_id}/retry")).status_code == 303


def test_only_one_of_the_basic_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user without a password (or the reverse) would silently be read-only: refused with what to set."""
    monkeypatch.setenv("JOBS_DASHBOARD_USER", "ops")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="set both JOBS_DASHBOARD_USER and JOBS_DASHBOARD_PASSWORD"):
        dashboard()


async def test_a_cross_site_or_tokenless_post_is_refused(define: Define, queue: str) -> None:
    """No token, a wrong token, another Origin or Referer, Sec-Fetch-Site cross-site: 403, the job stays failed."""
    job_id = await failed_job(define, queue)
    path = f"/jobs/{job_id}/retry"
    async with http(dashboard(auth=acting)) as client:
        token = await csrf(client)
        attempts: list[tuple[dict[str, str], dict[str, str]]] = [
            ({}, {"Origin": ORIGIN}),
            ({"csrf_token": "x" * 43}, {"Origin": ORIGIN}),
            ({"csrf_token": token}, {"Origin": "https://evil.example"}),
            ({"csrf_token": token}, {"Referer": "https://evil.example/page"}),
            ({"csrf_token": token}, {"Origin": "null"}),
            ({"csrf_token": token}, {"Sec-Fetch-Site": "cross-site", "Origin": ORIGIN}),
        ]
        for data, headers in attempts:
            refused = await client.post(path, data=data, headers=headers)
            assert refused.status_code == 403, (data, headers)
            assert "cross-site" in refused.text
        info = await admin.get_job(job_id)
        assert info is not None and info.status is JobStatus.FAILED
        by_header = await client.post(path, headers={"X-CSRF-Token": token, "Sec-Fetch-Site": "same-origin"})
        assert by_header.status_code == 303
    async with http(dashboard(auth=acting)) as stranger:  # a token from another browser is no good
        assert (await stranger.post(path, data={"csrf_token": token}, headers={"Origin": ORIGIN})).status_code == 403


async def test_the_csrf_cookie_and_security_headers_are_set(queue: str) -> None:
    """HttpOnly, SameSite=Strict, scoped to the mount; a strict CSP, no framing, no caching of pages."""
    async with http(dashboard()) as client:
        page = await client.get("/")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"{CSRF_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/;" in cookie
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"


async def test_user_data_is_escaped_on_every_page_that_shows_it(define: Define, queue: str) -> None:
    """A payload, result, error message and traceback holding <script> show as text and never as a tag."""
    job_id = await failed_job(define, queue, note=XSS)
    done = await define(_ok).trigger({"n": 2, "note": XSS})
    await run_burst([queue])
    pages = [f"/jobs/{job_id}", f"/jobs/{done.id}", f"/queues/{queue}?state=failed", f"/queues/{queue}?state=completed"]
    async with http(dashboard(auth=acting)) as client:
        for path in pages:
            text = (await client.get(path)).text
            assert XSS not in text, path
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, path
        shown = (await client.get(f"/search?id={XSS}", follow_redirects=True)).text
        assert XSS not in shown and "&lt;script&gt;" in shown


async def test_an_unknown_job_queue_page_or_job_name_is_a_404_page(queue: str) -> None:
    """HTML pages saying what is missing, never a traceback."""
    async with http(dashboard(auth=acting)) as client:
        cases = {
            "/jobs/no-such-job": "No such job",
            f"/queues/{queue}-missing": "No such queue",
            "/trigger/no-such-job": "No such job",
            "/no/such/page": "Not found",
        }
        for path, title in cases.items():
            page = await client.get(path)
            assert page.status_code == 404, path
            assert title in page.text and "Traceback" not in page.text
        assert (await post(client, f"/queues/{queue}-missing/pause")).status_code == 404
        wrong_method = await post(client, "/workers")
        assert wrong_method.status_code == 405 and "Method not allowed" in wrong_method.text
        assert (await post(client, "/schedules/no-such-schedule/run-now")).status_code == 404


async def test_the_overview_shows_each_queue_its_counts_chart_and_workers(
    define: Define, start_worker: StartWorker, queue: str
) -> None:
    """Counts per state, the paused state, a chart of the last hour, the live worker; the partial is the live part."""
    ok = define(_ok)
    await ok.trigger_many([{"n": n} for n in range(3)])
    await run_burst([queue])
    await ok.trigger({"n": 9})
    await ok.trigger({"n": 10}, delay=600)
    await admin.pause(queue)
    app = dashboard()
    try:
        async with http(app) as client:
            page = (await client.get("/")).text
            row = re.search(rf'<tr data-queue="{queue}">(.*?)</tr>', page, re.DOTALL)
            assert row is not None
            counts = dict(re.findall(r'data-count="(\w+)">([\d,]+)<', row[1]))
            assert counts == {"queued": "1", "scheduled": "1", "running": "0", "completed": "3", "failed": "0"}
            assert "pill-paused" in row[1] and "<svg" in row[1] and "3 completed, 0 failed" in row[1]
            worker = await start_worker()
            partial = await wait_until(lambda: _partial_naming(client, worker.id.split(":")[1]), what="worker shown")
            assert "<html" not in partial and 'id="overview-live"' in partial
    finally:
        await admin.resume(queue)


async def _partial_naming(client: Any, text: str) -> str | None:
    body: str = (await client.get("/?partial=1")).text
    return body if f"pid {text}" in body else None


async def test_a_queue_page_lists_jobs_by_state_filters_by_name_and_pages(define: Define, queue: str) -> None:
    """Tabs with counts, the rows of the state asked, a name filter with its bounded-window note, pages."""
    a, b = define(_ok), define(_ok)
    for n in range(30):
        await (a if n % 3 else b).trigger({"n": n})
    async with http(dashboard()) as client:
        first = (await client.get(f"/queues/{queue}")).text
        assert first.count('href="/jobs/') == 25 and "Next →" in first
        second = (await client.get(f"/queues/{queue}?page=2")).text
        assert second.count('href="/jobs/') == 5 and "← Previous" in second
        filtered = (await client.get(f"/queues/{queue}?job={b.name}")).text
        assert filtered.count('href="/jobs/') == 10 and "Showing matches for" in filtered
        assert f"<strong>{b.name}</strong> among the newest 30 queued jobs" in filtered
        bad = await client.get(f"/queues/{queue}?state=bogus&page=x")
        assert bad.status_code == 200 and 'aria-current="page">queued' in bad.text


async def test_the_job_page_shows_its_state_payload_error_traceback_and_attempts(define: Define, queue: str) -> None:
    """Every field of a failed job, the Retry and Remove buttons it allows, the attempts table."""
    job_id = await failed_job(define, queue, note="boom")
    async with http(dashboard(auth=acting)) as client:
        text = (await client.get(f"/jobs/{job_id}")).text
    assert "pill-failed" in text and "UnrecoverableError" in text and "bad item 1: boom" in text
    assert 'class="traceback"' in text and "Traceback (most recent call last)" in text
    assert "&#34;note&#34;: &#34;boom&#34;" in text or '"note": "boom"' in text.replace("&#34;", '"')
    assert "Retry</button>" in text and "Remove</button>" in text
    assert re.search(r"<td class=\"num\">1</td>\s*<td><span class=\"pill pill-failed\">failed", text)
    assert "hx-trigger" not in text.split('id="job-live"')[1].split(">")[0]  # a finished job stops polling


async def test_the_trigger_form_is_built_from_the_payload_schema_and_validates_on_the_server(
    define: Define, queue: str, redis: Redis
) -> None:
    """Inputs per property; a bad payload is shown next to its fields (422) and enqueues nothing; a good one does."""

    async def signup(payload: Signup) -> None:
        return None

    job = define(signup)
    path = f"/trigger/{job.name}"
    async with http(dashboard(auth=acting)) as client:
        form = (await client.get(path)).text
        assert (
            'name="email"' in form and 'name="seats" value="1"' in form and 'type="checkbox" name="newsletter"' in form
        )
        assert '<option value="pro"' in form and '<textarea id="f-5" name="tags"' in form

        bad = await post(client, path, {"email": "not-an-email", "seats": "many", "tags": "[1,"})
        assert bad.status_code == 422 and "not valid JSON" in bad.text
        assert await redis.zcard(keys.queue(queue)) == 0
        bad = await post(client, path, {"email": "not-an-email", "seats": "many", "tags": "[]"})
        assert bad.status_code == 422
        errors = dict(re.findall(r'data-field="(\w+)">.*?<p class="field-error">([^<]+)</p>', bad.text, re.DOTALL))
        assert "should match pattern" in errors["email"] and "valid integer" in errors["seats"]
        assert 'value="not-an-email"' in bad.text  # what was typed is kept
        assert await redis.zcard(keys.queue(queue)) == 0

        good = await post(client, path, {"email": "ada@example.com", "seats": "3", "plan": "pro", "newsletter": "on"})
        assert good.status_code == 303 and good.headers["location"].endswith("?done=triggered")
        job_id = good.headers["location"].split("/jobs/")[1].split("?")[0]
        info = await admin.get_job(job_id)
        assert info is not None and info.payload == {
            "email": "ada@example.com",
            "seats": 3,
            "plan": "pro",
            "newsletter": True,
            "tags": [],
            "note": None,
        }
        later = await post(client, path, {"email": "b@example.com", "_delay": "5m", "_job_id": "mine"})
        assert later.headers["location"] == "/jobs/mine?done=triggered"
        taken = await post(client, path, {"email": "b@example.com", "_job_id": "mine"})
        assert taken.headers["location"] == "/jobs/mine?done=taken"
        bad_delay = await post(client, path, {"email": "b@example.com", "_delay": "soon"})
        assert bad_delay.status_code == 422 and "delay: expected a duration" in bad_delay.text
    info = await admin.get_job("mine")
    assert info is not None and info.status is JobStatus.SCHEDULED


async def test_a_payload_that_is_not_an_object_gets_one_json_box(define: Define, queue: str) -> None:
    """A list payload: one textarea for the whole payload, pydantic's errors under it."""

    async def total(payload: list[int]) -> int:
        return sum(payload)

    job = define(total)
    async with http(dashboard(auth=acting)) as client:
        assert 'name="__payload__"' in (await client.get(f"/trigger/{job.name}")).text
        bad = await post(client, f"/trigger/{job.name}", {"__payload__": '[1, "x"]'})
        assert bad.status_code == 422 and "as an integer (at 1)" in bad.text
        good = await post(client, f"/trigger/{job.name}", {"__payload__": "[1, 2]"})
        assert good.status_code == 303


async def test_no_redis_password_appears_in_any_page(
    define: Define, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The footer shows REDIS_URL with the password replaced by ***, and no page holds the password."""
    password = "pa55-w0rd-never-shown"
    with redis_server(tmp_path / "redis", password=password) as server:
        monkeypatch.setenv("REDIS_URL", server.admin_url)
        get_settings.cache_clear()
        job_id = await failed_job(define, "secret-queue")
        ok = define(_ok, queue="secret-queue")
        async with http(dashboard(auth=acting)) as client:
            for path in (
                "/",
                "/queues/secret-queue?state=failed",
                f"/jobs/{job_id}",
                "/workers",
                f"/trigger/{ok.name}",
            ):
                text = (await client.get(path)).text
                assert password not in text, path
                assert ":***@127.0.0.1" in text, path


async def test_redis_unreachable_is_a_503_page_naming_the_redacted_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a traceback: the page says Redis is unreachable; a polling request keeps what it showed."""
    monkeypatch.setenv("REDIS_URL", f"redis://:pw-n0t-shown@127.0.0.1:{closed_port()}/0")
    get_settings.cache_clear()
    async with http(dashboard()) as client:
        page = await client.get("/")
        partial = await client.get("/?partial=1")
    assert page.status_code == 503 and "Redis is unreachable" in page.text and "pw-n0t-shown" not in page.text
    assert partial.status_code == 503 and partial.headers["hx-reswap"] == "none"


async def test_mounted_under_a_prefix_every_link_and_cookie_stays_under_it(define: Define, queue: str) -> None:
    """Mounted at /ops/jobs in a Starlette app: links, form actions and the cookie path all carry the prefix."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    job_id = await failed_job(define, queue)
    app = Starlette(routes=[Mount("/ops/jobs", app=dashboard(auth=acting))])
    async with http(app) as client:
        page = await client.get(f"/ops/jobs/jobs/{job_id}")
        assert page.status_code == 200
        assert (
            f'action="/ops/jobs/jobs/{job_id}/retry"' in page.text
            and 'href="/ops/jobs/static/dashboard.css' in page.text
        )
        assert "Path=/ops/jobs;" in page.headers["set-cookie"]
        retried = await post(client, f"/ops/jobs/jobs/{job_id}/retry", page="/ops/jobs/")
        assert retried.headers["location"] == f"/ops/jobs/jobs/{job_id}?done=retried"


async def test_the_schedules_page_lists_each_schedule_and_runs_one_now(define: Define, queue: str) -> None:
    """Each schedule with its spec, zone and next run; Run now enqueues its job once (read-only: no
    button, 403); an unknown schedule is a 404 page."""
    seen: list[str] = []

    async def digest(payload: dict[str, str]) -> None:
        seen.append(payload["to"])

    digest_job = define(digest)
    schedule_id = f"{queue}-digest"
    await digest_job.schedule(schedule_id, Cron("0 8 * * mon-fri", tz="Europe/Paris"), payload={"to": "team"})
    async with http(dashboard()) as reader:
        listed = await reader.get("/schedules")
        assert f'data-schedule="{schedule_id}"' in listed.text and "0 8 * * mon-fri" in listed.text
        assert "Europe/Paris" in listed.text and "Run now" not in listed.text
        assert (await post(reader, f"/schedules/{schedule_id}/run-now")).status_code == 403
    async with http(dashboard(auth=acting)) as client:
        assert "Run now" in (await client.get("/schedules")).text
        ran = await post(client, f"/schedules/{schedule_id}/run-now", page="/schedules")
        assert ran.status_code == 303 and "done=ran-now" in ran.headers["location"]
        assert (await post(client, "/schedules/no-such-schedule/run-now")).status_code == 404
    await run_burst([queue])
    assert seen == ["team"]


async def test_a_job_id_with_url_characters_has_working_links_and_polling(define: Define, queue: str) -> None:
    """An id chosen by the app may hold ?, / and spaces: its page, its poll and its actions still address it."""
    job_id = "order 7?x/y"
    await define(_ok).trigger({"n": 1}, job_id=job_id)
    async with http(dashboard(auth=acting)) as client:
        listed = (await client.get(f"/queues/{queue}")).text
        assert 'href="/jobs/order%207%3Fx%2Fy"' in listed
        page = await client.get("/jobs/order%207%3Fx%2Fy")
        assert page.status_code == 200 and "order 7?x/y" in page.text
        assert 'hx-get="/jobs/order%207%3Fx%2Fy?partial=1"' in page.text
        assert (await client.get("/jobs/order%207%3Fx%2Fy?partial=1")).status_code == 200
        removed = await post(client, "/jobs/order%207%3Fx%2Fy/remove")
    assert removed.status_code == 303 and await admin.get_job(job_id) is None


async def test_a_redis_error_from_any_read_is_a_503_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read that raises redis-py's own ConnectionError (not wrapped by the admin API) is reported like the rest."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    async def unreachable() -> set[str]:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(ops_admin, "paused_queues", unreachable)  # what the dashboard reads through
    async with http(dashboard()) as client:
        page = await client.get("/")
    assert page.status_code == 503 and "cannot reach Redis" in page.text and "Connection refused" in page.text


async def test_the_job_page_shows_progress_and_its_cancel_button_stops_the_job(
    define: Define, start_worker: StartWorker, queue: str
) -> None:
    """A running job's page shows its latest progress and a Cancel button; the POST stops it in its
    worker (retained as cancelled); a queued job is cancelled at once; a finished one is left alone."""
    started = asyncio.Event()

    async def files(payload: Item) -> None:
        await current_attempt().report_progress(0.4, message="3 of 7 files")
        started.set()
        await asyncio.sleep(60)

    job = define(files, attempts=3)
    running = await job.trigger({"n": 1})
    await start_worker()
    await started.wait()
    await wait_until(running.progress, what="progress stored")
    async with http(dashboard(auth=acting)) as client:
        text = (await client.get(f"/jobs/{running.id}")).text
        assert "Cancel</button>" in text and "Remove</button>" not in text
        assert '<progress max="1" value="0.4">' in text and "40% · 3 of 7 files" in text
        async with http(dashboard()) as read_only:
            assert "Cancel</button>" not in (await read_only.get(f"/jobs/{running.id}")).text
        cancelled = await post(client, f"/jobs/{running.id}/cancel")
        assert (cancelled.status_code, cancelled.headers["location"]) == (303, f"/jobs/{running.id}?done=cancelling")
        assert "being cancelled" in (await client.get(cancelled.headers["location"])).text
        await wait_until(running.record, what="the cancelled record")
        page = (await client.get(f"/jobs/{running.id}")).text
        assert "pill-cancelled" in page and "Cancel</button>" not in page
        again = await post(client, f"/jobs/{running.id}/cancel")
        assert again.headers["location"] == f"/jobs/{running.id}?done=not-cancelled"
        listed = (await client.get(f"/queues/{queue}?state=cancelled")).text
        assert running.id in listed
        missing = await post(client, "/jobs/no-such-job/cancel")
        assert missing.status_code == 404
    assert await running.status() is JobStatus.CANCELLED
