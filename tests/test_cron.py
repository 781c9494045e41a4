"""Schedule specs as pure functions of time: cron in a zone through the DST shifts of 2027, intervals,
what a poll does with a missed tick, and the errors a bad spec raises."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobs import Cron, Every, JobDefinitionError
from jobs.cron import due_tick, from_dict, to_epoch_ms

PARIS, NEW_YORK = ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")


def ticks(spec: Cron | Every, start: datetime, count: int) -> list[datetime]:
    found, moment = [], start
    for _ in range(count):
        moment = spec.next_after(moment)
        found.append(moment)
    return found


def local(moments: list[datetime], zone: ZoneInfo) -> list[str]:
    return [m.astimezone(zone).strftime("%m-%d %H:%M%z") for m in moments]


def test_a_local_time_skipped_by_spring_forward_fires_once_at_the_shift_in_paris_and_new_york() -> None:
    """02:30 does not exist on 2027-03-28 in Paris nor on 2027-03-14 in New York: it fires at 03:00, once."""
    paris = ticks(Cron("30 2 * * *", tz="Europe/Paris"), datetime(2027, 3, 27, 12, tzinfo=UTC), 3)
    assert local(paris, PARIS) == ["03-28 03:00+0200", "03-29 02:30+0200", "03-30 02:30+0200"]
    new_york = ticks(Cron("30 2 * * *", tz="America/New_York"), datetime(2027, 3, 13, 12, tzinfo=UTC), 3)
    assert local(new_york, NEW_YORK) == ["03-14 03:00-0400", "03-15 02:30-0400", "03-16 02:30-0400"]


def test_a_local_time_repeated_by_fall_back_fires_once_in_paris_and_new_york() -> None:
    """02:30 happens twice on 2027-10-31 in Paris, 01:30 twice on 2027-11-07 in New York: one run each."""
    paris = ticks(Cron("30 2 * * *", tz="Europe/Paris"), datetime(2027, 10, 30, 12, tzinfo=UTC), 3)
    assert local(paris, PARIS) == ["10-31 02:30+0200", "11-01 02:30+0100", "11-02 02:30+0100"]
    new_york = ticks(Cron("30 1 * * *", tz="America/New_York"), datetime(2027, 11, 6, 12, tzinfo=UTC), 3)
    assert local(new_york, NEW_YORK) == ["11-07 01:30-0400", "11-08 01:30-0500", "11-09 01:30-0500"]


def test_an_hourly_schedule_fires_every_real_hour_through_the_fall_back_shift() -> None:
    """`0 * * * *` in New York: 01:00 comes twice (EDT, then EST), and both are real hours."""
    hourly = ticks(Cron("0 * * * *", tz="America/New_York"), datetime(2027, 11, 7, 4, tzinfo=UTC), 4)
    assert local(hourly, NEW_YORK) == ["11-07 01:00-0400", "11-07 01:00-0500", "11-07 02:00-0500", "11-07 03:00-0500"]
    assert [b - a for a, b in itertools.pairwise(hourly)] == [timedelta(hours=1)] * 3


def test_six_fields_lead_with_seconds_and_names_work() -> None:
    """`*/15 0 8 * * *` is every 15 s of 08:00; `mon-fri` skips the weekend (2027-01-01 is a Friday)."""
    start = datetime(2027, 1, 1, tzinfo=UTC)
    assert [m.strftime("%H:%M:%S") for m in ticks(Cron("*/15 0 8 * * *"), start, 3)] == [
        "08:00:00",
        "08:00:15",
        "08:00:30",
    ]
    assert [m.strftime("%a %d") for m in ticks(Cron("0 8 * * mon-fri"), start, 3)] == ["Fri 01", "Mon 04", "Tue 05"]


def test_the_latest_tick_at_or_before_a_moment_includes_the_moment_itself() -> None:
    """A poll exactly on a tick fires that tick; a moment later it is still the latest."""
    spec, eight = Cron("0 8 * * *"), datetime(2027, 1, 1, 8, tzinfo=UTC)
    assert spec.latest_at_or_before(eight) == eight
    assert spec.latest_at_or_before(eight + timedelta(hours=3)) == eight
    assert spec.next_after(eight) == eight + timedelta(days=1)


def test_an_interval_ticks_on_whole_multiples_since_the_epoch_so_every_worker_agrees() -> None:
    """`Every(minutes=5)` fires at :00, :05, ...; `Every(timedelta)` and the keyword form are the same."""
    spec = Every(minutes=5)
    assert spec == Every(timedelta(minutes=5)) and spec.spec == "every 5m"
    start = datetime(2027, 1, 1, 10, 2, 30, tzinfo=UTC)
    assert [m.strftime("%H:%M") for m in ticks(spec, start, 3)] == ["10:05", "10:10", "10:15"]
    assert spec.latest_at_or_before(start) == datetime(2027, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Cron("61 * * * *"), "bad cron expression '61 \\* \\* \\* \\*'"),
        (lambda: Cron("* * *"), "bad cron expression"),
        (lambda: Cron("0 8 * * *", tz="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (lambda: Every(seconds=0), "at least 1 ms"),
        (lambda: Every(timedelta(0)), "at least 1 ms"),
        (lambda: Every(timedelta(minutes=1), seconds=5), "not both"),
        (lambda: Cron("0 8 * * *", missed="later"), "missed must be 'once' or 'skip'"),
    ],
)
def test_a_bad_spec_raises_a_definition_error_naming_it(make: object, message: str) -> None:
    """Bad expressions, unknown zones and empty intervals fail where they are written."""
    with pytest.raises(JobDefinitionError, match=message):
        make()  # type: ignore[operator]


def test_a_spec_survives_its_stored_form() -> None:
    """What Redis keeps of a spec gives back an equal spec."""
    for spec in (Cron("0 8 * * mon-fri", tz="Europe/Paris", missed="skip"), Every(hours=1)):
        assert from_dict(spec.to_dict()) == spec


def test_a_poll_fires_a_due_tick_and_after_downtime_once_for_the_latest_or_not_at_all() -> None:
    """On time: the tick. Not polled for a while: `once` fires only the latest missed tick, `skip` none;
    either way the next tick is the first after now: never a burst of catch-up runs."""
    once, skip = Every(seconds=1), Every(seconds=1, missed="skip")
    now = to_epoch_ms(datetime(2027, 1, 1, 12, 0, 5, 300_000, tzinfo=UTC))
    due = now - 300  # found 300 ms after its tick
    assert due_tick(once, due, now, grace_ms=2000) == (due, now + 700)
    assert due_tick(skip, due, now, grace_ms=2000) == (due, now + 700)
    stale = now - 5300  # five ticks passed with no worker
    assert due_tick(once, stale, now, grace_ms=2000) == (now - 300, now + 700)
    assert due_tick(skip, stale, now, grace_ms=2000) == (None, now + 700)
