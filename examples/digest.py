from jobs import Cron, job


async def send_daily_digest() -> dict[str, int]:  # no payload: triggered with trigger(), or by its schedule
    conversations = ["c-1", "c-2"]  # stands in for the conversations with unread messages
    return {"digests": len(conversations)}


daily_digest = job(
    name="send-daily-digest", queue="emails", run=send_daily_digest, schedule=Cron("0 8 * * *", tz="UTC")
)
