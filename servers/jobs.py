"""The jobs worker process.

    python -m servers.jobs [--queue NAME]... [--burst]   # every queue in one process (recommended)
    arq servers.jobs.WorkerSettings                      # arq's own worker, the JOBS_QUEUE queue

Job modules come from JOBS_MODULES; everything else from the environment or `.env`.
"""

from __future__ import annotations

import sys
from typing import Any


def __getattr__(name: str) -> Any:
    # Built on first access, so `python -m servers.jobs` does not need it and a bad setting
    # surfaces as one clear line from the command that asked for it.
    if name != "WorkerSettings":
        raise AttributeError(name)
    from jobs.arq_compat import wait_for_redis, worker_settings
    from jobs.errors import RedisUnavailableError, RedisURLError
    from jobs.process import StartupError, import_job_modules
    from jobs.settings import SettingsError, get_settings

    try:
        settings = get_settings()
        import_job_modules(settings)
        built = worker_settings(settings)
        wait_for_redis(settings)  # arq itself would end in a traceback
        return built
    except (SettingsError, StartupError, RedisURLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except RedisUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    from jobs.process import main

    sys.exit(main())
