from examples.digest import daily_digest, send_daily_digest


async def test_the_digest_runs_without_a_payload_every_morning_at_eight() -> None:
    assert await send_daily_digest() == {"digests": 2}  # unit test: the function itself
    assert daily_digest.config.schedule is not None and daily_digest.config.schedule.spec == "0 8 * * *"
