"""This repository's worker entry points (not installed with the library, so a project's own
`servers` package is never shadowed; projects use the commands on the right):

    python -m servers.jobs [--queue NAME]... [--burst]   # = jobs worker / python -m jobs worker
    arq servers.jobs.WorkerSettings                      # = arq jobs.arq_worker.WorkerSettings

Job modules come from JOBS_MODULES; everything else from the environment or `.env`.
"""

from __future__ import annotations

import sys
from typing import Any


def __getattr__(name: str) -> Any:
    if name != "WorkerSettings":  # built on first access, as in jobs.arq_worker
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from jobs import arq_worker

    return arq_worker.WorkerSettings


if __name__ == "__main__":
    from jobs.runtime.process import main

    sys.exit(main())
