"""Property test: whatever bytes and headers arrive at any endpoint, never a 5xx, and without a valid
signature (or link token) nothing in the database changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftercare.bootstrap import Services, build_services
from aftercare.clock import FrozenClock
from aftercare.webhooks.app import create_app
from tests.conftest import START, make_settings
from tests.journeys import place_order
from tests.webhooks.conftest import PUBLIC, SHOPIFY_PREVIOUS, SHOPIFY_SECRET, TWILIO_TOKEN, snapshot

ENDPOINTS = [
    ("POST", "/webhooks/shopify"),
    ("POST", "/webhooks/sendgrid"),
    ("POST", "/webhooks/twilio/inbound"),
    ("POST", "/webhooks/twilio/status"),
    ("GET", "/csat"),
    ("POST", "/csat"),
    ("GET", "/review"),
    ("GET", "/refer"),
    ("GET", "/unsubscribe"),
    ("POST", "/unsubscribe"),
    ("GET", "/preferences"),
    ("POST", "/preferences"),
]
HEADER_NAMES = [
    "X-Shopify-Hmac-Sha256",
    "X-Shopify-Topic",
    "X-Shopify-Webhook-Id",
    "X-Twilio-Signature",
    "X-Twilio-Email-Event-Webhook-Signature",
    "X-Twilio-Email-Event-Webhook-Timestamp",
    "Content-Type",
    "I-Twilio-Idempotency-Token",
]
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
bodies = st.one_of(
    st.binary(max_size=300),
    st.just(b'{"id": 1, "order_id": 2, "status": "delivered"}'),
    st.just(b'[{"event": "bounce", "ledger_id": "1", "email": "c1@example.com"}]'),
    st.just(b"MessageSid=SM1&From=%2B12125550001&Body=STOP&MessageStatus=failed"),
    st.just(b"List-Unsubscribe=One-Click"),
)
tokens = st.one_of(
    st.none(), st.text(max_size=60), st.just("eyJjIjoxLCJrIjoidW5zdWIiLCJleHAiOjk5OTk5OTk5OTl9.AAAA")
)


@pytest.fixture(scope="module")
def fuzz_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    der = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    home: Path = tmp_path_factory.mktemp("fuzz")
    settings_ = make_settings(
        home,
        shopify_webhook_secret=SHOPIFY_SECRET,
        shopify_webhook_secret_previous=SHOPIFY_PREVIOUS,
        sendgrid_webhook_public_key=base64.b64encode(der).decode(),
        twilio_auth_token=TWILIO_TOKEN,
        public_base_url=PUBLIC,
    )
    built = build_services(settings_, clock=FrozenClock(START))
    place_order(built)  # a customer (id 1) and an order for forged requests to aim at
    yield built
    built.engine.dispose()


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_random_requests_never_5xx_and_never_change_state(
    fuzz_services: Services, method: str, path: str
) -> None:
    client = TestClient(create_app(lambda: fuzz_services), raise_server_exceptions=False)
    before = snapshot(fuzz_services)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        body=bodies,
        headers=st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=5),
        token=tokens,
    )
    def check(body: bytes, headers: dict[str, str], token: str | None) -> None:
        params = {"t": token} if token is not None else None
        if method == "GET":
            response = client.get(path, params=params, headers=headers)
        else:
            response = client.request(method, path, params=params, content=body, headers=headers)
        assert response.status_code < 500, response.text
        assert response.status_code in (400, 401, 403, 404) or (
            method == "GET" and response.status_code == 200
        )

    check()
    assert snapshot(fuzz_services) == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=15,
)
shopify_like = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "order_id": json_values,
        "fulfillment_id": json_values,
        "status": json_values,
        "created_at": json_values,
        "line_items": json_values,
        "customer": json_values,
        "refund_line_items": json_values,
        "cancelled_at": json_values,
    },
)


def test_signed_but_strange_bodies_never_5xx(fuzz_services: Services) -> None:
    """With a valid signature, odd shapes are stored (and left unapplied with their error) or refused."""
    import json as _json

    from twilio.request_validator import RequestValidator

    from tests.webhooks.conftest import shopify_headers

    client = TestClient(create_app(lambda: fuzz_services), raise_server_exceptions=False)
    topics = st.sampled_from(
        [
            "orders/create",
            "orders/cancelled",
            "fulfillments/create",
            "fulfillment_events/create",
            "refunds/create",
            "app/uninstalled",
        ]
    )

    @settings(max_examples=60, deadline=None)
    @given(
        payload=st.one_of(shopify_like, json_values),
        topic=topics,
        n=st.integers(0, 10**9),
        form=st.dictionaries(
            st.sampled_from(["MessageSid", "From", "Body", "MessageStatus", "ErrorCode"]),
            st.text(max_size=20),
            max_size=5,
        ),
    )
    def check(payload: object, topic: str, n: int, form: dict[str, str]) -> None:
        body = _json.dumps(payload).encode()
        response = client.post(
            "/webhooks/shopify", content=body, headers=shopify_headers(body, topic, f"fz-{n}")
        )
        assert response.status_code in (200, 400), response.text
        for path in ("/webhooks/twilio/inbound", "/webhooks/twilio/status"):
            signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC + path, form)
            response = client.post(path, data=form, headers={"X-Twilio-Signature": signature})
            assert response.status_code < 500, response.text

    check()
