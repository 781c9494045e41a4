"""JSON lines are batched per event-loop iteration: in order, soon, and at once off the loop."""

from __future__ import annotations

import asyncio
import io
import threading

from jobs.log_output import MAX_BUFFERED_LINES, BatchedLineWriter


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
