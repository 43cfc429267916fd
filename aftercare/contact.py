"""Normalising and validating addresses once, at ingest, so a bad address becomes a recorded skip
(with its reason) when a step is due, never an exception in the middle of a batch."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email


def normalise_email(raw: str | None) -> str | None:
    """The normalised address, or None when absent or invalid (syntax only; no DNS look-ups)."""
    if not raw or not raw.strip():
        return None
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def normalise_phone(raw: str | None, region: str | None = None) -> str | None:
    """E.164 form of a possible, valid number, or None. `region` (ISO country) parses national numbers."""
    if not raw or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw.strip(), (region or "US").upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
