"""HTML out: the Jinja environment (autoescape on: payloads, results and errors are user data),
its filters, and the links between pages, relative to wherever the dashboard is mounted."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse

from .. import text as cli_format
from ..clock import now_ms
from ..limits import describe
from ..redaction import redact_url
from ..settings import get_settings

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
# htmx's own settings: no eval, no script tags from swapped HTML, no inline styles (the CSP forbids
# them), no snapshots of pages (they hold payloads) in the browser's storage, and 4xx/5xx pages
# (a 404, a refused action, a form with errors) are shown like any other page.
HTMX_CONFIG = {
    "allowEval": False,
    "allowScriptTags": False,
    "includeIndicatorStyles": False,
    "historyCacheSize": 0,
    "refreshOnHistoryMiss": True,
    "selfRequestsOnly": True,
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[2345]..", "swap": True, "error": False},
    ],
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def _version() -> str:
    try:
        return importlib.metadata.version("jobs")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _asset_version() -> str:
    digest = hashlib.sha1()
    for path in sorted(STATIC.iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def timestamp(ms: int | None) -> str:
    if not ms:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def ago(ms: int | None, now: int | None = None) -> str:
    """`12s ago`, `in 3m`: how far `ms` is from now, roughly."""
    if not ms:
        return ""
    delta = ((now or now_ms()) - ms) / 1000
    ahead = delta < 0
    seconds = abs(delta)
    if seconds < 1:
        return "now"
    if seconds < 60:
        text = f"{seconds:.0f}s"
    elif seconds < 3600:
        text = f"{seconds // 60:.0f}m"
    elif seconds < 86400:
        text = f"{seconds // 3600:.0f}h {seconds % 3600 // 60:.0f}m"
    else:
        text = f"{seconds // 86400:.0f}d"
    return f"in {text}" if ahead else f"{text} ago"


def span(start_ms: int | None, end_ms: int | None) -> str:
    """How long from `start_ms` to `end_ms` (or now), as 250ms, 1.5s, 3m."""
    if not start_ms:
        return ""
    ms = (end_ms or now_ms()) - start_ms
    if ms < 1000:
        return f"{max(ms, 0)}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    return cli_format.duration(ms // 1000 * 1000)


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=False)


def preview(value: Any, width: int = 80) -> str:
    return "" if value is None else cli_format.short(value, width)


def number(value: int) -> str:
    return f"{value:,}"


class Links:
    """Paths of the dashboard's pages and actions under `base` (the mount point, '' at the root)."""

    def __init__(self, base: str, assets: str) -> None:
        self.base = base.rstrip("/")
        self._assets = assets

    def home(self) -> str:
        return self.base + "/"

    def queue(self, queue: str, **params: Any) -> str:
        query = {k: v for k, v in params.items() if v not in (None, "") and not (k == "page" and v == 1)}
        path = f"{self.base}/queues/{quote(queue, safe='')}"
        return path + ("?" + urlencode(query) if query else "")

    def queue_action(self, queue: str, action: str) -> str:
        return f"{self.base}/queues/{quote(queue, safe='')}/{action}"

    def job(self, job_id: str) -> str:
        return f"{self.base}/jobs/{quote(job_id, safe='')}"

    def job_action(self, job_id: str, action: str) -> str:
        return f"{self.job(job_id)}/{action}"

    def trigger(self, name: str) -> str:
        return f"{self.base}/trigger/{quote(name, safe='')}"

    def workers(self) -> str:
        return self.base + "/workers"

    def schedules(self) -> str:
        return self.base + "/schedules"

    def schedule_run_now(self, schedule_id: str) -> str:
        return f"{self.base}/schedules/{quote(schedule_id, safe='')}/run-now"

    def search(self) -> str:
        return self.base + "/search"

    def static(self, name: str) -> str:
        return f"{self.base}/static/{name}?v={self._assets}"


class Renderer:
    def __init__(self, poll_s: float) -> None:
        self.poll_s = poll_s
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(ts=timestamp, ago=ago, span=span, pretty=pretty, preview=preview, number=number)
        self.env.globals.update(htmx_config=HTMX_CONFIG, version=_version(), limits=describe)
        self._assets = _asset_version()

    def links(self, request: Request) -> Links:
        return Links(request.scope.get("root_path", ""), self._assets)

    def page(self, request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """`template` with what every page shows (who may act, the CSRF token, the redacted Redis URL)."""
        state = request.state
        settings = get_settings()
        base = {
            "request": request,
            "links": self.links(request),
            "may_act": getattr(state, "may_act", False),
            "mode": getattr(state, "mode", "read-only"),
            "user": getattr(state, "user", None),
            "csrf": getattr(state, "csrf", ""),
            "redis": redact_url(settings.redis_url),
            "now": now_ms(),
            "poll_ms": int(self.poll_s * 1000),
            "partial": request.query_params.get("partial") == "1",
            "live_url": _live_url(request),
            "flash": None,
        }
        html = self.env.get_template(template).render({**base, **context})
        return HTMLResponse(html, status_code=status_code)


def _live_url(request: Request) -> str:
    """This page's URL for its polling requests: same path and query, plus partial=1."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("partial", "done", "n", "skipped")]
    raw = request.scope.get("raw_path")  # as the browser sent it: an id's %2F or %3F stays encoded
    path = raw.decode("latin-1") if isinstance(raw, bytes) else quote(request.url.path)
    return path + "?" + urlencode([*params, ("partial", "1")])
