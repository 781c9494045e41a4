"""`dashboard()`: the ASGI app, its routes, and the guard every request passes first.

The guard decides who may act (see `access`), hands out the CSRF cookie and sets the security
headers (a strict Content-Security-Policy: scripts from the package only, no inline script or
style). Redis trouble becomes a 503 page naming the redacted URL; an unknown page a 404 page.
"""

from __future__ import annotations

import structlog
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import RedisUnavailableError
from ..settings import get_settings
from ..store.connection import as_jobs_error
from .access import CSRF_COOKIE, REALM, Access, Auth, LoginRequired, csrf_token
from .actions import Actions
from .directory import QueueDirectory
from .pages import Pages
from .render import CSP, STATIC, Renderer

log = structlog.get_logger("jobs")


def dashboard(
    auth: Auth | None = None, *, poll_seconds: float = 1.0, rescan_queues_seconds: float = 300.0
) -> Starlette:
    """The dashboard as an ASGI app: `app.mount("/jobs", dashboard(auth=...))` in FastAPI or Starlette.

    `auth(request)` (sync or async) says whether a request may act (retry, remove, pause, resume,
    trigger): plug in the app's own session check. Without it, HTTP basic credentials from
    JOBS_DASHBOARD_USER / JOBS_DASHBOARD_PASSWORD guard every page; with neither, the dashboard is
    read-only. Pages update themselves every `poll_seconds`; queues only Redis knows are looked
    for every `rescan_queues_seconds` (a SCAN), in the background.
    """
    settings = get_settings()
    password = settings.jobs_dashboard_password
    access = Access(auth, settings.jobs_dashboard_user, password.get_secret_value() if password else None)
    renderer = Renderer(poll_seconds)
    directory = QueueDirectory(rescan_queues_seconds)
    pages, actions = Pages(renderer, directory), Actions(renderer)
    routes = [
        Route("/", pages.overview, name="overview"),
        Route("/queues/{queue:path}/pause", actions.pause, methods=["POST"]),
        Route("/queues/{queue:path}/resume", actions.resume, methods=["POST"]),
        Route("/queues/{queue:path}/retry-failed", actions.retry_failed, methods=["POST"]),
        Route("/queues/{queue:path}", pages.queue, name="queue"),
        Route("/jobs/{job_id:path}/retry", actions.retry, methods=["POST"]),
        Route("/jobs/{job_id:path}/remove", actions.remove, methods=["POST"]),
        Route("/jobs/{job_id:path}/cancel", actions.cancel, methods=["POST"]),
        Route("/jobs/{job_id:path}", pages.job, name="job"),
        Route("/trigger/{job_name:path}", actions.trigger, methods=["GET", "POST"]),
        Route("/schedules/{schedule_id:path}/run-now", actions.run_schedule_now, methods=["POST"]),
        Route("/schedules", pages.schedules, name="schedules"),
        Route("/workers", pages.workers, name="workers"),
        Route("/search", pages.search, name="search"),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        if status == 404:
            return renderer.page(request, "error.html", 404, title="Not found", message="There is no such page.")
        title = "Method not allowed" if status == 405 else "Bad request"
        return renderer.page(request, "error.html", status, title=title, message=str(getattr(exc, "detail", "")))

    async def redis_down(request: Request, exc: Exception) -> Response:
        error = exc if isinstance(exc, RedisUnavailableError) else as_jobs_error(get_settings().redis_url, exc)
        if error is None:  # a Redis error that is not an outage: a bug, reported as one
            return await failed(request, exc)
        response = renderer.page(request, "error.html", 503, title="Redis is unreachable", message=str(error))
        if request.query_params.get("partial") == "1":
            response.headers["HX-Reswap"] = "none"  # keep showing the last data; the next poll tries again
        return response

    async def failed(request: Request, exc: Exception) -> Response:
        log.error("dashboard.error", path=request.url.path, exc_info=exc)
        response = renderer.page(
            request, "error.html", 500, title="Something went wrong", message="The error is in the server's log."
        )
        if request.query_params.get("partial") == "1":
            response.headers["HX-Reswap"] = "none"
        return response

    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, access=access)],
        exception_handlers={
            HTTPException: http_error,
            RedisUnavailableError: redis_down,
            RedisError: redis_down,  # a read that `reports_redis_errors` does not wrap
            Exception: failed,
        },
    )
    app.state.directory = directory  # for tests: `await app.state.directory.rescan()`
    return app


class Guard:
    """Who may act, the CSRF cookie, security headers; a 401 challenge under basic auth."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        root = scope.get("root_path", "")
        static = request.url.path.startswith(root + "/static/")
        try:
            may_act = await self.access.may_act(request)
        except LoginRequired:
            if not static:
                await _challenge(scope, receive, send)
                return
            may_act = False
        token, new = csrf_token(request)
        state = scope.setdefault("state", {})
        state.update(may_act=may_act, mode=self.access.mode, csrf=token, user=self.access.user)
        secure = request.url.scheme == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and not static:
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cache-control", b"no-store"),
                ]
                if new:
                    cookie = f"{CSRF_COOKIE}={token}; Path={root or '/'}; HttpOnly; SameSite=Strict"
                    headers.append((b"set-cookie", (cookie + ("; Secure" if secure else "")).encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _challenge(scope: Scope, receive: Receive, send: Send) -> None:
    response = Response(
        "Sign in to see the jobs dashboard.",
        status_code=401,
        headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"', "Cache-Control": "no-store"},
        media_type="text/plain",
    )
    await response(scope, receive, send)
