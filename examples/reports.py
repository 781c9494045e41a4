from pydantic import BaseModel

from jobs import Cron, Every, Schedule, job, list_schedules, unschedule


class Report(BaseModel):
    account: str


@job(name="build-report", queue="reports")
async def build_report(payload: Report) -> None: ...


async def subscribe(account: str, weekly: bool) -> Schedule:
    spec = Cron("0 9 * * mon", tz="Europe/Paris") if weekly else Every(hours=6)
    return await build_report.schedule(f"report:{account}", spec, payload={"account": account})  # replaces any


async def unsubscribe(account: str) -> bool:
    return await unschedule(f"report:{account}")  # True if there was one


async def report_schedules() -> list[Schedule]:
    return [s for s in await list_schedules() if s.job == build_report.name]  # id, spec, tz, next_run, last_run
