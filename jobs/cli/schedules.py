"""The `jobs` command's schedule commands: `schedules`, `unschedule ID`, `schedule run-now ID`."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

from ..ops import schedules as operations
from . import tables as cli_format

Output = tuple[Any, str]
AddCommand = Callable[[str, str], argparse.ArgumentParser]


class NotFound(LookupError):
    """No such schedule: the command exits 1."""


def add_commands(
    add: AddCommand, text: Callable[[str], str]
) -> dict[str, Callable[[argparse.Namespace], Awaitable[Output]]]:
    add("schedules", "list the schedules: id, job, spec, time zone, next and last run")
    add("unschedule", "delete a schedule (the jobs it enqueued stay)").add_argument("id", type=text)
    one = add("schedule", "act on one schedule: `jobs schedule run-now ID` runs its job once now")
    one.add_argument("action", choices=["run-now"])
    one.add_argument("id", type=text)
    return {"schedules": _list, "unschedule": _unschedule, "schedule": _run_now}


async def _list(args: argparse.Namespace) -> Output:
    found = await operations.list_schedules()
    rows = [
        (
            s.id,
            s.job,
            s.queue,
            s.spec,
            s.tz,
            _when(s.next_run),
            _when(s.last_run),
            "declared" if s.declared else "run time",
        )
        for s in found
    ]
    headers = ("ID", "JOB", "QUEUE", "SPEC", "TZ", "NEXT RUN", "LAST RUN", "MADE")
    text = cli_format.table(headers, rows) if rows else "no schedules"
    return [s.to_dict() for s in found], text


async def _unschedule(args: argparse.Namespace) -> Output:
    if not await operations.unschedule(args.id):
        raise NotFound(f"no schedule with id {args.id!r}")
    return {"id": args.id, "removed": True}, f"removed schedule {args.id} (the jobs it enqueued stay)"


async def _run_now(args: argparse.Namespace) -> Output:
    handle = await operations.run_schedule_now(args.id)
    data = {"schedule": args.id, "id": handle.id, "job": handle.job, "queue": handle.queue}
    return (
        data,
        f"enqueued {handle.job} as job {handle.id} on queue {handle.queue} (schedule {args.id}; next tick unchanged)",
    )


def _when(moment: Any) -> str:
    return "-" if moment is None else cli_format.timestamp(int(moment.timestamp() * 1000))
