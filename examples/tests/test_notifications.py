from examples.notifications import notify_conversation_message, on_new_message
from jobs.testing import triggered


async def test_new_messages_of_one_conversation_make_one_notification_with_the_last_message() -> None:
    handles = [await on_new_message("42", f"m-{n}") for n in range(5)]

    (notification,) = triggered(notify_conversation_message)  # the mocked trigger debounces as Redis does
    assert notification.payload == {"conversation_id": "42", "message_id": "m-4"}
    assert [h.outcome for h in handles] == ["enqueued"] + ["replaced"] * 4
