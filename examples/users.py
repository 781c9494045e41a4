"""The app's own code that triggers a job: what the testing examples exercise."""

from examples.emails import send_welcome_email
from jobs import JobHandle


async def sign_up(email: str, name: str) -> JobHandle:
    # ... create the user in the app's database ...
    return await send_welcome_email.trigger({"to": email, "name": name})
