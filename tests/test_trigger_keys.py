"""Trigger keys against a real Redis and worker: debounce, throttle, and a key alone, each one atomic
script; the handle says what happened and which job will run."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from pydantic import BaseModel

from jobs import admin
from jobs.testing import mock_triggers, triggered

from .conftest import Define, StartWorker, run_burst
from .helpers import wait_until


class Message(BaseModel):
    conversation: int
    text: str


async def test_debounce_runs_once_a_window_after_the_last_trigger_with_the_last_payload(
    define: Define, start_worker: StartWorker
) -> None:
    """Five triggers inside the window: one run, with the fifth payload, one window after the fifth."""
    runs: list[tuple[float, str]] = []

    async def notify(payload: Message) -> None:
        runs.append((time.monotonic(), payload.text))

    notify_job = define(notify)
    await start_worker()
    window = timedelta(milliseconds=600)
    handles = []
    for n in range(5):
        handles.append(await notify_job.trigger({"conversation": 42, "text": f"m{n}"}, key="c:42", debounce=window))
    fifth = time.monotonic()
    await wait_until(lambda: runs, timeout=5, what="the debounced run")
    assert [h.outcome for h in handles] == ["enqueued", "replaced", "replaced", "replaced", "replaced"]
    assert len({h.id for h in handles}) == 1
    ((ran_at, text),) = runs
    assert text == "m4" and 0.55 <= ran_at - fifth < 1.5
    await run_burst([notify_job.queue])  # nothing else was queued
    assert len(runs) == 1


async def test_throttle_runs_the_first_trigger_and_drops_the_rest_until_the_window_ends(define: Define) -> None:
    """Within the window every later trigger is dropped, naming the job that runs; after it, a new one runs."""
    seen: list[str] = []

    async def notify(payload: Message) -> None:
        seen.append(payload.text)

    notify_job = define(notify)
    window = timedelta(milliseconds=500)
    first = await notify_job.trigger({"conversation": 1, "text": "a"}, key="c:1", throttle=window)
    later = [await notify_job.trigger({"conversation": 1, "text": t}, key="c:1", throttle=window) for t in "bcd"]
    assert first.outcome == "enqueued" and {h.outcome for h in later} == {"dropped"}
    assert {h.id for h in later} == {first.id}
    await run_burst([notify_job.queue])
    assert seen == ["a"]
    await _sleep_past(window)
    after = await notify_job.trigger({"conversation": 1, "text": "e"}, key="c:1", throttle=window)
    await run_burst([notify_job.queue])
    assert after.outcome == "enqueued" and after.id != first.id and seen == ["a", "e"]


async def _sleep_past(window: timedelta) -> None:
    """Let a throttle window pass: what is tested is what happens after it, so waiting it out is the test."""
    deadline = time.monotonic() + window.total_seconds() + 0.05
    await wait_until(lambda: time.monotonic() >= deadline, timeout=window.total_seconds() + 1, what="the window over")


async def test_two_keys_do_not_interfere(define: Define) -> None:
    """Debouncing conversation 1 neither replaces nor drops a trigger of conversation 2."""
    seen: list[str] = []

    async def notify(payload: Message) -> None:
        seen.append(payload.text)

    notify_job = define(notify)
    window = timedelta(milliseconds=1)
    one = await notify_job.trigger({"conversation": 1, "text": "one"}, key="c:1", debounce=window)
    two = await notify_job.trigger({"conversation": 2, "text": "two"}, key="c:2", debounce=window)
    assert (one.outcome, two.outcome) == ("enqueued", "enqueued") and one.id != two.id
    await run_burst([notify_job.queue])
    assert sorted(seen) == ["one", "two"]


async def test_a_key_alone_drops_triggers_while_its_job_is_queued_and_not_after_it_ran(define: Define) -> None:
    """`key=` without a window: dropped while the key's job is queued, scheduled or running; once it
    finished, the key is free. Keys are per job: another job may use the same key."""

    async def sync_contact(payload: Message) -> None: ...

    async def other(payload: Message) -> None: ...

    sync_job, other_job = define(sync_contact), define(other)
    first = await sync_job.trigger({"conversation": 7, "text": "x"}, key="contact:7")
    again = await sync_job.trigger({"conversation": 7, "text": "y"}, key="contact:7")
    elsewhere = await other_job.trigger({"conversation": 7, "text": "z"}, key="contact:7")
    assert (first.outcome, again.outcome, elsewhere.outcome) == ("enqueued", "dropped", "enqueued")
    assert again.id == first.id
    await run_burst([sync_job.queue])
    fresh = await sync_job.trigger({"conversation": 7, "text": "w"}, key="contact:7")
    assert fresh.outcome == "enqueued" and fresh.id != first.id


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"key": "k", "debounce": 1, "throttle": 1}, "debounce= or throttle=, not both"),
        ({"debounce": 1}, "need a key="),
        ({"throttle": 1}, "need a key="),
        ({"key": "k", "debounce": 1, "delay": 5}, "debounce= already sets when the job runs"),
        ({"key": "", "debounce": 1}, "non-empty string"),
        ({"key": "k", "throttle": 0}, "throttle must be positive"),
    ],
)
async def test_bad_key_options_raise_before_anything_is_written(
    define: Define, queue: str, options: dict[str, object], message: str
) -> None:
    """Options that cannot go together raise ValueError, and Redis holds nothing afterwards."""

    async def notify(payload: Message) -> None: ...

    notify_job = define(notify)
    with pytest.raises(ValueError, match=message):
        await notify_job.trigger({"conversation": 1, "text": "a"}, **options)  # type: ignore[arg-type]
    with mock_triggers(), pytest.raises(ValueError, match=message):
        await notify_job.trigger({"conversation": 1, "text": "a"}, **options)  # type: ignore[arg-type]
    assert (await admin.counts(queue)).queued == 0


async def test_the_mocked_trigger_keeps_the_same_rules(define: Define) -> None:
    """Under the test mocks a debounce replaces the waiting job's payload and a throttle drops."""

    async def notify(payload: Message) -> None: ...

    notify_job = define(notify)
    with mock_triggers():
        first = await notify_job.trigger({"conversation": 1, "text": "a"}, key="c", debounce=60)
        second = await notify_job.trigger({"conversation": 1, "text": "b"}, key="c", debounce=60)
        kept = await notify_job.trigger({"conversation": 2, "text": "c"}, key="t", throttle=60)
        dropped = await notify_job.trigger({"conversation": 2, "text": "d"}, key="t", throttle=60)
        recorded = triggered(notify_job)
    assert (first.outcome, second.outcome, kept.outcome, dropped.outcome) == (
        "enqueued",
        "replaced",
        "enqueued",
        "dropped",
    )
    assert [t.payload["text"] for t in recorded] == ["b", "c"] and recorded[0].delay_ms == 60_000
