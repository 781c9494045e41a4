"""The worker process entry point: settings, job modules, logging, then `Worker.run`.

Every way it can fail before running (a bad setting, a job module that does not import,
Redis unreachable) ends in one line on stderr and a non-zero exit, never a traceback: 2 for
what only a change of settings fixes, 1 for Redis unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import os
import sys
import sysconfig
import traceback
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from .. import registry
from ..errors import RedisUnavailableError, RedisURLError
from ..logs.configure import configure_logging
from ..settings import Settings, SettingsError, get_settings
from .worker import Worker

EXIT_UNAVAILABLE = 1
EXIT_BAD_INPUT = 2


class StartupError(Exception):
    """A problem to report in one line before the worker starts."""


def import_job_modules(settings: Settings) -> None:
    """Import every module named in JOBS_MODULES, so their jobs are defined.

    The working directory is importable, as under `python -m`: the `jobs` console script and
    arq's CLI find the project's modules the same way (arq and uvicorn do this too).
    """
    if settings.jobs_modules and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for module in settings.jobs_modules:
        try:
            importlib.import_module(module)
        except Exception as exc:
            where = _where(exc)
            at = f" (at {where})" if where else ""
            raise StartupError(f"JOBS_MODULES: cannot import {module!r}: {type(exc).__name__}: {exc}{at}") from exc


def _where(exc: BaseException) -> str | None:
    """`path:line` of the innermost frame of the project's own code in `exc`'s traceback (not the
    standard library's, an installed package's, nor this library's): where the import failed."""
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return f"{_shown(exc.filename)}:{exc.lineno}"
    own = [f for f in traceback.extract_tb(exc.__traceback__) if _is_own_code(f.filename)]
    return f"{_shown(own[-1].filename)}:{own[-1].lineno}" if own else None


@functools.cache
def _not_own_code() -> tuple[Path, ...]:
    paths = sysconfig.get_paths()
    installed = {Path(paths[key]).resolve() for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    return (*installed, Path(__file__).resolve().parent)


def _is_own_code(filename: str) -> bool:
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return False
    path = Path(filename).resolve()
    return not any(path.is_relative_to(root) for root in _not_own_code())


def _shown(filename: str) -> str:
    """A path relative to the working directory when it is inside it, as a user would type it."""
    path, here = Path(filename).resolve(), Path.cwd()
    return str(path.relative_to(here)) if path.is_relative_to(here) else str(path)


def check_queue_names(settings: Settings, queues: Sequence[str]) -> None:
    """Refuse a queue name no defined job uses (in `queues`, JOBS_QUEUE_CONCURRENCY or JOBS_QUEUE_RATE_LIMIT): a typo
    would otherwise run a worker with nothing to do, or be ignored."""
    known = registry.queues()
    listed = f"(queues of the defined jobs: {', '.join(known) or 'none'})"
    for queue in queues:
        if queue not in known:
            raise StartupError(f"--queue {queue!r}: no defined job uses this queue {listed}")
    for queue in settings.jobs_queue_concurrency:
        if queue not in known:
            raise StartupError(f"JOBS_QUEUE_CONCURRENCY: no defined job uses the queue {queue!r} {listed}")
    for queue in settings.jobs_queue_rate_limit:
        if queue not in known:
            raise StartupError(f"JOBS_QUEUE_RATE_LIMIT: no defined job uses the queue {queue!r} {listed}")


def parse_args(argv: Sequence[str] | None, prog: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description="Run the jobs worker.")
    parser.add_argument(
        "--queue", action="append", dest="queues", metavar="NAME", help="run only this queue (repeatable)"
    )
    parser.add_argument("--burst", action="store_true", help="run what is due, then exit")
    parser.add_argument(
        "--concurrency", type=int, metavar="N", help="jobs at once per queue (default JOBS_CONCURRENCY)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m servers.jobs") -> int:
    args = parse_args(argv, prog)
    try:
        settings = get_settings()
        configure_logging(settings.log_format, settings.log_level)
        import_job_modules(settings)
        if args.concurrency is not None and args.concurrency < 1:
            raise StartupError(f"--concurrency must be >= 1, got {args.concurrency}")
        if not registry.queues():
            raise StartupError("no jobs defined: set JOBS_MODULES to the modules that define your jobs")
        check_queue_names(settings, args.queues or ())
        worker = Worker(queues=args.queues, settings=settings, burst=args.burst, concurrency=args.concurrency)
    except (SettingsError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        _run(worker)
    except SettingsError as exc:  # JOBS_METRICS_PORT taken, or its host not this machine's
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RedisURLError as exc:  # a wrong database or not Redis: a bad setting, retrying would not help
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RedisUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return 0


def _run(worker: Worker) -> None:
    _loop_runner()(worker.run())


def _loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """uvloop's runner when the `fast` extra is installed, else asyncio's. Returned, not called,
    inside the `except`: a run there would chain every exception of the job to the ImportError."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    run: Callable[[Coroutine[Any, Any, None]], None] = uvloop.run
    return run
