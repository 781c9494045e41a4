"""Records as they exist in Redis, whatever wrote them (an older worker, a hand edit, a bug): the
worker writes only JSON proper, and every reader (the API, `jobs show`, `jobs completed`) shows
any record, one that cannot be read whole as unreadable with the reason."""

from __future__ import annotations

import json
import sys
from typing import Any

from redis.asyncio import Redis

from jobs import JobRecord, JobStatus, admin
from jobs.jsonsafe import MAX_DEPTH
from jobs.records import ErrorInfo
from jobs.store import keys
from jobs.store.inspection import get_record, job_status, latest

from .processes import ROOT, process_env, run_to_exit


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def _record_json(job_id: str, queue: str, **fields: str) -> bytes:
    """A completed record as JSON text, with some fields' JSON replaced verbatim."""
    parts = {
        "id": json.dumps(job_id),
        "job": '"by-hand"',
        "queue": json.dumps(queue),
        "status": '"completed"',
        "payload": "1",
        "result": "2",
        "error": "null",
        "attempts": "1",
        "enqueued_ms": "1",
        "started_ms": "2",
        "finished_ms": "3",
    }
    parts.update(fields)
    return ("{" + ",".join(f'"{k}":{v}' for k, v in parts.items()) + "}").encode()


def _strict_json(raw: bytes) -> Any:
    """`raw` parsed as JSON proper: NaN, Infinity and text that is not UTF-8 raise."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(raw.decode("utf-8"), parse_constant=refuse)


async def _retain(redis: Redis, queue: str, records: dict[str, bytes]) -> None:
    for score, (job_id, raw) in enumerate(records.items(), start=1):
        await redis.set(keys.record(job_id), raw)
        await redis.zadd(keys.finished(queue, "completed"), {job_id: score * 1_000_000})


def _jobs_command(*args: str) -> tuple[int, str, str]:
    env = process_env(JOBS_MODULES="", PYTHONPATH=str(ROOT))
    done = run_to_exit([sys.executable, "-m", "jobs", *args], env, timeout=30)
    return done.returncode, done.stdout, done.stderr


async def test_every_reader_survives_any_record_and_shows_the_unreadable_ones_with_the_reason(
    redis: Redis, queue: str
) -> None:
    """Deep nesting, a lone surrogate, NaN, garbage, a JSON array, missing fields: one listing shows them all."""
    ids = {kind: f"{kind}-{queue}" for kind in ("deep", "surrogate", "nan", "garbage", "array", "partial", "fine")}
    await _retain(
        redis,
        queue,
        {
            ids["deep"]: _record_json(ids["deep"], queue, payload=json.dumps(_nested(900))),
            ids["surrogate"]: _record_json(ids["surrogate"], queue, payload='{"text":"a\\ud800b"}'),
            ids["nan"]: _record_json(ids["nan"], queue, result="[NaN,Infinity]"),
            ids["garbage"]: b"\x00\xffnot json",
            ids["array"]: b"[1,2,3]",
            ids["partial"]: b'{"id":"x","status":"completed"}',
            ids["fine"]: _record_json(ids["fine"], queue),
        },
    )

    records = {r.id: r for r in await latest(queue, JobStatus.COMPLETED, limit=10)}

    assert set(records) == set(ids.values())
    deep, surrogate, nan = records[ids["deep"]], records[ids["surrogate"]], records[ids["nan"]]
    assert str(deep.payload).count("[") == MAX_DEPTH and f"nested deeper than {MAX_DEPTH} levels" in str(deep.payload)
    assert surrogate.payload == {"text": "a\ufffdb"} and nan.result == [None, None]
    for kind in ("garbage", "array", "partial"):
        unreadable = records[ids[kind]]
        assert (unreadable.job, unreadable.status, unreadable.queue) == ("<unreadable>", JobStatus.COMPLETED, queue)
        assert unreadable.error is not None and unreadable.error.type == "UnreadableRecord", kind
        assert unreadable.finished_ms > 0, "its finish time comes from the retained set"
    assert "not valid JSON" in str(records[ids["garbage"]].error) and "not an object" in str(
        records[ids["array"]].error
    )
    assert records[ids["fine"]].result == 2
    for job_id in ids.values():
        info = await admin.get_job(job_id)
        assert info is not None
        json.dumps(info.to_dict(), indent=2, ensure_ascii=False).encode()  # what `jobs show --json` prints
        assert await job_status(job_id) in (JobStatus.COMPLETED, JobStatus.FAILED)
        assert await get_record(job_id) is not None

    code, out, err = _jobs_command("completed", "--queue", queue, "--json", "--limit", "10")
    assert code == 0, err
    assert len(_strict_json(out.encode())) == len(ids)
    code, out, err = _jobs_command("completed", "--queue", queue, "--limit", "10")
    assert code == 0 and "UnreadableRecord: not valid JSON" in out, err
    for job_id in (ids["deep"], ids["surrogate"], ids["garbage"]):
        code, out, err = _jobs_command("show", job_id)
        assert code == 0, err


def test_a_record_is_json_proper_whatever_it_holds() -> None:
    """NaN, infinity, lone surrogates and nesting past the native serializer's limit: valid UTF-8
    JSON without NaN, read back intact where JSON can say it."""
    record = JobRecord(
        id="j",
        job="by-hand",
        queue="q",
        status=JobStatus.FAILED,
        payload={"ratio": float("nan"), "deep": _nested(300)},
        result=None,
        error=ErrorInfo(type="ValueError", message="bad \ud800 text", traceback=""),
        attempts=1,
        enqueued_ms=1,
        started_ms=2,
        finished_ms=3,
    )
    shallow = JobRecord(**{**{f: getattr(record, f) for f in record.__slots__}, "payload": [float("inf")]})

    for raw in (record.to_json(), shallow.to_json()):
        _strict_json(raw)
    back = JobRecord.from_json(record.to_json())
    assert back.payload == {"ratio": None, "deep": _nested(300)}
    assert back.error is not None and back.error.message == "bad \ufffd text"
    assert JobRecord.from_json(shallow.to_json()).payload == [None]
