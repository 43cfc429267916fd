"""Request size limits (413 before a body is read, per endpoint) and JSON nested too deeply (400)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aftercare.bootstrap import Services, build_services
from aftercare.clock import FrozenClock
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from aftercare.webhooks.app import create_app
from tests.conftest import make_settings
from tests.journeys import place_order
from tests.webhooks.conftest import (
    PUBLIC,
    SHOPIFY_SECRET,
    TWILIO_TOKEN,
    SendGridKey,
    post_shopify,
    sendgrid_headers,
    snapshot,
    twilio_post,
)

LIMIT = 8 * 1024
CHUNK = b"x" * 1024
CHUNKS_SENT = 200  # far past every limit here: a server that reads it all takes all 200


@pytest.fixture
def services(
    tmp_path: Path, clock: FrozenClock, email: FakeEmailSender, sms: FakeSmsSender, sendgrid_key: SendGridKey
) -> Iterator[Services]:
    settings = make_settings(
        tmp_path,
        shopify_webhook_secret=SHOPIFY_SECRET,
        sendgrid_webhook_public_key=sendgrid_key.public_b64,
        twilio_auth_token=TWILIO_TOKEN,
        public_base_url=PUBLIC,
        max_body_bytes_shopify=LIMIT,
        max_body_bytes_sendgrid=LIMIT,
        max_body_bytes_twilio=LIMIT,
        max_body_bytes_links=LIMIT,
    )
    built = build_services(settings, clock=clock, email=email, sms=sms)
    place_order(built)
    yield built
    built.engine.dispose()


def asgi_post(app: FastAPI, path: str, headers: dict[str, str]) -> tuple[int, int]:
    """POST straight to the ASGI app, body in 1 KiB chunks; returns (status, chunks the app pulled)."""
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled < CHUNKS_SENT:
            pulled += 1
            return {"type": "http.request", "body": CHUNK, "more_body": True}
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    route, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": route, "raw_path": route.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000), "server": ("internal", 8000),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return sent[0]["status"], pulled


def signed_headers(services: Services) -> dict[str, dict[str, str]]:
    """Per endpoint, headers that carry a signature (not a valid one: the size is refused first)."""
    now = services.clock.now()
    return {
        "/webhooks/shopify": {"X-Shopify-Hmac-Sha256": "c2lnbmF0dXJl", "X-Shopify-Topic": "orders/create"},
        "/webhooks/sendgrid": {"X-Twilio-Email-Event-Webhook-Signature": "c2ln",
                               "X-Twilio-Email-Event-Webhook-Timestamp": str(int(now.timestamp()))},
        "/webhooks/twilio/inbound": {"X-Twilio-Signature": "c2ln"},
        "/webhooks/twilio/status": {"X-Twilio-Signature": "c2ln"},
        services.links.unsubscribe(1, now).removeprefix(PUBLIC): {},
        services.links.preferences(1, now).removeprefix(PUBLIC): {},
        services.links.csat_links(1, now)[5].removeprefix(PUBLIC): {},
    }


def test_a_body_declared_over_the_limit_gets_413_before_a_byte_is_read(services: Services) -> None:
    app = create_app(lambda: services)
    before = snapshot(services)
    for path, headers in signed_headers(services).items():
        status, pulled = asgi_post(app, path, {**headers, "Content-Length": str(LIMIT + 1)})
        assert (status, pulled) == (413, 0), path
    assert snapshot(services) == before


def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit(services: Services) -> None:
    app = create_app(lambda: services)
    before = snapshot(services)
    for path, headers in signed_headers(services).items():
        status, pulled = asgi_post(app, path, {**headers, "Transfer-Encoding": "chunked"})
        assert (status, pulled) == (413, LIMIT // len(CHUNK) + 1), path
    assert snapshot(services) == before


def test_an_unsigned_request_is_refused_before_its_body_is_read(services: Services) -> None:
    app = create_app(lambda: services)
    for path in ("/webhooks/shopify", "/webhooks/sendgrid", "/webhooks/twilio/inbound", "/webhooks/twilio/status"):
        assert asgi_post(app, path, {"Content-Length": str(CHUNKS_SENT * len(CHUNK))}) == (401, 0), path


def test_each_endpoint_takes_a_body_up_to_its_own_limit(
    services: Services, tmp_path: Path, sendgrid_key: SendGridKey
) -> None:
    """A signed body one byte over the limit: 413 and nothing stored; the same content within it: accepted."""
    client = TestClient(create_app(lambda: services))
    base = {"id": 9001, "order_id": 1, "fulfillment_id": 5, "status": "in_transit",
            "created_at": "2026-03-02T15:00:00Z"}
    padding = LIMIT - len(json.dumps({**base, "pad": ""}).encode())
    before = snapshot(services)
    over = json.dumps({**base, "pad": "p" * (padding + 1)}).encode()
    assert post_shopify(client, "fulfillment_events/create", over, "w-over").status_code == 413
    events = json.dumps([{"event": "processed", "sg_event_id": "e1", "pad": "p" * LIMIT}]).encode()
    ts = int(services.clock.now().timestamp())
    response = client.post("/webhooks/sendgrid", content=events, headers=sendgrid_headers(sendgrid_key, events, ts))
    assert response.status_code == 413
    sms = {"MessageSid": "SMbig", "From": "+12125550001", "To": "+15005550006", "Body": "b" * LIMIT}
    assert twilio_post(client, "/webhooks/twilio/inbound", sms).status_code == 413
    assert snapshot(services) == before
    within = json.dumps({**base, "pad": "p" * padding}).encode()
    assert len(within) == LIMIT
    assert post_shopify(client, "fulfillment_events/create", within, "w-within").status_code == 200


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [100, 990, 1000, 3000])
def test_signed_json_nested_too_deeply_gets_400_and_changes_nothing(
    services: Services, sendgrid_key: SendGridKey, depth: int
) -> None:
    client = TestClient(create_app(lambda: services))
    before = snapshot(services)
    order = f'{{"id": 77, "created_at": "2026-03-02T15:00:00Z", "line_items": [], "note_attributes": {nested(depth)}}}'
    response = post_shopify(client, "orders/create", order.encode(), f"deep-{depth}")
    assert response.status_code == 400 and response.json() == {"detail": "malformed JSON"}
    events = f'[{{"event": "delivered", "sg_event_id": "deep", "x": {nested(depth)}}}]'.encode()
    ts = int(services.clock.now().timestamp())
    response = client.post("/webhooks/sendgrid", content=events, headers=sendgrid_headers(sendgrid_key, events, ts))
    assert response.status_code == 400
    assert snapshot(services) == before


def test_brackets_inside_strings_do_not_count_as_depth(services: Services) -> None:
    client = TestClient(create_app(lambda: services))
    body = json.dumps({"id": 9002, "order_id": 1, "fulfillment_id": 5, "status": "in_transit",
                       "created_at": "2026-03-02T15:00:00Z", "message": "[" * 500 + '\\"{' * 100}).encode()
    assert post_shopify(client, "fulfillment_events/create", body, "w-strings").status_code == 200
