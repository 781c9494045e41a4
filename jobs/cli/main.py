"""The `jobs` command: run a worker, trigger jobs, see what the queues hold, act on failures.

Configured like the worker (settings from the environment or `.env`, jobs from JOBS_MODULES).
Every command but `worker` takes `--json` for one JSON document on stdout. Exit codes: 0 done,
1 not found (or not in a state the command acts on) or Redis unreachable, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

from pydantic import ValidationError
from redis.exceptions import RedisClusterException, RedisError

from .. import registry
from ..clock import now_ms, to_ms
from ..errors import RedisUnavailableError, RedisURLError, UnknownJobError
from ..logs.configure import configure_logging
from ..ops import admin
from ..records import JobStatus
from ..runtime.process import StartupError, import_job_modules
from ..settings import Settings, SettingsError, get_settings
from ..store import connection
from . import move as cli_move
from . import schedules as cli_schedules
from . import tables as cli_format

EXIT_OK, EXIT_NOT_FOUND, EXIT_BAD_INPUT = 0, 1, 2

Output = tuple[Any, str]  # (the JSON document, the readable text)


class CommandError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class UsageError(Exception):
    """A command line argparse rejects, reported by `main` (as a JSON document under --json)."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(f"{parser.prog}: {message}")
        self.text = f"{parser.format_usage()}{parser.prog}: error: {message}"  # argparse's own


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)


def _text(value: str) -> str:
    """An argument as given, if it is UTF-8 text (job ids, names and payloads are): else a usage
    error, rather than the Redis encoder's UnicodeEncodeError later."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"not valid UTF-8 text: {os.fsencode(value)!r}") from None
    return value


def _version() -> str:
    try:
        return importlib.metadata.version("jobs")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jobs", description="Run, inspect and operate background jobs.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_text, description=help_text)

    sub.add_parser("worker", add_help=False, help="run the worker: jobs worker [--queue Q]... [--burst]")
    add("list", "list the defined jobs")
    trigger = add("trigger", "validate a payload and enqueue one run of a job")
    trigger.add_argument("name", type=_text, help="the job's name (see `jobs list`)")
    trigger.add_argument("payload", type=_text, help="the payload as JSON, e.g. '{\"user_id\": 1}'")
    trigger.add_argument("--delay", help="start no earlier than this from now: 250ms, 30s, 5m, 1h")
    trigger.add_argument("--job-id", type=_text, help="a job id of your choice; a taken id enqueues nothing")
    stats = add("stats", "count the jobs of each queue by state")
    stats.add_argument(
        "--queue", action="append", dest="queues", metavar="Q", type=_text, help="only this queue (repeatable)"
    )
    for status in ("failed", "completed", "cancelled"):
        latest = add(status, f"the latest retained {status} jobs, newest first")
        latest.add_argument("--queue", metavar="Q", type=_text, help="only this queue (default: every queue)")
        latest.add_argument("--limit", type=int, default=20, metavar="N", help="at most N jobs (default 20)")
    add("show", "one job: its state, payload, attempts, result or error").add_argument("id", type=_text)
    retry = add("retry", "run a failed job again with its payload and fresh attempts")
    retry.add_argument("id", nargs="?", type=_text, help="the failed job's id")
    retry.add_argument(
        "--all-failed", action="store_true", help="retry every retained failure of --queue (default: every queue)"
    )
    retry.add_argument("--queue", metavar="Q", type=_text)
    add("cancel", "cancel a job: a queued one never runs, a running one is stopped in its worker").add_argument(
        "id", type=_text
    )
    add("remove", "delete a queued, scheduled or retained job (not a running one)").add_argument("id", type=_text)
    add("pause", "stop workers taking jobs from a queue; triggers still enqueue").add_argument("queue", type=_text)
    add("resume", "let workers take jobs from a paused queue again").add_argument("queue", type=_text)
    add("workers", "the live worker processes: host, pid, queues, concurrency, running jobs")
    board = add("dashboard", "serve the web dashboard (needs the extra: pip install 'jobs[dashboard]')")
    board.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    board.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    COMMANDS.update(cli_schedules.add_commands(add, _text))
    COMMANDS.update(cli_move.add_commands(add, _text))
    return parser


async def _list(args: argparse.Namespace) -> Output:
    jobs = registry.all_jobs()
    data = [
        {
            "name": j.name,
            "queue": j.queue,
            "attempts": j.config.attempts,
            "backoff": {"kind": j.config.backoff.kind, "delay_ms": j.config.backoff.delay_ms},
            "timeout_ms": to_ms(j.config.timeout),
            "payload": cli_format.type_name(j.payload_type),
            "keep_completed": j.config.keep_completed,
            "keep_failed": j.config.keep_failed,
            "rate_limit": str(j.config.rate_limit) if j.config.rate_limit else None,
            "max_running": j.config.max_running,
        }
        for j in jobs
    ]
    return data, cli_format.jobs_table(jobs)


async def _trigger(args: argparse.Namespace) -> Output:
    job = registry.get(args.name)
    try:
        payload = json.loads(args.payload)
    except json.JSONDecodeError as exc:
        raise CommandError(f"PAYLOAD is not valid JSON: {exc}", EXIT_BAD_INPUT) from None
    try:
        delay = cli_format.parse_duration(args.delay) if args.delay is not None else None
    except ValueError as exc:
        raise CommandError(f"--delay: {exc}", EXIT_BAD_INPUT) from None
    try:
        handle = await job.trigger(payload, delay=delay, job_id=args.job_id)
    except ValidationError as exc:
        raise CommandError(f"invalid payload for job {job.name}: {_summary(exc)}", EXIT_BAD_INPUT) from None
    except ValueError as exc:  # too large, NaN or infinity, an empty --job-id
        raise CommandError(str(exc), EXIT_BAD_INPUT) from None
    due = now_ms() + to_ms(delay)
    data = {"id": handle.id, "job": handle.job, "queue": handle.queue, "enqueued": handle.enqueued, "due_ms": due}
    if not handle.enqueued:
        return data, f"nothing enqueued: job id {handle.id} is already queued, running or retained"
    when = f" (due in {cli_format.duration(to_ms(delay))})" if delay else ""
    return data, f"enqueued {handle.job} as job {handle.id} on queue {handle.queue}{when}"


async def _stats(args: argparse.Namespace) -> Output:
    queues = [await _known(q) for q in args.queues] if args.queues else await admin.known_queues()
    all_counts = await admin.counts_many(queues)
    return [c.to_dict() for c in all_counts], cli_format.counts_table(all_counts)


async def _latest(args: argparse.Namespace) -> Output:
    if args.limit < 1:
        raise CommandError(f"--limit must be >= 1, got {args.limit}", EXIT_BAD_INPUT)
    queue = await _known(args.queue) if args.queue else None
    records = await admin.latest(JobStatus(args.command), queue, args.limit)
    return [r.to_dict() for r in records], cli_format.records_table(records, args.command)


async def _show(args: argparse.Namespace) -> Output:
    info = await admin.get_job(args.id)
    if info is None:
        raise CommandError(f"no job with id {args.id!r} (never existed, or no longer retained)", EXIT_NOT_FOUND)
    return info.to_dict(), cli_format.job_detail(info)


async def _retry(args: argparse.Namespace) -> Output:
    if args.all_failed:
        if args.id:
            raise CommandError("use either `retry ID` or `retry --all-failed [--queue Q]`", EXIT_BAD_INPUT)
        result = await admin.retry_all_failed(await _known(args.queue) if args.queue else None)
        data = {"retried": [h.id for h in result.retried], "skipped": result.skipped}
        where = f"queue {args.queue}" if args.queue else "every queue"
        lines = [f"retried {len(result.retried)} failed job(s) of {where}"]
        lines += [f"skipped {job_id}: {why}" for job_id, why in result.skipped.items()]
        if result.skipped:
            raise CommandError("\n".join(lines), EXIT_NOT_FOUND)
        return data, "\n".join(lines)
    if not args.id or args.queue:
        raise CommandError("use either `retry ID` or `retry --all-failed [--queue Q]`", EXIT_BAD_INPUT)
    handle = await admin.retry_failed(args.id)
    data = {"id": handle.id, "job": handle.job, "queue": handle.queue}
    return data, f"retried job {handle.id} ({handle.job}): queued on {handle.queue} with fresh attempts"


async def _remove(args: argparse.Namespace) -> Output:
    info = await admin.remove(args.id)
    return info.to_dict(), f"removed {info.status.value} job {info.id} ({info.job or '?'}) of queue {info.queue}"


async def _cancel(args: argparse.Namespace) -> Output:
    result = await admin.cancel(args.id)
    if not result.changed:  # finished or unknown: nothing changed, and the exit code says so
        raise CommandError(result.message, EXIT_NOT_FOUND)
    return result.to_dict(), f"job {result.id}: {result.message}"


async def _pause(args: argparse.Namespace) -> Output:
    changed = await admin.pause(await _known(args.queue))
    text = f"paused queue {args.queue}: triggers still enqueue, workers take nothing until `jobs resume`"
    if not changed:
        text = f"queue {args.queue} was already paused"
    return {"queue": args.queue, "paused": True, "changed": changed}, text


async def _resume(args: argparse.Namespace) -> Output:
    changed = await admin.resume(await _known(args.queue))
    text = f"resumed queue {args.queue}" if changed else f"queue {args.queue} was not paused"
    return {"queue": args.queue, "paused": False, "changed": changed}, text


async def _workers(args: argparse.Namespace) -> Output:
    found = await admin.workers()
    return [w.to_dict() for w in found], cli_format.workers_table(found)


COMMANDS: dict[str, Callable[[argparse.Namespace], Awaitable[Output]]] = {
    "list": _list,
    "trigger": _trigger,
    "stats": _stats,
    "failed": _latest,
    "completed": _latest,
    "cancelled": _latest,
    "cancel": _cancel,
    "show": _show,
    "retry": _retry,
    "remove": _remove,
    "pause": _pause,
    "resume": _resume,
    "workers": _workers,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["worker"]:
        from ..runtime.process import main as worker_main

        return worker_main(argv[1:], prog="jobs worker")
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        if "--json" in argv:
            _write(json.dumps({"error": str(exc), "exit_code": EXIT_BAD_INPUT}))
        print(exc.text, file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        settings = get_settings()
        _configure_logging(settings)
        import_job_modules(settings)
    except (SettingsError, StartupError) as exc:
        return _fail(args, str(exc), EXIT_BAD_INPUT)
    if args.command == "dashboard":
        return _dashboard(args)
    try:
        data, text = asyncio.run(_run(args))
    except CommandError as exc:
        return _fail(args, str(exc), exc.code)
    except cli_move.BadTarget as exc:
        return _fail(args, str(exc), EXIT_BAD_INPUT)
    except cli_move.JobsLeftBehind as exc:
        if args.json:
            _write(json.dumps(exc.data))
        print(str(exc), file=sys.stderr)
        return EXIT_NOT_FOUND
    except UnknownJobError as exc:
        return _fail(args, str(exc), EXIT_BAD_INPUT)
    except RedisURLError as exc:
        return _fail(args, str(exc), EXIT_BAD_INPUT)
    except (admin.JobNotFoundError, admin.JobStateError, RedisUnavailableError, cli_schedules.NotFound) as exc:
        return _fail(args, str(exc), EXIT_NOT_FOUND)
    except connection.CONNECTION_ERRORS as exc:
        return _fail(args, str(connection.unavailable(settings.redis_url, exc)), EXIT_NOT_FOUND)
    except (RedisError, RedisClusterException) as exc:
        error = connection.as_jobs_error(settings.redis_url, exc)
        return _fail(args, str(error) if error else f"Redis error: {exc}", EXIT_NOT_FOUND)
    _write(json.dumps(data, indent=2, default=str, ensure_ascii=False) if args.json else text)
    return EXIT_OK


async def _run(args: argparse.Namespace) -> Output:
    try:
        return await COMMANDS[args.command](args)
    finally:
        with contextlib.suppress(Exception):
            await connection.disconnect()


async def _known(queue: str) -> str:
    known = await admin.known_queues()
    if queue not in known:
        raise CommandError(f"unknown queue {queue!r} (known queues: {', '.join(known) or 'none'})", EXIT_NOT_FOUND)
    return queue


def _summary(exc: ValidationError) -> str:
    """pydantic's errors, one per line, without its documentation links."""
    count = exc.error_count()
    lines = [f"{count} validation error{'s' if count > 1 else ''}"]
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "payload"
        shown = cli_format.short(json.dumps(error.get("input"), default=str, ensure_ascii=False), 40)
        lines.append(f"  {where}: {error['msg']} (input: {shown})")
    return "\n".join(lines)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if getattr(args, "json", False):
        _write(json.dumps({"error": message, "exit_code": code}))
    print(f"error: {message}", file=sys.stderr)
    return code


def _write(text: str) -> None:
    """`text` on stdout. A reader that stopped reading (`jobs completed --json | head`) is not an
    error of the command's: the rest is dropped, with no traceback now nor at exit."""
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python flushes stdout again at exit


def _dashboard(args: argparse.Namespace) -> int:
    """Serve the dashboard until SIGINT/SIGTERM; without its extra installed, say how to get it."""
    try:
        from ..dashboard import serve
    except ImportError as exc:
        if exc.name is None or exc.name.split(".")[0] == "jobs":
            raise  # a bug of ours, not a missing extra
        return _fail(args, f"the dashboard needs {exc.name}: pip install 'jobs[dashboard]'", EXIT_BAD_INPUT)
    try:
        serve.run(host=args.host, port=args.port)
    except ValueError as exc:  # credentials half set
        return _fail(args, str(exc), EXIT_BAD_INPUT)
    return EXIT_OK


def _configure_logging(settings: Settings) -> None:
    """The worker's log format, but on stderr: stdout carries the command's output."""
    configure_logging(settings.log_format, settings.log_level, to=sys.stderr)
