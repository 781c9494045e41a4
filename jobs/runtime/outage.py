"""A Redis outage as one worker sees it, so its end is logged once: `worker.redis_recovered`."""

from __future__ import annotations

import time

import structlog

log = structlog.get_logger("jobs")


class Outage:
    """Shared by a worker's queue runners and its subscription.

    A runner's turn that fails on Redis (logged as `worker.redis_unavailable`) begins it; the
    first round trip that succeeds after that, a runner's turn or a new subscription, ends it
    and logs how long Redis was unusable. Several runners failing at once make one outage.
    """

    def __init__(self) -> None:
        self._since: float | None = None

    def began(self) -> None:
        if self._since is None:
            self._since = time.monotonic()

    def ended(self) -> None:
        since, self._since = self._since, None
        if since is not None:
            log.info("worker.redis_recovered", down_ms=int((time.monotonic() - since) * 1000))
