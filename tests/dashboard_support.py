"""Helpers for the dashboard's tests: an HTTP client on the ASGI app, its CSRF token, a served app."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn

from jobs.dashboard.access import CSRF_COOKIE

ORIGIN = "http://dash.test"


@asynccontextmanager
async def http(app: Any, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client talking to `app` in this process (no socket), as a same-origin browser would."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN, **options) as client:
        yield client


async def csrf(client: httpx.AsyncClient, path: str = "/") -> str:
    """The token a page hands this client (in its cookie, and in every form of the page)."""
    page = await client.get(path)
    token = client.cookies.get(CSRF_COOKIE)
    assert token, f"no CSRF cookie from {path}: {page.status_code}"
    forms = re.findall(r'name="csrf_token" value="([^"]+)"', page.text)
    assert all(f == token for f in forms)
    return token


async def post(
    client: httpx.AsyncClient, path: str, data: dict[str, str] | None = None, *, page: str = "/", **headers: str
) -> httpx.Response:
    """A form POST with the token `page` hands out, and the browser's Origin header."""
    token = await csrf(client, page)
    return await client.post(path, data={"csrf_token": token, **(data or {})}, headers={"Origin": ORIGIN, **headers})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """`app` served by uvicorn on a free loopback port, in this event loop; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
