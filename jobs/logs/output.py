"""Where JSON log lines go: stdout, written once per event-loop iteration instead of once per line.

A worker logs a line or more per job; one `write` system call each cost more than the rest of the
job's bookkeeping when stdout is a file or a pipe (a container's log driver). Lines logged
during one iteration of the loop are joined and written together at the start of the next,
so they reach the stream within a fraction of a millisecond, in order. Off the loop (a thread,
plain sync code) a line is written at once. What is buffered is flushed at exit.

A line can also be queued unrendered (`defer`): what is needed to render it is captured when it
is logged, and it is rendered with the rest of its batch, in order, just before the write.
Rendering a few dozen lines in a row costs less than rendering each one between two jobs.

The buffer belongs to one event loop at a time, and only that loop's thread appends to it, so
a line logged on the loop takes no lock. A line from another thread is written at once, after
the buffer if its loop no longer runs (and so cannot flush it): each thread's lines stay in
order, and lines of different threads interleave as they were written.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

MAX_BUFFERED_LINES = 512

DeferredLine = tuple[Callable[[Any], bytes], Any]
"""A line to render at the write: `(render, what)`; `render(what)` gives its bytes."""


class BatchedLineWriter:
    """A structlog logger (every level method takes the rendered bytes) shared by a process."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.RLock()  # the stream, and the buffer once its loop stopped; a render may log
        self._loop: asyncio.AbstractEventLoop | None = None  # whose iteration is buffered
        self._lines: list[bytes | DeferredLine] = []  # not empty: a flush is scheduled on `_loop`
        atexit.register(self.flush)

    def msg(self, message: bytes | DeferredLine) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or loop is not self._loop:
            self._elsewhere(loop, message)
            return
        lines = self._lines
        if not lines:
            loop.call_soon(self.flush)
        lines.append(message)
        if len(lines) >= MAX_BUFFERED_LINES:
            self.flush()

    log = debug = info = warn = warning = error = err = critical = exception = fatal = failure = msg

    defer = msg
    """Queue a `DeferredLine` instead of bytes: it is rendered with its batch, just before the write."""

    def flush(self) -> None:
        """Write what is buffered: on the buffer's loop, or once that loop stopped."""
        with self._lock:
            pending, self._lines = self._lines, []
            self._write_locked(pending)

    def _elsewhere(self, loop: asyncio.AbstractEventLoop | None, message: bytes | DeferredLine) -> None:
        """A line off the buffer's loop: written now, unless its own loop can take the buffer over."""
        with self._lock:
            owner = self._loop
            if owner is not None and owner.is_running():  # another thread's loop: leave its lines to it
                self._write_locked([message])
                return
            pending, self._lines = self._lines, []  # its loop stopped (or never ran): they go first
            if loop is None:
                self._write_locked([*pending, message])
                return
            self._write_locked(pending)
            self._loop = loop
            self._lines.append(message)
            loop.call_soon(self.flush)

    def _write_locked(self, pending: list[bytes | DeferredLine]) -> None:
        if not pending:
            return
        lines = [line if line.__class__ is bytes else _render(line) for line in pending]  # type: ignore[arg-type]
        lines.append(b"")
        data = b"\n".join(lines)
        try:
            self._stream.write(data)
            self._stream.flush()
        except (OSError, ValueError):  # stdout closed or gone (a closed pipe at exit): nothing to do
            pass


def _render(line: DeferredLine) -> bytes:
    """A deferred line's bytes; a line that fails to render is replaced by one that says why."""
    render, what = line
    try:
        return render(what)
    except Exception as exc:  # noqa: BLE001 - one bad line must not cost the batch
        reason = json.dumps(f"{type(exc).__name__}: {exc}")
        return b'{"event":"log.render_failed","level":"error","error":%s}' % reason.encode()


class BatchedLineHandler(logging.Handler):
    """A stdlib logging handler (arq's and redis' records) that writes through the same batch."""

    def __init__(self, writer: BatchedLineWriter) -> None:
        super().__init__()
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.writer.msg(self.format(record).encode("utf-8", "backslashreplace"))
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


_writers: dict[int, BatchedLineWriter] = {}


def writer_for(stream: BinaryIO) -> BatchedLineWriter:
    """One writer per stream, so every logger of the process shares one buffer and one order."""
    writer = _writers.get(id(stream))
    if writer is None or writer._stream is not stream:
        writer = _writers[id(stream)] = BatchedLineWriter(stream)
    return writer


def factory_for(stream: BinaryIO) -> Any:
    """A structlog logger factory returning the shared writer of `stream`."""
    writer = writer_for(stream)
    return lambda *_: writer
