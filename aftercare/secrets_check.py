"""Refusing to start with secrets that would let anyone forge a customer's link or a provider's webhook.

A link secret signs CSAT, unsubscribe and preference links; a webhook secret is the only thing between the
internet and consent changes. Outside development (the demo, the tests) `serve`, `sweep` and every flow
call `require_safe_secrets` first and stop, saying what to fix, rather than run with a missing, placeholder,
built-in or short one.
"""

from __future__ import annotations

from pydantic import SecretStr

from aftercare.settings import _PLACEHOLDERS, DEVELOPMENT_LINK_SECRET, Settings

MIN_SECRET_BYTES = 32
MAKE_ONE = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


class UnsafeSecrets(RuntimeError):
    """A secret is missing, a placeholder, the development one, or shorter than MIN_SECRET_BYTES."""


def _weakness(value: SecretStr | None, *, required: bool) -> str | None:
    if value is None:
        return "is not set" if required else None
    text = value.get_secret_value()
    if not text.strip():
        return "is blank"
    if text.strip().lower() in _PLACEHOLDERS or text == DEVELOPMENT_LINK_SECRET:
        return "is a placeholder or the built-in development secret"
    if len(text.encode()) < MIN_SECRET_BYTES:
        return f"is shorter than {MIN_SECRET_BYTES} bytes"
    return None


def secret_problems(settings: Settings) -> list[str]:
    """What is wrong, one line per setting (never the secret itself); empty in development."""
    if settings.environment == "development":
        return []
    checks = (
        ("AFTERCARE_LINK_SECRET", settings.link_secret, True),
        ("AFTERCARE_SHOPIFY_WEBHOOK_SECRET", settings.shopify_webhook_secret, False),
        ("AFTERCARE_SHOPIFY_WEBHOOK_SECRET_PREVIOUS", settings.shopify_webhook_secret_previous, False),
        ("AFTERCARE_TWILIO_AUTH_TOKEN", settings.twilio_auth_token, False),
        ("AFTERCARE_HELPDESK_WEBHOOK_SECRET", settings.helpdesk_webhook_secret, False),
    )
    return [f"{name} {problem}" for name, value, required in checks if (problem := _weakness(value, required=required))]


def require_safe_secrets(settings: Settings) -> None:
    problems = secret_problems(settings)
    if problems:
        raise UnsafeSecrets(
            "aftercare will not start: " + "; ".join(problems) + ".\n"
            f"Make a secret with:  {MAKE_ONE}\n"
            "and set it in the environment or in .env (an unset webhook secret is fine: that endpoint then "
            "refuses every request). For the demo or local experiments only, set AFTERCARE_ENVIRONMENT=development."
        )
