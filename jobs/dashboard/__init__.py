"""The web dashboard: every queue, job and worker in a browser; retry, remove, pause and trigger.

`from jobs.dashboard import dashboard`, then `app.mount("/jobs", dashboard(auth=...))` in FastAPI or
Starlette; or `jobs dashboard` to serve it alone. Server-rendered (Starlette, Jinja2) with htmx,
vendored, for the pages that update in place: no JavaScript build, no CDN. Needs the extra:
`pip install 'jobs[dashboard]'`.
"""

from .app import dashboard

__all__ = ["dashboard"]
