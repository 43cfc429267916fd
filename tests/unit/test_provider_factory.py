from __future__ import annotations

import socket

import pytest
from prefect.blocks.system import Secret

from aftercare.providers.base import EmailMessage, Outcome
from aftercare.providers.factory import build_email_sender, build_sms_sender
from aftercare.providers.ratelimit import TokenBucket
from aftercare.providers.sendgrid import SendGridEmailSender
from aftercare.providers.twilio import TwilioSmsSender
from aftercare.settings import Settings

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeSecretBlocks:
    """Stands in for `Secret.load`: records which blocks were read."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.loaded: list[str] = []

    def load(self, name: str, **_: object) -> Secret:
        self.loaded.append(name)
        return Secret(value=self.values[name])


@pytest.fixture
def blocks(monkeypatch: pytest.MonkeyPatch) -> FakeSecretBlocks:
    fake = FakeSecretBlocks({"sendgrid-key": "SG.from-a-block", "twilio-token": "token-from-a-block"})
    monkeypatch.setattr(Secret, "load", fake.load)
    return fake


def test_without_credentials_there_is_no_real_sender_so_the_caller_uses_the_outbox() -> None:
    assert build_email_sender(Settings()) is None
    assert build_sms_sender(Settings()) is None
    assert build_sms_sender(Settings(twilio_account_sid=ACCOUNT_SID)) is None


def test_configured_credentials_build_both_adapters_with_their_settings() -> None:
    settings = Settings(
        sendgrid_api_key="SG.real-looking-key",
        sendgrid_api_url="http://127.0.0.1:4011",
        sendgrid_unsubscribe_group_id=77,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token="a-real-looking-token",
        twilio_messaging_service_sid="MG" + "0" * 32,
        twilio_api_url="http://127.0.0.1:4010",
        sms_rate_per_second=3.0,
    )
    email = build_email_sender(settings)
    sms = build_sms_sender(settings)
    assert isinstance(email, SendGridEmailSender) and isinstance(sms, TwilioSmsSender)
    assert (email.api_url, email.unsubscribe_group_id) == ("http://127.0.0.1:4011", 77)
    assert (sms.api_url, sms.messaging_service_sid) == ("http://127.0.0.1:4010", "MG" + "0" * 32)
    assert isinstance(sms.limiter, TokenBucket) and sms.limiter.rate == 3.0


def test_a_handed_in_limiter_is_used_as_is() -> None:
    bucket = TokenBucket(5.0)
    sender = build_email_sender(Settings(sendgrid_api_key="SG.real-looking-key"), limiter=bucket)
    assert sender is not None and sender.limiter is bucket


def test_twilio_credentials_without_a_sender_are_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="messaging service SID nor a from number"):
        build_sms_sender(Settings(twilio_account_sid=ACCOUNT_SID, twilio_auth_token="a-real-looking-token"))


def test_secret_blocks_are_read_on_the_first_send_not_when_the_sender_is_built(
    blocks: FakeSecretBlocks,
) -> None:
    settings = Settings(
        sendgrid_api_key_block="sendgrid-key",
        sendgrid_api_url=f"http://127.0.0.1:{closed_port()}",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token_block="twilio-token",
        twilio_from_number="+14155550100",
    )
    email = build_email_sender(settings)
    sms = build_sms_sender(settings)
    assert email is not None and sms is not None
    assert settings.uses_sendgrid and settings.uses_twilio
    assert blocks.loaded == []
    message = EmailMessage(
        message_id="m1", to="ana@example.com", subject="s", html="<p>h</p>", text="t",
        step="order_confirmation", template="order_confirmation", locale="en", marketing=False,
    )
    assert [r.outcome for r in email.send_emails([message])] == [Outcome.RETRY]
    email.send_emails([message])
    assert blocks.loaded == ["sendgrid-key"]
    assert "from-a-block" not in repr(email) + repr(sms)


def test_an_empty_credential_is_refused_instead_of_falling_back_to_the_sdks_environment_variable() -> None:
    from pydantic import SecretStr

    with pytest.raises(ValueError, match="api_key is empty"):
        SendGridEmailSender(api_key=SecretStr(" "), from_email="orders@example.com")
    with pytest.raises(ValueError, match="auth_token is empty"):
        TwilioSmsSender(account_sid=ACCOUNT_SID, auth_token=SecretStr(""), from_number="+14155550100")
