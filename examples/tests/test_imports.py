import pytest

from examples.cancelling import cancel_import
from examples.imports import ImportFiles, ImportSummary, import_files
from jobs import JobCancelledError, JobStatus
from jobs.testing import BurstWorker, reported_progress


async def test_the_import_reports_progress_and_sums_up() -> None:
    summary = await import_files.config.run(ImportFiles(paths=["a.csv", "notes.txt"]))

    assert summary == ImportSummary(imported=1, skipped=["notes.txt"])
    progress = reported_progress()  # kept in memory: no worker, no Redis
    assert progress is not None and (progress.fraction, progress.message) == (1.0, "2 of 2 files")


async def test_the_result_comes_back_as_the_model(jobs_worker: BurstWorker) -> None:
    handle = await import_files.trigger({"paths": ["a.csv"]})

    await jobs_worker.drain(timeout=30)

    assert await handle.result(timeout=1) == ImportSummary(imported=1, skipped=[])


async def test_a_cancelled_import_never_runs(jobs_worker: BurstWorker) -> None:
    handle = await import_files.trigger({"paths": ["a.csv"]})

    assert (await cancel_import(handle.id))["outcome"] == "cancelled"
    worker = await jobs_worker.drain(timeout=30)

    assert worker.totals()["completed"] == 0
    assert await handle.status() is JobStatus.CANCELLED
    with pytest.raises(JobCancelledError):
        await handle.result(timeout=1)
