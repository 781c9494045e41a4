from examples.emails import send_welcome_email
from examples.users import sign_up
from jobs.testing import mocked


async def test_sign_up_triggers_the_welcome_email() -> None:
    await sign_up("ada@example.com", "Ada")

    mocked(send_welcome_email.trigger).assert_awaited_once_with({"to": "ada@example.com", "name": "Ada"})
