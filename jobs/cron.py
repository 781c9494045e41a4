"""When a schedule fires: `Cron` (a cron expression in a time zone) and `Every` (a fixed interval).

Pure functions of time, so ticks, time zones and DST are tested without Redis. Cron expressions
are parsed and walked by cronsim (no hand-written parser), in the schedule's zone (`zoneinfo`):
a local time that a spring-forward shift skips fires once, at the shift; one that a fall-back
shift repeats fires once (an expression with a fixed hour, such as `30 1 * * *`); an hourly or
finer expression fires every real hour through the shift, as cron does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .errors import JobDefinitionError

Missed = Literal["once", "skip"]
_MISSED = ("once", "skip")
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Cron:
    """`Cron("0 8 * * *", tz="Europe/Paris")`: five cron fields (minute hour day month weekday), or
    six with seconds first; names such as `mon-fri` and `jan` work. `missed` says what a schedule
    does with ticks that passed while no worker ran: fire once, for the latest (the default),
    or skip them."""

    expression: str
    tz: str = "UTC"
    missed: Missed = "once"
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_missed(self.missed)
        object.__setattr__(self, "_zone", _zone(self.tz))
        try:
            CronSim(self.expression, datetime.now(self._zone))
        except (CronSimError, ValueError) as exc:
            raise JobDefinitionError(f"bad cron expression {self.expression!r}: {exc}") from None

    @property
    def spec(self) -> str:
        return self.expression

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after `moment` (aware), in UTC."""
        return next(CronSim(self.expression, moment.astimezone(self._zone))).astimezone(UTC)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last tick at or before `moment` (aware), in UTC."""
        return next(CronSim(self.expression, moment.astimezone(self._zone) + _TICK, reverse=True)).astimezone(UTC)

    def describe(self) -> str:
        """The expression in words ("At 08:00"), for the CLI and the dashboard."""
        try:
            return str(CronSim(self.expression, datetime.now(self._zone)).explain())
        except Exception:  # noqa: BLE001 - an explanation is a nicety; the expression is valid
            return self.expression

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "cron", "expression": self.expression, "tz": self.tz, "missed": self.missed}


@dataclass(frozen=True, slots=True, init=False)
class Every:
    """`Every(minutes=5)` or `Every(timedelta(hours=1))`: ticks at whole multiples of the interval
    since the Unix epoch, so every worker agrees on them (`Every(hours=1)` fires on the hour)."""

    interval: timedelta
    missed: Missed
    tz: str

    def __init__(
        self,
        interval: timedelta | None = None,
        *,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
        missed: Missed = "once",
    ) -> None:
        if interval is None:
            interval = timedelta(seconds=seconds, minutes=minutes, hours=hours)
        elif seconds or minutes or hours:
            raise JobDefinitionError("Every takes a timedelta or seconds=/minutes=/hours=, not both")
        if not isinstance(interval, timedelta) or interval < timedelta(milliseconds=1):
            raise JobDefinitionError(f"an Every interval must be at least 1 ms, got {interval!r}")
        _check_missed(missed)
        object.__setattr__(self, "interval", interval)
        object.__setattr__(self, "missed", missed)
        object.__setattr__(self, "tz", "UTC")

    @property
    def spec(self) -> str:
        return "every " + _short(self.interval)

    def next_after(self, moment: datetime) -> datetime:
        step = self._step_ms()
        return _from_ms((_ms(moment) // step + 1) * step)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        step = self._step_ms()
        return _from_ms(_ms(moment) // step * step)

    def describe(self) -> str:
        return "Every " + _short(self.interval)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "every", "interval_ms": self._step_ms(), "missed": self.missed}

    def _step_ms(self) -> int:
        return max(1, round(self.interval.total_seconds() * 1000))


Spec = Cron | Every


def due_tick(spec: Spec, due_ms: int, now_ms: int, grace_ms: int) -> tuple[int | None, int]:
    """What a poll at `now_ms` does with a schedule due since `due_ms`: the tick to fire (None:
    none) and the next tick after now. Late by more than `grace_ms`, the schedule was not polled
    while its ticks passed (no worker ran): `missed="once"` fires the latest of them, once;
    `"skip"` fires none. Never a burst of catch-up runs."""
    now = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    next_ms = to_epoch_ms(spec.next_after(now))
    latest = to_epoch_ms(spec.latest_at_or_before(now))
    if now_ms - due_ms > grace_ms and spec.missed == "skip":
        return None, next_ms
    return latest, next_ms


def from_dict(data: dict[str, Any]) -> Spec:
    """A spec as `to_dict` stored it; raises `JobDefinitionError` for one that is not."""
    kind = data.get("kind")
    if kind == "cron":
        return Cron(str(data["expression"]), tz=str(data.get("tz", "UTC")), missed=data.get("missed", "once"))
    if kind == "every":
        return Every(timedelta(milliseconds=int(data["interval_ms"])), missed=data.get("missed", "once"))
    raise JobDefinitionError(f"not a schedule spec: {data!r}")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise JobDefinitionError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris'") from None


def _check_missed(missed: str) -> None:
    if missed not in _MISSED:
        raise JobDefinitionError(f"missed must be 'once' or 'skip', got {missed!r}")


def to_epoch_ms(moment: datetime) -> int:
    """An aware datetime as whole milliseconds since the epoch, the unit Redis scores use."""
    return math.floor(moment.timestamp() * 1000)


_ms = to_epoch_ms


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _short(interval: timedelta) -> str:
    ms = round(interval.total_seconds() * 1000)
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
