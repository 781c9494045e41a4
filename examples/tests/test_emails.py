from examples import email_provider
from examples.emails import WelcomeEmail, send_welcome_email


async def test_send_welcome_email_sends_the_welcome_template() -> None:
    result = await send_welcome_email.config.run(WelcomeEmail(to="ada@example.com", name="Ada"))

    assert result == {"status": "sent", "to": "ada@example.com"}
    assert email_provider.outbox[-1] == email_provider.Sent("ada@example.com", "welcome", "Ada")
