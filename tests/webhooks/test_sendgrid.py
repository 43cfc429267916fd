"""SendGrid's signed event webhook: ECDSA on the raw body, the ledger never moving backwards, suppressions."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from aftercare.bootstrap import Services
from aftercare.db.models import Consent, Customer
from tests.journeys import place_order
from tests.webhooks.conftest import SendGridKey, a_message, message_row, sendgrid_headers, snapshot


def post_events(
    client: TestClient,
    services: Services,
    key: SendGridKey,
    events: list[dict[str, Any]] | bytes,
    *,
    age: timedelta = timedelta(0),
) -> Any:
    body = events if isinstance(events, bytes) else json.dumps(events).encode()
    ts = int((services.clock.now() - age).timestamp())
    return client.post("/webhooks/sendgrid", content=body, headers=sendgrid_headers(key, body, ts))


def event(kind: str, n: int, ledger_id: int, ts: int, **extra: Any) -> dict[str, Any]:
    return {
        "event": kind,
        "sg_event_id": f"evt-{n}",
        "sg_message_id": f"sg{ledger_id}.filter0001.1.2",
        "aftercare_message_id": str(ledger_id),  # what the adapter puts in custom_args
        "timestamp": ts,
        "email": "c1@example.com",
        **extra,
    }


def test_events_out_of_order_never_move_a_message_backwards(
    client: TestClient, services: Services, sendgrid_key: SendGridKey
) -> None:
    order_id = place_order(services)
    mid = a_message(services, order_id=order_id, channel="email", provider_id="sg-x")
    ts = int(services.clock.now().timestamp())
    assert post_events(client, services, sendgrid_key, [event("click", 1, mid, ts)]).status_code == 200
    assert message_row(services, mid).status == "clicked"
    post_events(
        client, services, sendgrid_key, [event("open", 2, mid, ts - 60), event("delivered", 3, mid, ts - 120)]
    )
    assert message_row(services, mid).status == "clicked"


def test_a_message_is_found_by_sg_message_id_when_no_ledger_id_came_back(
    client: TestClient, services: Services, sendgrid_key: SendGridKey
) -> None:
    order_id = place_order(services)
    mid = a_message(services, order_id=order_id, channel="email", provider_id="14c5d75ce93")
    ts = int(services.clock.now().timestamp())
    post_events(
        client,
        services,
        sendgrid_key,
        [
            {
                "event": "delivered",
                "sg_event_id": "e1",
                "timestamp": ts,
                "sg_message_id": "14c5d75ce93.filter0001.16648.5515E0B88.0",
            }
        ],
    )
    assert message_row(services, mid).status == "delivered"


def test_bounce_and_unsubscribe_update_the_suppressions(
    client: TestClient, services: Services, sendgrid_key: SendGridKey
) -> None:
    order_id = place_order(services)
    mid = a_message(services, order_id=order_id, channel="email", provider_id="sg-b")
    ts = int(services.clock.now().timestamp())
    post_events(
        client,
        services,
        sendgrid_key,
        [event("bounce", 1, mid, ts, type="bounce", status="5.1.1"), event("group_unsubscribe", 2, mid, ts)],
    )
    row = message_row(services, mid)
    assert (row.status, row.error_code, row.reason) == ("bounced", "5.1.1", "sendgrid_bounce")
    with services.session_factory() as session:
        customer = session.scalar(select(Customer))
        assert customer is not None and customer.email_bounced_at is not None
        assert customer.email_unsubscribed_at is not None
        consent = session.scalar(
            select(Consent).where(Consent.channel == "email", Consent.purpose == "marketing")
        )
        assert consent is not None and not consent.granted and consent.source == "sendgrid:group_unsubscribe"


def test_a_replayed_batch_returns_200_and_changes_nothing(
    client: TestClient, services: Services, sendgrid_key: SendGridKey
) -> None:
    order_id = place_order(services)
    mid = a_message(services, order_id=order_id, channel="email", provider_id="sg-r")
    batch = [event("delivered", 1, mid, int(services.clock.now().timestamp()))]
    assert post_events(client, services, sendgrid_key, batch).json() == {"stored": 1, "duplicates": 0}
    before = snapshot(services)
    response = post_events(client, services, sendgrid_key, batch)
    assert response.status_code == 200 and response.json() == {"stored": 0, "duplicates": 1}
    assert snapshot(services) == before


def test_forged_stale_and_unsigned_batches_get_401_and_change_nothing(
    client: TestClient, services: Services, sendgrid_key: SendGridKey
) -> None:
    order_id = place_order(services)
    mid = a_message(services, order_id=order_id, channel="email", provider_id="sg-f")
    body = json.dumps([event("bounce", 1, mid, 0)]).encode()
    before = snapshot(services)
    ts = str(int(services.clock.now().timestamp()))
    forged = sendgrid_headers(sendgrid_key, body, int(ts))
    forged["X-Twilio-Email-Event-Webhook-Signature"] = sendgrid_key.sign(b"[]", ts)
    assert client.post("/webhooks/sendgrid", content=body, headers=forged).status_code == 401
    assert client.post("/webhooks/sendgrid", content=body).status_code == 401
    tampered = sendgrid_headers(sendgrid_key, body, int(ts))
    assert client.post("/webhooks/sendgrid", content=body + b" ", headers=tampered).status_code == 401
    assert post_events(client, services, sendgrid_key, body, age=timedelta(hours=2)).status_code == 401
    assert snapshot(services) == before


def test_malformed_json_with_a_valid_signature_gets_400(
    client: TestClient, services: Services, sendgrid_key: SendGridKey
) -> None:
    before = snapshot(services)
    for body in (b"[{", b'{"event": "open"}', b"[1, 2]", b"\xff"):
        assert post_events(client, services, sendgrid_key, body).status_code == 400
    assert snapshot(services) == before


def test_messages_batched_under_one_x_message_id_are_told_apart_by_recipient(
    client: TestClient, services: Services, sendgrid_key: SendGridKey
) -> None:
    first = a_message(services, order_id=place_order(services, n=1), channel="email", provider_id="batch1")
    second = a_message(services, order_id=place_order(services, n=2), channel="email", provider_id="batch1")
    ts = int(services.clock.now().timestamp())
    post_events(client, services, sendgrid_key, [{
        "event": "delivered", "sg_event_id": "b2", "timestamp": ts, "email": "c2@example.com",
        "sg_message_id": "batch1.filter0001.1.2",
    }])
    assert message_row(services, second).status == "delivered"
    assert message_row(services, first).status == "sent"
