"""`arq jobs.arq_worker.WorkerSettings`: arq's own worker running the jobs of JOBS_MODULES, from
any project (the queue JOBS_QUEUE; `jobs worker` runs every queue, faster: see `arq_compat`).

The class is built on first access, when arq's CLI imports it: the settings are read, the job
modules imported and Redis awaited then, and a problem ends in one line on stderr (exit 2 for a
bad setting, 1 for Redis unreachable) instead of arq's traceback.
"""

from __future__ import annotations

import sys
from typing import Any


def __getattr__(name: str) -> Any:
    if name != "WorkerSettings":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .errors import RedisUnavailableError, RedisURLError
    from .runtime.arq_compat import wait_for_redis, worker_settings
    from .runtime.process import StartupError, import_job_modules
    from .settings import SettingsError, get_settings

    try:
        settings = get_settings()
        import_job_modules(settings)
        built = worker_settings(settings)
        wait_for_redis(settings)  # arq itself would end in a traceback
    except (SettingsError, StartupError, RedisURLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except RedisUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    globals()["WorkerSettings"] = built  # built once: a second access finds it
    return built
