"""End to end through the webhooks: an ingested order is confirmed, a cancellation sends its notice,
and orders re-read from the Admin API go through the same inbox path."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from aftercare.bootstrap import Services, build_services
from aftercare.clock import FrozenClock
from aftercare.db.models import Message
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from aftercare.rendering.renderer import TEMPLATES_DIR, Renderer
from aftercare.webhooks import reconcile
from tests.conftest import make_settings
from tests.webhooks.conftest import SHOPIFY_SECRET, post_shopify, sample, sample_json

# Message templates are landing on main in parallel; until they do, these stand in for the two steps.
_STAND_INS = {
    "confirmation": "Order {{ order_number }} confirmed",
    "cancellation_notice": "Order {{ order_number }} cancelled",
}


@pytest.fixture
def services(
    tmp_path: Path, clock: FrozenClock, email: FakeEmailSender, sms: FakeSmsSender
) -> Iterator[Services]:
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, templates)
    for step, subject in _STAND_INS.items():
        path = templates / "en" / f"{step}.email.html"
        if not path.exists():
            path.write_text(
                "{% block subject %}"
                + subject
                + "{% endblock %}{% block html %}<p>"
                + subject
                + "</p>{% endblock %}{% block text %}"
                + subject
                + "{% endblock %}"
            )
    settings = make_settings(tmp_path, shopify_webhook_secret=SHOPIFY_SECRET)
    built = build_services(settings, clock=clock, email=email, sms=sms, renderer=Renderer(templates))
    yield built
    built.engine.dispose()


def at_sample_time(clock: FrozenClock, name: str, field: str = "created_at") -> None:
    """Put the clock just after a sample's own time: every step expires, and Shopify's samples are years old."""
    clock.set(datetime.fromisoformat(sample_json(name)[field]).astimezone(UTC) + timedelta(minutes=5))


def test_an_ingested_order_gets_its_confirmation_email(
    client: TestClient, services: Services, clock: FrozenClock, email: FakeEmailSender
) -> None:
    at_sample_time(clock, "orders_create.json")
    assert post_shopify(client, "orders/create", sample("orders_create.json"), "wh-1").status_code == 200
    services.sweeper.run()
    sent = email.to("bob.norman@mail.example.com")
    assert [m.step for m in sent] == ["confirmation"]
    assert "#1001" in sent[0].subject


def test_a_cancellation_sends_the_cancellation_notice_and_stops_the_journey(
    client: TestClient, services: Services, clock: FrozenClock, email: FakeEmailSender
) -> None:
    at_sample_time(clock, "orders_create.json")
    post_shopify(client, "orders/create", sample("orders_create.json"), "wh-1")
    services.sweeper.run()
    at_sample_time(clock, "orders_cancelled.json", "cancelled_at")
    post_shopify(client, "orders/cancelled", sample("orders_cancelled.json"), "wh-2")
    post_shopify(client, "fulfillments/create", sample("fulfillments_create.json"), "wh-3")
    clock.advance(timedelta(minutes=30))  # past the sample fulfilment's own time too
    services.sweeper.run()
    steps = [m.step for m in email.sent]
    assert steps == ["confirmation", "cancellation_notice"]  # no shipping notice for a cancelled order
    with services.session_factory() as session:
        shipped = session.scalar(select(Message).where(Message.step == "shipped"))
        assert shipped is not None and (shipped.status, shipped.reason) == ("skipped", "order_cancelled")


def test_a_refund_suppresses_the_setup_guide_and_review_for_the_refunded_items(
    client: TestClient, services: Services, clock: FrozenClock
) -> None:
    at_sample_time(clock, "fulfillment_events_create.json", "happened_at")
    post_shopify(client, "orders/create", sample("orders_create.json"), "wh-1")
    post_shopify(client, "refunds/create", sample("refunds_create.json"), "wh-2")
    # Only the status is changed from Shopify's in_transit sample event: no delivered sample exists.
    delivered = dict(sample_json("fulfillment_events_create.json"), status="delivered")
    post_shopify(client, "fulfillment_events/create", delivered, "wh-3")
    clock.advance(timedelta(days=2))  # the setup guide, inside its 7-day expiry
    services.sweeper.run()
    clock.advance(timedelta(days=13))  # the review request
    services.sweeper.run()
    with services.session_factory() as session:
        skipped = {
            m.step: m.reason for m in session.scalars(select(Message).where(Message.status == "skipped"))
        }
    # Every line item of the sample order is product 632910392, which the sample refund refunds.
    assert skipped["setup_guide"] == "items_returned"
    assert skipped["review_request"] == "items_returned"


def test_the_reconcile_fetch_follows_pages_and_sends_the_admin_token() -> None:
    seen: list[httpx.Request] = []
    order = sample_json("orders_create.json")

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "page_info" in str(request.url):
            return httpx.Response(200, json={"orders": [dict(order, id=2)]})
        next_link = '<https://shop.test/admin/api/2026-01/orders.json?page_info=abc&limit=250>; rel="next"'
        return httpx.Response(200, json={"orders": [order]}, headers={"Link": next_link})

    from datetime import UTC, datetime

    orders = reconcile.fetch_updated_orders(
        shop_domain="shop.test",
        token="tok",
        since=datetime(2026, 3, 1, tzinfo=UTC),
        transport=httpx.MockTransport(handler),
    )
    assert [o["id"] for o in orders] == [450789469, 2]
    assert seen[0].url.path == "/admin/api/2026-01/orders.json"
    assert seen[0].url.params["status"] == "any" and seen[0].url.params["updated_at_min"].startswith(
        "2026-03-01"
    )
    assert all(r.headers["X-Shopify-Access-Token"] == "tok" for r in seen)


def test_reconciled_orders_go_through_the_inbox_once(services: Services) -> None:
    order = sample_json("orders_create.json")
    assert reconcile.store_orders(services, [order]) == {"fetched": 1, "stored": 1, "unchanged": 0}
    assert reconcile.store_orders(services, [order]) == {"fetched": 1, "stored": 0, "unchanged": 1}
