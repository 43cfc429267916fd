"""Signed links: CSAT answers, one-click unsubscribe, preferences, reviews.

A token is `base64url(json payload).base64url(HMAC-SHA256)`; it carries ids and an expiry, never an email
or phone number, and a tampered or expired token is refused. Verification is constant-time, and only the
exact text `sign` produces is accepted: unpadded base64url in its one canonical spelling, nothing appended
(a lenient base64 decoder ignores padding and anything after it, so `token + "=junk"` would still verify).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,4096}\.[A-Za-z0-9_-]{1,64}")


# json.dumps(payload, separators=(",", ":"), sort_keys=True), without a new encoder per call: a sweep signs a
# link or more for most messages (order page, CSAT answers, unsubscribe and preferences).
_ENCODE = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode


class InvalidLink(ValueError):
    """The token was tampered with, is malformed, or has expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class LinkSigner:
    secret: bytes
    base_url: str
    ttl: timedelta = timedelta(days=30)

    def sign(self, payload: dict[str, Any], now: datetime) -> str:
        body = dict(payload, exp=int((now + self.ttl).timestamp()))
        raw = _ENCODE(body).encode()
        sig = hmac.digest(self.secret, raw, "sha256")  # the MAC of hmac.new(..., sha256), in one C call
        return f"{_b64(raw)}.{_b64(sig)}"

    def verify(self, token: str, now: datetime, *, kind: str | None = None) -> dict[str, Any]:
        if not _TOKEN.fullmatch(token):
            raise InvalidLink("malformed token")
        raw_part, sig_part = token.split(".")
        try:
            raw = _unb64(raw_part)
            sig = _unb64(sig_part)
        except (ValueError, TypeError) as exc:
            raise InvalidLink("malformed token") from exc
        if _b64(raw) != raw_part or _b64(sig) != sig_part or len(sig) != hashlib.sha256().digest_size:
            raise InvalidLink("bad signature")  # other spare bits, or not a SHA-256 MAC: not the text we signed
        expected = hmac.new(self.secret, raw, hashlib.sha256).digest()
        if not hmac.compare_digest(sig, expected):
            raise InvalidLink("bad signature")
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise InvalidLink("malformed payload") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
            raise InvalidLink("malformed payload")
        if payload["exp"] < now.timestamp():
            raise InvalidLink("expired")
        if kind is not None and payload.get("k") != kind:
            raise InvalidLink("wrong link kind")
        return payload

    def url(self, path: str, payload: dict[str, Any], now: datetime) -> str:
        return f"{self.base_url.rstrip('/')}{path}?t={quote(self.sign(payload, now))}"

    def csat_links(self, order_id: int, now: datetime) -> dict[int, str]:
        return {score: self.url("/csat", {"k": "csat", "o": order_id, "s": score}, now) for score in range(1, 6)}

    def unsubscribe(self, customer_id: int, now: datetime) -> str:
        return self.url("/unsubscribe", {"k": "unsub", "c": customer_id}, now)

    def preferences(self, customer_id: int, now: datetime) -> str:
        return self.url("/preferences", {"k": "prefs", "c": customer_id}, now)

    def referral_code(self, customer_id: int) -> str:
        """The referrer's code on the store's referral landing: stable per customer, not guessable from the
        id (the id is not in it), and found again from our side through the recorded referral click."""
        digest = hmac.new(self.secret, f"referral-code:{customer_id}".encode(), hashlib.sha256).digest()
        return base64.b32encode(digest[:10]).decode()

    def order(self, order_id: int, now: datetime) -> str:
        """The order page: status, tracking, report a problem, cancel while allowed (GET shows, POST acts)."""
        return self.url("/order", {"k": "order", "o": order_id}, now)

    def review(self, order_id: int, product_id: str | None, now: datetime) -> str:
        payload: dict[str, Any] = {"k": "review", "o": order_id}
        if product_id:
            payload["p"] = product_id
        return self.url("/review", payload, now)
