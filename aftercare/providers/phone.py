"""Phone numbers in, E.164 out: every SMS recipient passes through `normalise_phone` before a send."""

from __future__ import annotations

import phonenumbers


def normalise_phone(raw: str | None, default_region: str | None = None) -> str | None:
    """Return `raw` as E.164 (`+14155552671`), or None when it is not a valid number.

    `default_region` (ISO 3166 alpha-2, e.g. "US") reads national formats such as `(415) 555-2671`;
    numbers written with a leading `+` need none. Valid means a number plan that exists, not only the
    right length, so a typo is caught here instead of costing a provider error.
    """
    if raw is None or not raw.strip():
        return None
    try:
        parsed = phonenumbers.parse(raw.strip(), default_region.upper() if default_region else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
