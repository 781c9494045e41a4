"""`jobs dashboard`: the standalone server, on loopback by default, guarded by basic credentials."""

from __future__ import annotations

import asyncio
import base64
import signal
import sys
from pathlib import Path

import httpx

from jobs.cli.main import build_parser

from .dashboard_support import free_port
from .helpers import wait_until
from .processes import ROOT, process_env

JOBS = Path(sys.executable).parent / "jobs"


def test_the_dashboard_binds_loopback_unless_told_otherwise() -> None:
    """--host defaults to 127.0.0.1 (this machine only), --port to 8080."""
    args = build_parser().parse_args(["dashboard"])
    assert (args.host, args.port) == ("127.0.0.1", 8080)


async def test_jobs_dashboard_serves_the_board_behind_basic_credentials_until_sigterm(queue: str) -> None:
    """401 without credentials, the overview with them; SIGTERM ends it with exit 0."""
    port = free_port()
    env = process_env(queue, JOBS_DASHBOARD_USER="ops", JOBS_DASHBOARD_PASSWORD="pw-for-the-test")
    process = await asyncio.create_subprocess_exec(
        str(JOBS), "dashboard", "--port", str(port), env=env, cwd=ROOT, stderr=asyncio.subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:

            async def answering() -> httpx.Response | None:
                try:
                    return await client.get("/")
                except httpx.TransportError:
                    return None

            anonymous = await wait_until(answering, timeout=20, what="the dashboard answering")
            credentials = base64.b64encode(b"ops:pw-for-the-test").decode()
            page = await client.get("/", headers={"Authorization": f"Basic {credentials}"})
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
    assert process.stderr is not None
    err = (await process.stderr.read()).decode()
    assert anonymous.status_code == 401 and page.status_code == 200
    assert "signed in as ops" in page.text and "process.echo" in page.text  # the jobs of JOBS_MODULES
    assert code == 0, err
    assert (
        err.startswith(f"jobs dashboard on http://127.0.0.1:{port}/ (sign in as ops)") and "pw-for-the-test" not in err
    )


async def test_jobs_dashboard_with_only_a_user_is_refused(queue: str) -> None:
    """A user without a password: exit 2 with one line naming both variables, nothing served."""
    env = process_env(queue, JOBS_DASHBOARD_USER="ops")
    process = await asyncio.create_subprocess_exec(
        str(JOBS), "dashboard", "--port", str(free_port()), env=env, cwd=ROOT, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert err.decode() == "error: set both JOBS_DASHBOARD_USER and JOBS_DASHBOARD_PASSWORD, or neither (read-only)\n"
