"""Fixtures for the webhook app: services with webhook secrets, a TestClient, signing helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from aftercare.bootstrap import Services, build_services
from aftercare.clock import FrozenClock
from aftercare.db.models import Base, Message, Order
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from aftercare.webhooks.app import create_app
from tests.conftest import make_settings, skip_or_fail

SHOPIFY_SECRET = "shopify-test-secret-current"
SHOPIFY_PREVIOUS = "shopify-test-secret-previous"
TWILIO_TOKEN = "twilio-test-auth-token"
PUBLIC = "https://hooks.example.test"


@dataclass
class SendGridKey:
    private: ec.EllipticCurvePrivateKey
    public_b64: str

    def sign(self, body: bytes, timestamp: str) -> str:
        return base64.b64encode(
            self.private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        ).decode()


@pytest.fixture(scope="session")
def sendgrid_key() -> SendGridKey:
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return SendGridKey(private, base64.b64encode(der).decode())


@pytest.fixture
def services(
    tmp_path: Path, clock: FrozenClock, email: FakeEmailSender, sms: FakeSmsSender, sendgrid_key: SendGridKey
) -> Iterator[Services]:
    settings = make_settings(
        tmp_path,
        shopify_webhook_secret=SHOPIFY_SECRET,
        shopify_webhook_secret_previous=SHOPIFY_PREVIOUS,
        sendgrid_webhook_public_key=sendgrid_key.public_b64,
        twilio_auth_token=TWILIO_TOKEN,
        public_base_url=PUBLIC,
        store_name="Test Store",
        support_email="help@store.test",
    )
    built = build_services(settings, clock=clock, email=email, sms=sms)
    yield built
    built.engine.dispose()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: services), base_url="http://internal:8000") as c:
        yield c


def shopify_headers(body: bytes, topic: str, webhook_id: str, secret: str = SHOPIFY_SECRET) -> dict[str, str]:
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Shop-Domain": "test.myshopify.com",
        "Content-Type": "application/json",
    }


def post_shopify(
    client: TestClient,
    topic: str,
    payload: dict[str, Any] | bytes,
    webhook_id: str,
    secret: str = SHOPIFY_SECRET,
) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(
        "/webhooks/shopify", content=body, headers=shopify_headers(body, topic, webhook_id, secret)
    )


def sendgrid_headers(key: SendGridKey, body: bytes, timestamp: int) -> dict[str, str]:
    ts = str(timestamp)
    return {
        "X-Twilio-Email-Event-Webhook-Signature": key.sign(body, ts),
        "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        "Content-Type": "application/json",
    }


def twilio_post(
    client: TestClient,
    path: str,
    params: dict[str, str],
    *,
    token: str = TWILIO_TOKEN,
    headers: dict[str, str] | None = None,
) -> Any:
    signature = RequestValidator(token).compute_signature(PUBLIC + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature, **(headers or {})})


def sample(name: str) -> bytes:
    folder = os.environ.get("AFTERCARE_SAMPLE_PAYLOADS")
    if not folder:
        skip_or_fail("AFTERCARE_SAMPLE_PAYLOADS is not set (CI sets it to ../shared/payloads)")
    path = Path(folder) / "shopify" / name
    if not path.is_file():
        skip_or_fail(f"sample payload {path} is missing")
    return path.read_bytes()


def sample_json(name: str) -> dict[str, Any]:
    return json.loads(sample(name))


def table_counts(services: Services) -> dict[str, int]:
    with services.session_factory() as session:
        return {
            name: session.scalar(select(func.count()).select_from(table)) or 0
            for name, table in Base.metadata.tables.items()
        }


def snapshot(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: 'nothing changed' means this is equal before and after."""
    with services.session_factory() as session:
        return {
            name: sorted(tuple(map(repr, row)) for row in session.execute(select(table)))
            for name, table in Base.metadata.tables.items()
        }


def a_message(
    services: Services,
    *,
    order_id: int,
    channel: str,
    provider_id: str | None,
    step: str = "csat",
    status: str = "sent",
    sent_ago: timedelta = timedelta(hours=1),
) -> int:
    """A ledger row as the sweep leaves it after a send (for provider events to act on)."""
    now = services.clock.now()
    with services.session_factory() as session, session.begin():
        order = session.get(Order, order_id)
        assert order is not None
        message = Message(
            idempotency_key=f"test:{order_id}:{step}:{channel}",
            customer_id=order.customer_id,
            order_id=order_id,
            step=step,
            purpose="marketing",
            channel=channel,
            status=status,
            provider="fake",
            provider_message_id=provider_id,
            created_at=now - sent_ago,
            sent_at=now - sent_ago,
            status_at=now - sent_ago,
        )
        session.add(message)
        session.flush()
        return message.id


def message_row(services: Services, message_id: int) -> Message:
    with services.session_factory() as session:
        message = session.get(Message, message_id)
        assert message is not None
        return message
