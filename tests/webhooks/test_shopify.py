"""Shopify webhooks: the sample payloads replayed, signatures, de-duplication and journey effects."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from aftercare.bootstrap import Services
from aftercare.db.models import Customer, InboxEvent, Order, ReturnItem, ScheduledStep, Shipment
from tests.webhooks.conftest import (
    SHOPIFY_PREVIOUS,
    post_shopify,
    sample,
    sample_json,
    shopify_headers,
    snapshot,
)


def steps_of(services: Services) -> dict[str, str]:
    with services.session_factory() as session:
        return {s.step: s.status for s in session.scalars(select(ScheduledStep))}


def test_orders_create_sample_stores_the_order_and_schedules_the_confirmation(
    client: TestClient, services: Services
) -> None:
    response = post_shopify(client, "orders/create", sample("orders_create.json"), "wh-1")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "stored", "result": "order"}
    with services.session_factory() as session:
        order = session.scalar(select(Order).where(Order.external_id == "450789469"))
        assert order is not None and order.number == "#1001"
        customer = session.get(Customer, order.customer_id)
        assert customer is not None
        assert customer.timezone == "America/New_York"  # Kentucky, guessed from the shipping address
        assert customer.region == "US"
        event = session.scalar(select(InboxEvent))
        assert event is not None and event.applied_at is not None and event.dedup_key == "shopify:wh-1"
        assert "x-shopify-hmac-sha256" not in event.headers
    assert steps_of(services)["confirmation"] == "pending"


def test_the_same_webhook_three_times_changes_nothing_after_the_first(
    client: TestClient, services: Services
) -> None:
    body = sample("orders_create.json")
    assert post_shopify(client, "orders/create", body, "wh-same").json()["status"] == "stored"
    before = snapshot(services)
    for _ in range(2):
        response = post_shopify(client, "orders/create", body, "wh-same")
        assert response.status_code == 200
        assert response.json()["status"] == "duplicate"
    assert snapshot(services) == before


def test_a_forged_or_missing_signature_is_refused_and_changes_nothing(
    client: TestClient, services: Services
) -> None:
    body = sample("orders_create.json")
    before = snapshot(services)
    forged = shopify_headers(body, "orders/create", "wh-f", secret="not-the-secret")
    assert client.post("/webhooks/shopify", content=body, headers=forged).status_code == 401
    missing = {k: v for k, v in forged.items() if k != "X-Shopify-Hmac-Sha256"}
    assert client.post("/webhooks/shopify", content=body, headers=missing).status_code == 401
    tampered = shopify_headers(body, "orders/create", "wh-t")
    assert (
        client.post("/webhooks/shopify", content=body.replace(b"Bob", b"Rob"), headers=tampered).status_code
        == 401
    )
    assert snapshot(services) == before


def test_the_previous_secret_is_accepted_during_a_rotation(client: TestClient) -> None:
    response = post_shopify(
        client, "orders/create", sample("orders_create.json"), "wh-old", secret=SHOPIFY_PREVIOUS
    )
    assert response.status_code == 200


def test_malformed_json_with_a_valid_signature_gets_400_and_changes_nothing(
    client: TestClient, services: Services
) -> None:
    before = snapshot(services)
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe", b""):
        assert post_shopify(client, "orders/create", body, "wh-bad").status_code == 400
    assert snapshot(services) == before


def test_an_unknown_topic_is_stored_and_acknowledged(client: TestClient, services: Services) -> None:
    # (products/* fill the catalog now: aftercare/services/catalog.py)
    response = post_shopify(client, "inventory_levels/update", {"inventory_item_id": 1, "available": 3}, "wh-unknown")
    assert response.status_code == 200
    assert response.json()["result"] == "ignored:unknown_topic"
    with services.session_factory() as session:
        event = session.scalar(select(InboxEvent))
        assert event is not None and event.topic == "inventory_levels/update" and event.applied_at is not None


def test_a_fulfilment_before_its_order_is_kept_and_applied_later(
    client: TestClient, services: Services
) -> None:
    from aftercare.webhooks.inbox import apply_stored, unapplied_ids

    response = post_shopify(client, "fulfillments/create", sample("fulfillments_create.json"), "wh-ful")
    assert response.json() == {"status": "stored", "result": "pending"}
    post_shopify(client, "orders/create", sample("orders_create.json"), "wh-ord")
    with services.session_factory() as session:
        ids = unapplied_ids(session, 100)
    assert len(ids) == 1
    assert apply_stored(services, ids) == {"applied": 1}
    with services.session_factory() as session:
        shipment = session.scalar(select(Shipment))
        assert shipment is not None and shipment.tracking_number == "1Z001985YW99744790"
        assert unapplied_ids(session, 100) == []
    assert steps_of(services)["shipped"] == "pending"


def test_delivered_arriving_before_in_transit_stays_delivered(client: TestClient, services: Services) -> None:
    post_shopify(client, "orders/create", sample("orders_create.json"), "wh-o")
    post_shopify(client, "fulfillments/create", sample("fulfillments_create.json"), "wh-f")
    event = sample_json("fulfillment_events_create.json")
    # Only `status` (and the time) is changed from Shopify's in_transit sample: no delivered sample exists.
    delivered = dict(event, id=1, status="delivered", happened_at="2025-07-04T10:00:00-05:00")
    assert (
        post_shopify(client, "fulfillment_events/create", delivered, "wh-d").json()["result"]
        == "tracking:delivered"
    )
    assert (
        post_shopify(client, "fulfillment_events/create", event, "wh-t").json()["result"]
        == "tracking:in_transit"
    )
    with services.session_factory() as session:
        # The sample event belongs to fulfillment 255858046 (the order's own), not to the sample fulfillment.
        shipment = session.scalar(select(Shipment).where(Shipment.external_id == "255858046"))
        assert shipment is not None and shipment.status == "delivered" and shipment.delivered_at is not None
        order = session.scalar(select(Order))
        assert order is not None and order.status == "delivered"
    steps = steps_of(services)
    assert {"delivered_notice", "setup_guide", "csat"} <= set(steps)


def test_a_delay_event_schedules_the_delay_notice(client: TestClient, services: Services) -> None:
    post_shopify(client, "orders/create", sample("orders_create.json"), "wh-o")
    event = dict(sample_json("fulfillment_events_create.json"), status="delayed")  # only the status changed
    assert (
        post_shopify(client, "fulfillment_events/create", event, "wh-delay").json()["result"]
        == "tracking:delayed"
    )
    assert "delay_notice" in steps_of(services)


def test_orders_cancelled_stops_the_journey_with_a_cancellation_notice(
    client: TestClient, services: Services
) -> None:
    post_shopify(client, "orders/create", sample("orders_create.json"), "wh-o")
    assert (
        post_shopify(client, "orders/cancelled", sample("orders_cancelled.json"), "wh-c").status_code == 200
    )
    with services.session_factory() as session:
        order = session.scalar(select(Order))
        assert order is not None and order.status == "cancelled"
    assert "cancellation_notice" in steps_of(services)


def test_refunds_create_excludes_the_refunded_product(client: TestClient, services: Services) -> None:
    post_shopify(client, "orders/create", sample("orders_create.json"), "wh-o")
    assert (
        post_shopify(client, "refunds/create", sample("refunds_create.json"), "wh-r").json()["result"]
        == "refund"
    )
    assert (
        post_shopify(client, "refunds/create", sample("refunds_create.json"), "wh-r2").json()["result"]
        == "refund"
    )
    with services.session_factory() as session:
        returned = list(session.scalars(select(ReturnItem.product_id)))
    assert returned == ["632910392"]  # once, however often the refund is delivered
