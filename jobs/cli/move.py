"""The `jobs move-queue QUEUE --to URL` command: move a queue to another Redis (e.g. into a cluster)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from ..ops.move import move_queue
from ..redaction import redact_url
from ..settings import check_redis_url, get_settings

Output = tuple[Any, str]
AddCommand = Callable[[str, str], argparse.ArgumentParser]


class BadTarget(ValueError):
    """`--to` is not a Redis URL this library can use: the command exits 2."""


class JobsLeftBehind(Exception):
    """Some jobs are held by workers: the command exits 1 after saying what it moved."""

    def __init__(self, data: Any, text: str) -> None:
        super().__init__(text)
        self.data = data


def add_commands(
    add: AddCommand, text: Callable[[str], str]
) -> dict[str, Callable[[argparse.Namespace], Awaitable[Output]]]:
    move = add(
        "move-queue",
        "move a queue's jobs, records, schedules and trigger keys from REDIS_URL to another Redis "
        "(a single Redis to a cluster or back: the key layouts differ)",
    )
    move.add_argument("queue", type=text)
    move.add_argument("--to", required=True, type=text, metavar="URL", help="the Redis to move it to")
    move.add_argument("--dry-run", action="store_true", help="count what would move; change nothing")
    return {"move-queue": _move}


async def _move(args: argparse.Namespace) -> Output:
    try:
        check_redis_url(args.to)
    except ValueError as exc:
        raise BadTarget(f"--to {redact_url(args.to)}: {exc}") from None
    if args.to == get_settings().redis_url:
        raise BadTarget("--to names REDIS_URL itself: the queue is there already")
    moved = await move_queue(args.queue, args.to, dry_run=args.dry_run, progress=_progress)
    verb = "would move" if moved.dry_run else "moved"
    lines = [
        f"{verb} queue {moved.queue} from {moved.source} to {moved.target}: {moved.jobs} queued or scheduled "
        f"jobs, {moved.records} records, {moved.schedules} schedules, {moved.trigger_keys} trigger keys"
        + (", and its pause" if moved.paused else "")
    ]
    if moved.taken:
        lines.append(
            f"{len(moved.taken)} jobs left: the target holds jobs with their ids ({', '.join(moved.taken[:5])})"
        )
    if moved.held:
        lines.append(
            f"{len(moved.held)} jobs left: a worker holds them ({', '.join(moved.held[:5])}); "
            "run the command again once they finished (stop the old workers first)"
        )
    if moved.held or moved.taken:
        raise JobsLeftBehind(moved.to_dict(), "\n".join(lines))
    return moved.to_dict(), "\n".join(lines)


def _progress(message: str) -> None:
    if sys.stderr.isatty():
        print(f"\r{message}", end="", file=sys.stderr, flush=True)
