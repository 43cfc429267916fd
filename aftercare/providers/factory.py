"""Build the real provider senders from settings, or None so the caller falls back to the local outbox.

Credentials come from settings (`SecretStr`) or, when `AFTERCARE_SENDGRID_API_KEY_BLOCK` /
`AFTERCARE_TWILIO_AUTH_TOKEN_BLOCK` names one, from a Prefect `Secret` block read on the first send.
Each sender gets a rate limiter named after the provider and the sender (shared through Redis when
`redis_url` is set), unless the caller hands one in.
"""

from __future__ import annotations

from pydantic import SecretStr

from aftercare.providers.credentials import Credential, prefect_secret_block
from aftercare.providers.ratelimit import RateLimiter, build_limiter
from aftercare.providers.sendgrid import SendGridEmailSender
from aftercare.providers.twilio import TwilioSmsSender
from aftercare.settings import Settings


def _credential(value: SecretStr | None, block: str | None) -> Credential | None:
    if value is not None:
        return value
    if block:
        return prefect_secret_block(block)
    return None


def build_email_sender(
    settings: Settings, *, limiter: RateLimiter | None = None
) -> SendGridEmailSender | None:
    api_key = _credential(settings.sendgrid_api_key, settings.sendgrid_api_key_block)
    if api_key is None:
        return None
    return SendGridEmailSender(
        api_key=api_key,
        from_email=settings.email_from,
        api_url=settings.sendgrid_api_url,
        unsubscribe_group_id=settings.sendgrid_unsubscribe_group_id,
        timeout_seconds=settings.sendgrid_timeout_seconds,
        limiter=limiter
        or build_limiter(settings, name="sendgrid:mail-send", rate=settings.email_rate_per_second),
    )


def build_sms_sender(settings: Settings, *, limiter: RateLimiter | None = None) -> TwilioSmsSender | None:
    auth_token = _credential(settings.twilio_auth_token, settings.twilio_auth_token_block)
    if settings.twilio_account_sid is None or auth_token is None:
        return None
    sender = settings.twilio_messaging_service_sid or settings.twilio_from_number
    if sender is None:
        raise ValueError("Twilio credentials are set but neither a messaging service SID nor a from number")
    return TwilioSmsSender(
        account_sid=settings.twilio_account_sid,
        auth_token=auth_token,
        messaging_service_sid=settings.twilio_messaging_service_sid,
        from_number=settings.twilio_from_number,
        status_callback_url=settings.twilio_status_callback_url,
        api_url=settings.twilio_api_url,
        timeout_seconds=settings.twilio_timeout_seconds,
        default_region=settings.sms_default_region,
        limiter=limiter
        or build_limiter(settings, name=f"twilio:{sender}", rate=settings.sms_rate_per_second),
    )
