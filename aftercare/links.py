"""Signed links: CSAT answers, one-click unsubscribe, preferences, reviews.

A token is `base64url(json payload).base64url(HMAC-SHA256)`; it carries ids and an expiry, never an email
or phone number, and a tampered or expired token is refused. Verification is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote


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
        raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        sig = hmac.new(self.secret, raw, hashlib.sha256).digest()
        return f"{_b64(raw)}.{_b64(sig)}"

    def verify(self, token: str, now: datetime, *, kind: str | None = None) -> dict[str, Any]:
        try:
            raw_part, sig_part = token.split(".", 1)
            raw = _unb64(raw_part)
            sig = _unb64(sig_part)
        except (ValueError, TypeError) as exc:
            raise InvalidLink("malformed token") from exc
        expected = hmac.new(self.secret, raw, hashlib.sha256).digest()
        if not hmac.compare_digest(sig, expected):
            raise InvalidLink("bad signature")
        try:
            payload = json.loads(raw)
        except ValueError as exc:
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

    def review(self, order_id: int, product_id: str | None, now: datetime) -> str:
        payload: dict[str, Any] = {"k": "review", "o": order_id}
        if product_id:
            payload["p"] = product_id
        return self.url("/review", payload, now)
