"""`jobs dashboard`: the dashboard alone, served by uvicorn (loopback unless told otherwise)."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator

import uvicorn

from ..redaction import redact_url
from ..settings import get_settings
from .app import dashboard


class _Server(uvicorn.Server):
    """uvicorn's server, ending with exit 0 on SIGINT/SIGTERM like `jobs worker` (uvicorn itself
    raises the signal again once it has shut down, so the process would die by it)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run(*, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve until SIGINT/SIGTERM. Raises ValueError if only one of the credentials is set."""
    app = dashboard()
    settings = get_settings()
    mode = (
        f"sign in as {settings.jobs_dashboard_user}"
        if settings.jobs_dashboard_user
        else "read-only: set JOBS_DASHBOARD_USER and JOBS_DASHBOARD_PASSWORD to act"
    )
    shown = f"[{host}]" if ":" in host else host
    print(
        f"jobs dashboard on http://{shown}:{port}/ ({mode}), Redis at {redact_url(settings.redis_url)}", file=sys.stderr
    )
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", server_header=False)
    _Server(config).run()
