from examples.reports import report_schedules, subscribe, unsubscribe
from jobs.testing import BurstWorker


async def test_an_account_subscribes_changes_and_unsubscribes(jobs_worker: BurstWorker) -> None:
    weekly = await subscribe("acme", weekly=True)  # a real Redis: this test uses jobs_worker
    assert (weekly.spec, weekly.tz, weekly.last_run) == ("0 9 * * mon", "Europe/Paris", None)

    every_six_hours = await subscribe("acme", weekly=False)
    assert [(s.id, s.spec) for s in await report_schedules()] == [("report:acme", "every 6h")]
    assert every_six_hours.next_run is not None and every_six_hours.next_run.hour % 6 == 0

    assert await unsubscribe("acme") and not await unsubscribe("acme")
