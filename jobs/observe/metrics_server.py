"""`GET /metrics` of a worker process, served on its own event loop (JOBS_METRICS_PORT).

A small HTTP/1.1 responder rather than prometheus_client's threaded server: the counters are
written by the loop alone, so reading them on the loop needs no lock, and the queue gauges are
read from Redis with the worker's own connection. Each response closes its connection; a scrape
a few times a minute needs no more. Served as well: every collector of prometheus_client's
default registry (the process's CPU and memory, and the app's own metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from ..settings import SettingsError
from .queue_gauges import QueueGauges

READ_TIMEOUT_S = 5.0
MAX_REQUEST_BYTES = 8192


class Exposition(Collector):
    """Our collectors, then the default registry's."""

    def __init__(self, collectors: Iterable[Any]) -> None:
        self._collectors = list(collectors)

    def collect(self) -> Iterator[Any]:
        for collector in self._collectors:
            yield from collector.collect()
        yield from REGISTRY.collect()


class MetricsServer:
    def __init__(self, exposition: Exposition, gauges: QueueGauges | None) -> None:
        self._exposition = exposition
        self._gauges = gauges
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen on host:port; a port taken or a host that is not this machine's is a bad setting."""
        try:
            self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True)
        except OSError as exc:
            raise SettingsError(
                f"JOBS_METRICS_PORT={port}: cannot serve /metrics on {host}:{port}: {exc.strerror or exc}"
            ) from None

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    async def render(self) -> bytes:
        if self._gauges is not None:
            await self._gauges.refresh()
        return generate_latest(self._exposition)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            method, _, rest = head.partition(b" ")
            target = rest.partition(b" ")[0].partition(b"?")[0]
            if target != b"/metrics":
                await _respond(writer, b"404 Not Found", b"text/plain; charset=utf-8", b"Not found: try /metrics\n")
            elif method not in (b"GET", b"HEAD"):
                await _respond(writer, b"405 Method Not Allowed", b"text/plain; charset=utf-8", b"GET only\n")
            else:
                body = await self.render()
                await _respond(writer, b"200 OK", CONTENT_TYPE_LATEST.encode(), body, head_only=method == b"HEAD")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


async def _respond(
    writer: asyncio.StreamWriter, status: bytes, content_type: bytes, body: bytes, *, head_only: bool = False
) -> None:
    writer.write(
        b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % (status, content_type, len(body))
    )
    if not head_only:
        writer.write(body)
    await writer.drain()
