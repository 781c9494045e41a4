"""Where JSON log lines go: stdout, written once per event-loop iteration instead of once per line.

A worker logs a line or more per job; one `write` system call each cost more than the rest of the
job's bookkeeping when stdout is a file or a pipe (a container's log driver). Lines logged
during one iteration of the loop are joined and written together at the start of the next,
so they reach the stream within a fraction of a millisecond, in order. Off the loop (a thread,
plain sync code) a line is written at once. What is buffered is flushed at exit.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from typing import Any, BinaryIO

MAX_BUFFERED_LINES = 512


class BatchedLineWriter:
    """A structlog logger (every level method takes the rendered bytes) shared by a process."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lines: list[bytes] = []
        self._lock = threading.Lock()
        self._flush_scheduled_on: asyncio.AbstractEventLoop | None = None
        atexit.register(self.flush)

    def msg(self, message: bytes) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self._lines.append(message)
            if loop is None or len(self._lines) >= MAX_BUFFERED_LINES:
                self._write_locked()
            elif self._flush_scheduled_on is not loop:  # also when a closed loop never ran its flush
                self._flush_scheduled_on = loop
                loop.call_soon(self.flush)

    log = debug = info = warn = warning = error = err = critical = exception = fatal = failure = msg

    def flush(self) -> None:
        with self._lock:
            self._write_locked()

    def _write_locked(self) -> None:
        self._flush_scheduled_on = None
        if not self._lines:
            return
        self._lines.append(b"")
        data = b"\n".join(self._lines)
        self._lines.clear()
        try:
            self._stream.write(data)
            self._stream.flush()
        except (OSError, ValueError):  # stdout closed or gone (a closed pipe at exit): nothing to do
            pass


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
