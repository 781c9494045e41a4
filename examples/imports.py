from pydantic import BaseModel

from jobs import current_attempt, job


class ImportFiles(BaseModel):
    paths: list[str]


class ImportSummary(BaseModel):
    imported: int
    skipped: list[str]


@job(name="import-files", queue="imports", timeout=600)
async def import_files(payload: ImportFiles) -> ImportSummary:  # the return annotation is the result type
    skipped = []
    for done, path in enumerate(payload.paths, start=1):
        if not path.endswith(".csv"):
            skipped.append(path)
        # ... read the file and store its rows ...
        total = len(payload.paths)
        await current_attempt().report_progress(done / total, message=f"{done} of {total} files")
    return ImportSummary(imported=len(payload.paths) - len(skipped), skipped=skipped)


async def import_and_wait(paths: list[str]) -> ImportSummary:
    handle = await import_files.trigger({"paths": paths})  # a JobHandle[ImportSummary]
    return await handle.result(timeout=60)  # an ImportSummary, validated from the stored JSON
