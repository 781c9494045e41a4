"""JSON lines are batched per event-loop iteration: in order, soon, and at once off the loop."""

from __future__ import annotations

import asyncio
import io
import json
import threading

from jobs.logs.output import MAX_BUFFERED_LINES, BatchedLineWriter


def test_off_the_loop_a_line_is_written_at_once() -> None:
    stream = io.BytesIO()
    BatchedLineWriter(stream).msg(b'{"event":"a"}')
    assert stream.getvalue() == b'{"event":"a"}\n'


async def test_lines_of_one_iteration_are_written_together_at_the_next() -> None:
    stream = io.BytesIO()
    writer = BatchedLineWriter(stream)
    writer.msg(b"1")
    writer.msg(b"2")
    assert stream.getvalue() == b""  # not yet: one write for the iteration
    await asyncio.sleep(0)
    assert stream.getvalue() == b"1\n2\n"
    writer.info(b"3")
    await asyncio.sleep(0)
    assert stream.getvalue() == b"1\n2\n3\n"


async def test_a_full_buffer_is_written_without_waiting() -> None:
    stream = io.BytesIO()
    writer = BatchedLineWriter(stream)
    for i in range(MAX_BUFFERED_LINES):
        writer.msg(str(i).encode())
    assert stream.getvalue().count(b"\n") == MAX_BUFFERED_LINES


def test_a_flush_scheduled_on_a_loop_that_closed_does_not_stall_later_lines() -> None:
    stream = io.BytesIO()
    writer = BatchedLineWriter(stream)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(_log(writer, b"first"))  # schedules a flush the loop never runs
    loop.close()
    assert asyncio.run(_log_and_yield(writer, b"second")) is None
    assert stream.getvalue() == b"first\nsecond\n"


def test_lines_from_threads_are_all_written() -> None:
    stream = io.BytesIO()
    writer = BatchedLineWriter(stream)
    threads = [threading.Thread(target=lambda n=n: [writer.msg(f"{n}".encode()) for _ in range(100)]) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(stream.getvalue().split()) == sorted(f"{n}".encode() for n in range(4) for _ in range(100))


async def _log(writer: BatchedLineWriter, line: bytes) -> None:
    writer.msg(line)


async def _log_and_yield(writer: BatchedLineWriter, line: bytes) -> None:
    writer.msg(line)
    await asyncio.sleep(0)


async def test_a_deferred_line_is_rendered_at_the_write_in_its_place() -> None:
    stream = io.BytesIO()
    writer = BatchedLineWriter(stream)
    rendered: list[str] = []

    def render(what: str) -> bytes:
        rendered.append(what)
        return what.encode()

    writer.msg(b"1")
    writer.defer((render, "2"))
    writer.msg(b"3")
    assert rendered == []  # not when logged
    await asyncio.sleep(0)
    assert rendered == ["2"]
    assert stream.getvalue() == b"1\n2\n3\n"


async def test_a_line_that_fails_to_render_says_why_and_the_batch_is_written() -> None:
    stream = io.BytesIO()
    writer = BatchedLineWriter(stream)

    def broken(_: object) -> bytes:
        raise ValueError("no JSON for you")

    writer.msg(b"1")
    writer.defer((broken, None))
    writer.msg(b"3")
    await asyncio.sleep(0)
    first, failed, last = stream.getvalue().splitlines()
    assert (first, last) == (b"1", b"3")
    reason = "ValueError: no JSON for you"
    assert json.loads(failed) == {"event": "log.render_failed", "level": "error", "error": reason}


def test_a_render_that_logs_does_not_deadlock() -> None:
    stream = io.BytesIO()
    writer = BatchedLineWriter(stream)

    def chatty(what: str) -> bytes:
        writer.msg(b"from the render")  # off the loop: written at once, under the same lock
        return what.encode()

    writer.defer((chatty, "a"))
    assert stream.getvalue() == b"from the render\na\n"


async def test_a_thread_writes_at_once_while_the_loop_keeps_its_own_batch() -> None:
    stream = io.BytesIO()
    writer = BatchedLineWriter(stream)
    writer.msg(b"loop 1")
    thread = threading.Thread(target=writer.msg, args=(b"thread",))
    thread.start()
    thread.join()  # the loop does not get to run meanwhile
    assert stream.getvalue() == b"thread\n"  # the loop's line waits for the loop's flush
    writer.msg(b"loop 2")
    await asyncio.sleep(0)
    assert stream.getvalue() == b"thread\nloop 1\nloop 2\n"


def test_after_the_loop_stopped_its_lines_come_before_the_next_line() -> None:
    stream = io.BytesIO()
    writer = BatchedLineWriter(stream)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(_log(writer, b"on the loop"))  # its flush never runs
    writer.msg(b"after, off the loop")
    loop.close()
    assert stream.getvalue() == b"on the loop\nafter, off the loop\n"
