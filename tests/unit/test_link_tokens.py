"""A token is base64url(compact, key-sorted JSON).base64url(HMAC-SHA256): links already sent stay valid."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from aftercare.links import LinkSigner

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def _reference(signer: LinkSigner, payload: dict[str, object]) -> str:
    raw = json.dumps(dict(payload, exp=int((NOW + signer.ttl).timestamp())), separators=(",", ":"),
                     sort_keys=True).encode()
    sig = hmac.new(signer.secret, raw, hashlib.sha256).digest()
    return ".".join(base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in (raw, sig))


@pytest.mark.parametrize("payload", [{"k": "order", "o": 1042}, {"k": "csat", "o": 7, "s": 5},
                                     {"k": "review", "o": 5, "p": "sku-é/ü ?&\"\\"}, {"k": "unsub", "c": 10**12}])
def test_a_token_is_the_documented_text(payload: dict[str, object]) -> None:
    signer = LinkSigner(b"0123456789abcdef0123456789abcdef", "https://shop.example/")
    token = signer.sign(payload, NOW)
    assert token == _reference(signer, payload)
    assert signer.verify(token, NOW, kind=str(payload["k"]))["k"] == payload["k"]
