"""structlog setup for worker processes: JSON lines or readable console output.

arq and redis use the standard library's logging; their records go through the same renderer
so a process prints one format. arq's per-job text lines are silenced: our events replace them.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, ClassVar, TextIO

import structlog
from pydantic_core import to_json

from ..settings import LogFormat, LogLevel
from . import output as log_output


def configure_logging(fmt: LogFormat = "console", level: LogLevel = "INFO", *, to: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to `to` (default stdout) in `fmt`, at `level`.

    The `jobs` command passes stderr: its stdout carries the command's output.
    """
    global _direct
    out = sys.stdout if to is None else to
    shared: list[Any] = [structlog.contextvars.merge_contextvars, _LevelAndTimestamp()]
    numeric = logging.getLevelNamesMapping()[level]
    stream = getattr(out, "buffer", None)  # None: a text-only stream (a test's StringIO)
    handler: logging.Handler
    if fmt == "json" and stream is not None:
        dumps = _native_dumps()
        renderer: Any = structlog.processors.JSONRenderer(serializer=dumps, default=_json_fallback)
        factory: Any = log_output.factory_for(stream)
        handler = log_output.BatchedLineHandler(log_output.writer_for(stream))
        stdlib_renderer: Any = structlog.processors.JSONRenderer()
    else:
        if fmt == "json":
            renderer = structlog.processors.JSONRenderer()
        else:
            renderer = structlog.dev.ConsoleRenderer(colors=out.isatty(), sort_keys=False)
        factory = structlog.PrintLoggerFactory(out)
        handler = logging.StreamHandler(out)
        stdlib_renderer = renderer
    processors = [*shared, structlog.processors.format_exc_info if fmt == "json" else _readable_error, renderer]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    _direct = None
    if fmt == "json" and stream is not None and _STRUCTLOG_VARS is not None:
        _direct = _DirectLines(processors, dumps, numeric, log_output.writer_for(stream))
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(processors=[*shared, _drop_meta, stdlib_renderer]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    logging.getLogger("arq").handlers.clear()  # arq's CLI gives it a text handler: one format only
    logging.getLogger("asyncio").setLevel(max(numeric, logging.INFO))  # not its "Using selector" at DEBUG
    silence_arq()


def configure_for_tests(level: LogLevel = "INFO") -> None:
    """Readable structlog lines in a test run (the pytest plugin, when the app configured none):
    console lines at `level` on the stdout pytest captures, a failure's traceback printed below
    its line instead of a dict repr full of `\\n`. The stdlib's logging is left to pytest."""
    threshold = logging.getLevelNamesMapping()[level]

    def below_level(_: Any, method_name: str, event_dict: Any) -> Any:
        # A processor rather than a filtering logger: `structlog.testing.capture_logs()`, which
        # replaces the processors, still sees every level.
        if _METHOD_LEVELS.get(method_name, logging.INFO) < threshold:
            raise structlog.DropEvent
        return event_dict

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            below_level,
            _LevelAndTimestamp(),
            _readable_error,
            structlog.dev.ConsoleRenderer(colors=False, sort_keys=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET),
        logger_factory=structlog.PrintLoggerFactory(),  # the sys.stdout of the moment: pytest's capture
        cache_logger_on_first_use=False,
    )


_METHOD_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "msg": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


class _DirectLines:
    """The JSON chain configured above, run without structlog's dispatch, for the worker's own
    per-job events (`jobs.events`): the same processors, so the same line, for less.

    Logging an event captures its time and the task's context (a constant-time snapshot) and
    queues it with the writer, which renders it with its batch just before writing it
    (`log_output`): structlog's context merge, the level and timestamp, and the JSON then run
    a few dozen lines in a row instead of once between two jobs, for half the cost. The line is
    the one structlog would have printed when the event was logged, provided bound values are
    not mutated in the meantime (a fraction of a millisecond).

    Only structlog's own context variables are read, not every variable of the task. Valid only
    while structlog still has this configuration: if anything reconfigures it, the events go
    through structlog again.
    """

    def __init__(
        self, processors: list[Any], dumps: Callable[..., bytes], level: int, writer: log_output.BatchedLineWriter
    ) -> None:
        self._processors = processors
        self._chain = tuple(processors)  # structlog.testing swaps the list's items in place
        merge, self._stamper, exc_info, _ = self._chain  # as `configure_logging` builds it, JSON by `dumps`
        assert merge is structlog.contextvars.merge_contextvars and exc_info is structlog.processors.format_exc_info
        self._dumps = dumps
        self.level = level
        self._defer = writer.defer
        self._bound: tuple[tuple[str, contextvars.ContextVar[Any]], ...] = ()

    def current(self) -> bool:
        processors = _configured_processors()
        return processors is self._processors and processors[-1] is self._chain[-1]

    def emit(self, method_name: str, event: str, fields: dict[str, Any]) -> None:
        """Queue one line, built as structlog builds it: call fields, then the event, then the chain."""
        fields["event"] = event
        self._defer((self._render, (method_name, fields, time.time_ns(), contextvars.copy_context())))

    def _render(self, logged: tuple[str, dict[str, Any], int, contextvars.Context]) -> bytes:
        method_name, line, when_ns, context = logged
        get = context.get
        for key, var in self._bound_keys():
            if key not in line:  # a call's field wins
                value = get(var, Ellipsis)
                if value is not Ellipsis:  # Ellipsis: unbound
                    line[key] = value
        self._stamper.stamp(method_name, line, when_ns)
        if "exc_info" in line:
            line = structlog.processors.format_exc_info(None, method_name, line)  # type: ignore[assignment]
        return self._dumps(line, default=_json_fallback)

    def _bound_keys(self) -> tuple[tuple[str, contextvars.ContextVar[Any]], ...]:
        """Every key structlog ever bound, with its variable: structlog only ever adds to them."""
        variables = _STRUCTLOG_VARS
        assert variables is not None  # else `configure_logging` sets up no direct path
        if len(self._bound) != len(variables):
            self._bound = tuple((name[_PREFIX_LENGTH:], var) for name, var in list(variables.items()))
        return self._bound


# structlog keeps one ContextVar per key ever bound, by prefixed name (`bind_contextvars`), and its
# configuration in one object; reading both directly costs a fraction of the public calls, which
# the per-job path makes thousands of times a second. Without the first, JSON events go through
# structlog; without the second, through its public `get_config()`.
_STRUCTLOG_VARS: dict[str, Any] | None = getattr(structlog.contextvars, "_CONTEXT_VARS", None)
_PREFIX_LENGTH = len(structlog.contextvars.STRUCTLOG_KEY_PREFIX)
_STRUCTLOG_CONFIG: Any = getattr(structlog._config, "_CONFIG", None)


def _configured_processors() -> Any:
    if _STRUCTLOG_CONFIG is None:  # pragma: no cover
        return structlog.get_config()["processors"]
    return _STRUCTLOG_CONFIG.default_processors


_direct: _DirectLines | None = None


def direct_lines() -> _DirectLines | None:
    """The direct path for JSON lines, if `configure_logging` set one up and it is still current."""
    direct = _direct
    return direct if direct is not None and direct.current() else None


class _LevelAndTimestamp:
    """`level` and an ISO-8601 UTC `timestamp` in one step, the date formatted once per second.

    structlog's TimeStamper and add_log_level cost about as much as rendering the line; these
    lines are on the worker's per-job path.
    """

    _ALIASES: ClassVar[dict[str, str]] = {"warn": "warning", "exception": "error", "msg": "info"}

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, _: Any, method_name: str, event_dict: Any) -> Any:
        return self.stamp(method_name, event_dict, time.time_ns())

    def stamp(self, method_name: str, event_dict: Any, now_ns: int) -> Any:
        """The level, and `now_ns` (nanoseconds since the epoch) as the timestamp."""
        second = now_ns // 1_000_000_000
        if second != self._second:
            self._second, self._prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        event_dict["level"] = self._ALIASES.get(method_name, method_name)
        event_dict["timestamp"] = "%s.%06dZ" % (self._prefix, now_ns // 1000 % 1_000_000)  # noqa: UP031 - faster
        return event_dict


def _native_dumps() -> Any:
    """A JSON serializer in native code: orjson when installed (the `fast` extra), else
    pydantic-core's; either costs a fifth of the standard library's `json.dumps`."""
    try:
        import orjson
    except ImportError:
        return _pydantic_dumps
    return orjson.dumps


def _json_fallback(value: Any) -> Any:
    """What structlog's JSONRenderer does with a value JSON cannot hold: its `__structlog__()`, else its repr."""
    as_log = getattr(value, "__structlog__", None)
    return as_log() if as_log is not None else repr(value)


def _pydantic_dumps(obj: Any, default: Any = None, **_: Any) -> bytes:
    return to_json(obj, fallback=default or repr, inf_nan_mode="null")  # NaN as orjson writes it: null, JSON


def silence_arq() -> None:
    """arq's info lines ("→ job(...)", "Starting worker") duplicate our events; keep its warnings.

    A filter as well as a level: arq's CLI calls `logging.config.dictConfig` after importing the
    worker settings, which resets the level of every existing `arq.*` logger but keeps its filters.
    """
    for name in ("arq.worker", "arq.connections", "arq.jobs"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        if _warnings_only not in logger.filters:
            logger.addFilter(_warnings_only)


def _warnings_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def _drop_meta(_: Any, __: str, event_dict: Any) -> Any:
    event_dict.pop("_record", None)
    event_dict.pop("_from_structlog", None)
    return event_dict


def _readable_error(_: Any, __: str, event_dict: Any) -> Any:
    """Console only: `error=Type: message` on the line, and the traceback printed below it."""
    error = event_dict.get("error")
    if isinstance(error, dict) and "type" in error:
        event_dict["error"] = f"{error['type']}: {error.get('message', '')}"
        if error.get("traceback"):
            event_dict["exception"] = error["traceback"]
    return event_dict
