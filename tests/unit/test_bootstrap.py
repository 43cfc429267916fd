"""The composition root: the local outbox by default, the real providers when credentials are set."""

from __future__ import annotations

from pydantic import SecretStr

from aftercare.bootstrap import build_services
from aftercare.providers.outbox import OutboxEmailSender, OutboxSmsSender
from aftercare.providers.sendgrid import SendGridEmailSender
from aftercare.providers.twilio import TwilioSmsSender
from tests.conftest import make_settings


def test_without_credentials_the_demo_outbox_is_used(tmp_path):
    services = build_services(make_settings(tmp_path))
    assert isinstance(services.email, OutboxEmailSender) and isinstance(services.sms, OutboxSmsSender)


def test_credentials_switch_the_same_services_to_sendgrid_and_twilio(tmp_path):
    settings = make_settings(
        tmp_path, sendgrid_api_key=SecretStr("SG.real-looking-key"), sendgrid_unsubscribe_group_id=7,
        twilio_account_sid="AC" + "0" * 32, twilio_auth_token=SecretStr("real-looking-token"),
        twilio_messaging_service_sid="MG" + "0" * 32,
    )
    services = build_services(settings)
    assert isinstance(services.email, SendGridEmailSender) and isinstance(services.sms, TwilioSmsSender)
    assert services.sweeper.email is services.email and services.sweeper.sms is services.sms


def test_secrets_never_show_in_the_settings_repr(tmp_path):
    settings = make_settings(tmp_path, sendgrid_api_key=SecretStr("SG.very-secret"),
                             twilio_auth_token=SecretStr("tw-very-secret"))
    assert "very-secret" not in repr(settings) and "very-secret" not in str(settings.model_dump())
