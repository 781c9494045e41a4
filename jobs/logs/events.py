"""The worker's per-job events: one line per finished attempt at INFO (job.completed, job.retrying,
job.failed), and job.started at DEBUG.

They are ordinary structlog events. When `configure_logging` set up JSON lines and structlog
still has that configuration, they skip structlog's dispatch and are rendered by the same chain
directly: at thousands of jobs a second that dispatch was a tenth of the worker's time.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

from . import configure as logs

_structlog = structlog.get_logger("jobs")


class EventLogger:
    """`info`, `warning` and `error` with structlog's signature: an event name and its fields."""

    def debug(self, event: str, **fields: Any) -> None:
        self._emit("debug", logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit("info", logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit("warning", logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit("error", logging.ERROR, event, fields)

    @staticmethod
    def _emit(method_name: str, level: int, event: str, fields: dict[str, Any]) -> None:
        direct = logs.direct_lines()
        if direct is None:
            getattr(_structlog, method_name)(event, **fields)
        elif level >= direct.level:
            direct.emit(method_name, event, fields)


log = EventLogger()
