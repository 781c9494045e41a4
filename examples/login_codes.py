from jobs import JobHandle

from .sms import send_sms


async def send_login_code(phone: str, code: str) -> JobHandle:
    # Someone waits for this one: it goes ahead of the due marketing messages (priority 0).
    return await send_sms.trigger({"to": phone, "text": f"Your login code is {code}"}, priority=10)


async def send_campaign(phones: list[str], text: str) -> list[JobHandle]:
    # A campaign can wait: behind everything else that is due.
    return await send_sms.trigger_many([{"to": phone, "text": text} for phone in phones], priority=-5)
