"""Run the `jobs` command as users do: a subprocess against the suite's Redis (the `cli` fixture)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JOBS = Path(sys.executable).parent / "jobs"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


Cli = Callable[..., Awaitable[Result]]


def runner(queue: str, tmp_path: Path, redis_url: str) -> Cli:
    """Run `jobs ARGS` with this test's queue; `env` overrides variables, `command` replaces `jobs`."""

    async def run(*args: str, env: dict[str, str] | None = None, command: tuple[str, ...] = (str(JOBS),)) -> Result:
        variables = {
            **os.environ,
            "REDIS_URL": redis_url,
            "JOBS_MODULES": "tests.cli_jobs",
            "CLI_TEST_QUEUE": queue,
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        }
        process = await asyncio.create_subprocess_exec(
            *command, *args, env=variables, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode is not None
        return Result(process.returncode, out.decode(), err.decode())

    return run
