"""Signature checks on the raw request bytes: Shopify HMAC, SendGrid ECDSA, Twilio HMAC-SHA1.

Each function returns True or False and never raises on bad input: whatever a caller sends, a failed
check is a 401, never a 500. Missing configuration (no secret, no key) fails every check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)


def shopify_hmac(body: bytes, header: str | None, secrets: Iterable[str]) -> bool:
    """`X-Shopify-Hmac-Sha256` is base64(HMAC-SHA256(secret, raw body)); any of `secrets` may match
    (the current and the previous one, during a rotation)."""
    if not header:
        return False
    given = header.strip().encode("ascii", "replace")
    ok = False
    for secret in secrets:
        if not secret:
            continue
        expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        ok |= hmac.compare_digest(expected, given)  # check every secret: no early exit to time
    return ok


@lru_cache(maxsize=4)
def _sendgrid_key(public_key: str) -> Any:
    return EventWebhook().convert_public_key_to_ecdsa(public_key.strip())


def sendgrid_signature(
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    public_key: str | None,
    *,
    now: datetime,
    max_age_seconds: float,
) -> bool:
    """ECDSA P-256/SHA-256 over `timestamp + raw body` with the public key from SendGrid's settings
    (base64 DER, as SendGrid shows it), and a timestamp no older than `max_age_seconds`."""
    if not (signature and timestamp and public_key):
        return False
    try:
        sent_at = int(timestamp)
        key = _sendgrid_key(public_key)
    except ValueError:
        return False
    except Exception:  # noqa: BLE001 - a misconfigured key: refuse, and say so without echoing it
        log.error("sendgrid webhook public key could not be loaded")
        return False
    if abs(now.timestamp() - sent_at) > max_age_seconds:
        return False
    try:
        # What EventWebhook.verify_signature does, on the raw bytes rather than a decoded str, so a body
        # that is not UTF-8 is still checked byte for byte (and then refused as malformed, not forged).
        key.verify(base64.b64decode(signature), timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, binascii.Error, ValueError, TypeError, UnicodeEncodeError):
        return False


def twilio_signature(
    url: str, params: Mapping[str, Any], signature: str | None, auth_token: str | None
) -> bool:
    """`X-Twilio-Signature` over the public URL Twilio called (not the one behind our proxy) and the
    form parameters."""
    if not (signature and auth_token):
        return False
    try:
        return bool(RequestValidator(auth_token).validate(url, dict(params), signature))
    except Exception:  # noqa: BLE001 - odd bytes in a forged signature or URL: a failed check, not a crash
        return False


def store_event_signature(body: bytes, header: str | None, secret: str | None) -> bool:
    """`X-Aftercare-Signature: sha256=<hex HMAC-SHA256 of the raw body>` with AFTERCARE_EVENTS_WEBHOOK_SECRET."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256=").strip().lower())
