from datetime import timedelta

from pydantic import BaseModel

from jobs import JobHandle, job


class NewMessage(BaseModel):
    conversation_id: str
    message_id: str


@job(name="notify-conversation-message", queue="notifications")
async def notify_conversation_message(payload: NewMessage) -> None: ...  # one email about the latest message


async def on_new_message(conversation_id: str, message_id: str) -> JobHandle:
    # Every new message triggers; the job runs once, five minutes after the last one, with the last payload.
    return await notify_conversation_message.trigger(
        {"conversation_id": conversation_id, "message_id": message_id},
        key=f"conversation:{conversation_id}",
        debounce=timedelta(minutes=5),
    )
