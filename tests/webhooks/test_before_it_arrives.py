"""Before it arrives, through the signed webhooks in simulated time: an order that never ships, a shipment that
stalls, a delivery at 00:12 after the promised day, the order page, and the catalog that fills itself."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from aftercare.bootstrap import Services, build_services
from aftercare.clock import FrozenClock
from aftercare.db.models import InboxEvent, Message, Order, OrderRequest, Product
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from aftercare.services.catalog import import_all
from aftercare.services.explain import explain
from aftercare.webhooks.app import create_app
from tests.conftest import START, make_settings, run_until
from tests.webhooks.conftest import PUBLIC, SHOPIFY_SECRET, post_shopify, sample_json

ORDER_ID = 450789469
CALLS: list[httpx.Request] = []


def shopify_admin(request: httpx.Request) -> httpx.Response:
    """A fake Shopify Admin API: cancels, and two pages of products with their metafields."""
    CALLS.append(request)
    path = request.url.path
    if path.endswith("/cancel.json"):
        return httpx.Response(200, json={"order": {"id": ORDER_ID, "cancelled_at": "2026-03-02T16:00:00Z"}})
    if path.endswith("/products.json"):
        if "page_info=p2" in str(request.url):
            return httpx.Response(200, json={"products": [product(2, "Milk Frother", "2026-03-01T00:00:00Z")]})
        nxt = f'<https://{request.url.host}/admin/api/2026-01/products.json?limit=1&page_info=p2>; rel="next"'
        return httpx.Response(200, json={"products": [product(1, "Espresso Machine", "2026-03-01T00:00:00Z")]},
                              headers={"Link": nxt})
    if path.endswith("/metafields.json"):
        return httpx.Response(200, json={"metafields": metafields("Descale monthly.", "매달 석회를 제거하세요.")})
    return httpx.Response(404)


def metafields(en: str, ko: str) -> list[dict[str, Any]]:
    return [
        {"namespace": "aftercare", "key": "setup_instructions", "value": en},
        {"namespace": "aftercare", "key": "setup_instructions_ko", "value": ko},
        {"namespace": "aftercare", "key": "setup_video", "value": "https://video.example/setup"},
        {"namespace": "aftercare", "key": "use_cycle_days", "value": "30"},
        {"namespace": "aftercare", "key": "review_url", "value": "https://shop.example/review/1"},
        {"namespace": "other", "key": "setup_instructions", "value": "not ours"},
    ]


def product(n: int, title: str, updated_at: str, **extra: Any) -> dict[str, Any]:
    return {"id": n, "title": title, "product_type": "Appliances", "handle": f"p-{n}", "updated_at": updated_at,
            "image": {"src": f"https://cdn.example/{n}.jpg"}, **extra}


@pytest.fixture
def services(tmp_path: Path, clock: FrozenClock, email: FakeEmailSender, sms: FakeSmsSender) -> Iterator[Services]:
    settings = make_settings(
        tmp_path, shopify_webhook_secret=SHOPIFY_SECRET, public_base_url=PUBLIC, store_name="Test Store",
        support_email="help@store.test", return_policy_summary={"en": "Free returns within 30 days."},
        shopify_shop_domain="test.myshopify.com", shopify_admin_token="shpat-test-token-0123456789",
    )
    built = build_services(settings, clock=clock, email=email, sms=sms,
                           shopify_transport=httpx.MockTransport(shopify_admin))
    CALLS.clear()
    yield built
    built.engine.dispose()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: services), base_url="http://internal:8000") as c:
        yield c


def order_body(at: datetime, promise: str | None, **overrides: Any) -> dict[str, Any]:
    body = sample_json("orders_create.json")
    body.update(id=ORDER_ID, created_at=at.isoformat(), processed_at=at.isoformat(), updated_at=at.isoformat(),
                cancelled_at=None, customer_locale="en")
    body["note_attributes"] = [{"name": "delivery_promise", "value": promise}] if promise else []
    body.update(overrides)
    return body


def fulfil(client: TestClient, at: datetime) -> None:
    body = sample_json("fulfillments_create.json")
    body.update(id=7001, order_id=ORDER_ID, status="success", created_at=at.isoformat(), updated_at=at.isoformat())
    body.pop("shipment_status", None)
    body.pop("estimated_delivery_at", None)
    assert post_shopify(client, "fulfillments/create", body, f"ful-{at.isoformat()}").status_code == 200


def track(client: TestClient, status: str, at: datetime) -> None:
    body = sample_json("fulfillment_events_create.json")
    body.update(id=int(at.timestamp()), fulfillment_id=7001, order_id=ORDER_ID, status=status,
                happened_at=at.isoformat(), created_at=at.isoformat(), estimated_delivery_at=None)
    assert post_shopify(client, "fulfillment_events/create", body, f"evt-{status}-{at.isoformat()}").status_code == 200


def sent(email: FakeEmailSender, step: str) -> list[Any]:
    return [m for m in email.sent if m.step == step]


def ledger(services: Services, step: str) -> list[tuple[str, str | None]]:
    with services.session_factory() as session:
        return [(m.status, m.reason) for m in session.scalars(select(Message).where(Message.step == step))]


def order_link(text: str) -> str:
    url = re.search(r"https?://\S+/order\?t=[A-Za-z0-9_.%-]+", text)
    assert url is not None, text
    parts = urlsplit(url.group(0))
    return f"{parts.path}?{parts.query}"


def count(services: Services, model: Any) -> int:
    with services.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# An order that never ships ----------------------------------------------------------------------------------
def test_an_order_never_shipped_gets_one_pre_dispatch_notice_with_a_remedy_and_nothing_more(
        services, client, clock, email):
    assert post_shopify(client, "orders/create", order_body(START, "2026-03-05"), "o-create").status_code == 200
    services.sweeper.run()
    [confirmation] = sent(email, "confirmation")
    # The confirmation: the order page, the delivery estimate, the return policy.
    assert "/order?t=" in confirmation.text and "Expected delivery: " in confirmation.text
    assert "March 5, 2026" in confirmation.text and "Free returns within 30 days." in confirmation.text

    # The promised day (5 March) ends at midnight in Kentucky's zone (New York); the notice 12 hours later.
    run_until(services, clock, datetime.fromisoformat("2026-03-06T16:00:00+00:00"))
    assert sent(email, "dispatch_delay") == []
    run_until(services, clock, datetime.fromisoformat("2026-03-06T18:00:00+00:00"))
    [notice] = sent(email, "dispatch_delay")
    assert "has not shipped yet" in notice.text and "(March 5, 2026)" in notice.text
    assert "/order?t=" in notice.text and "help@store.test" in notice.text  # the remedy: cancel, or support

    run_until(services, clock, clock.now() + timedelta(days=10), tick=timedelta(hours=6))
    assert len(sent(email, "dispatch_delay")) == 1
    assert sent(email, "delay_notice") == [] and sent(email, "transit_stalled") == []
    assert ledger(services, "delay_notice") == [("skipped", "not_shipped")]
    with services.session_factory() as session:
        timeline = explain(session, str(ORDER_ID))
    by_step = {s.step: s for s in timeline.steps}
    assert by_step["dispatch_delay"].occurrence == "2026-03-05"
    assert [d.outcome for d in by_step["dispatch_delay"].decisions] == ["send"]
    assert by_step["delay_notice"].last_reason == "not_shipped"
    assert timeline.promised_at == datetime.fromisoformat("2026-03-05T05:00:00+00:00")

    # The remedy works: past the cancel window, the broken promise still lets the customer cancel.
    link = order_link(notice.text)
    page = client.get(link)
    assert "We did not ship it by the day we promised" in page.text and "Cancel this order" in page.text
    done = client.post(link.replace("/order?", "/order/cancel?"))
    assert done.status_code == 200 and "Your order is cancelled" in done.text
    with services.session_factory() as session:
        assert session.scalar(select(Order.status)) == "cancelled"


def test_a_new_estimate_on_orders_updated_rides_the_notice_and_is_a_new_slip_of_its_own(services, client, clock,
                                                                                       email):
    post_shopify(client, "orders/create", order_body(START, "2026-03-05"), "o-create")
    run_until(services, clock, datetime.fromisoformat("2026-03-05T12:00:00+00:00"))
    later = order_body(START, "2026-03-10", updated_at=clock.now().isoformat())
    assert post_shopify(client, "orders/updated", later, "o-update").status_code == 200
    run_until(services, clock, datetime.fromisoformat("2026-03-06T18:00:00+00:00"))
    [notice] = sent(email, "dispatch_delay")
    assert "Our new estimate is March 10, 2026." in notice.text
    fulfil(client, clock.now())
    for _ in range(4):  # it moves every day, but misses the new day too
        run_until(services, clock, clock.now() + timedelta(days=1))
        track(client, "in_transit", clock.now())
    run_until(services, clock, datetime.fromisoformat("2026-03-11T18:00:00+00:00"))
    [late] = sent(email, "delay_notice")  # about 10 March: a new slip, told once
    assert "March 10, 2026" in late.text
    run_until(services, clock, clock.now() + timedelta(days=3))
    assert len(sent(email, "delay_notice")) == 1 and len(sent(email, "dispatch_delay")) == 1


# A shipment that stalls ---------------------------------------------------------------------------------------
def test_a_stalled_shipment_gets_one_notice_and_the_passed_promise_does_not_repeat_it(services, client, clock,
                                                                                     email):
    post_shopify(client, "orders/create", order_body(START, "2026-03-06"), "o-create")
    run_until(services, clock, START + timedelta(days=1))
    fulfil(client, clock.now())
    run_until(services, clock, clock.now() + timedelta(hours=2))
    track(client, "in_transit", clock.now())
    last_progress = clock.now()
    run_until(services, clock, last_progress + timedelta(days=3) - timedelta(hours=1))
    assert sent(email, "transit_stalled") == []  # due 3 days after shipping, deferred to 3 days after progress
    run_until(services, clock, last_progress + timedelta(days=3, hours=1))
    [stalled] = sent(email, "transit_stalled")
    assert "no tracking update" in stalled.text and "/order?t=" in stalled.text
    # The promised day (6 March) passes: the same slip, already told.
    run_until(services, clock, datetime.fromisoformat("2026-03-08T12:00:00+00:00"))
    assert sent(email, "delay_notice") == []
    assert ("skipped", "slip_already_notified") in ledger(services, "delay_notice")
    track(client, "delivered", clock.now())
    run_until(services, clock, clock.now() + timedelta(days=2))
    assert len(sent(email, "transit_stalled")) == 1 and sent(email, "delay_notice") == []
    assert len(sent(email, "delivered_notice")) == 1
    with services.session_factory() as session:
        step = {s.step: s for s in explain(session, str(ORDER_ID)).steps}["transit_stalled"]
    assert [d.reason for d in step.decisions] == ["tracking_progressed", None]  # deferred once, then sent


def test_a_delivery_at_00_12_after_the_promised_day_is_recorded_late_and_gets_no_notice(services, client, clock,
                                                                                         email):
    post_shopify(client, "orders/create", order_body(START, "2026-03-04"), "o-create")
    run_until(services, clock, START + timedelta(hours=4))
    fulfil(client, clock.now())
    run_until(services, clock, START + timedelta(days=1))
    track(client, "in_transit", clock.now())
    delivered = datetime.fromisoformat("2026-03-05T00:12:00-05:00")
    run_until(services, clock, delivered)
    track(client, "delivered", delivered)
    run_until(services, clock, delivered + timedelta(days=1))
    assert sent(email, "delay_notice") == []
    assert set(ledger(services, "delay_notice")) == {("skipped", "delivered_late")}


# The order page ---------------------------------------------------------------------------------------------
def test_the_order_page_shows_and_only_a_post_acts(services, client, clock, email):
    post_shopify(client, "orders/create", order_body(START, "2026-03-05"), "o-create")
    services.sweeper.run()
    link = order_link(sent(email, "confirmation")[0].text)
    before = count(services, InboxEvent)
    page = client.get(link)
    assert page.status_code == 200 and "Cancel this order" in page.text and "Report a problem" in page.text
    assert client.get(link).status_code == 200 and count(services, InboxEvent) == before  # scanners change nothing
    assert client.get(link.replace("t=", "t=x")).status_code in (400, 403)
    problem = client.post(link.replace("/order?", "/order/problem?"), data={"topic": "missing", "message": "Box"})
    assert problem.status_code == 200 and "support team has your report" in problem.text
    with services.session_factory() as session:
        [row] = session.scalars(select(OrderRequest)).all()
    assert (row.kind, row.topic, row.message, row.status) == ("problem", "missing", "Box", "open")
    services.sweeper.run()
    [notice] = sent(email, "order_request_notice")  # support hears of it, without the customer's words
    assert notice.to == "help@store.test" and "reported a problem" in notice.text and "missing" in notice.text
    assert "Box" not in notice.text and "Box" not in notice.html


def test_cancel_in_the_window_goes_through_shopify_and_the_order_is_cancelled(services, client, clock, email):
    post_shopify(client, "orders/create", order_body(START, "2026-03-05"), "o-create")
    services.sweeper.run()
    link = order_link(sent(email, "confirmation")[0].text)
    done = client.post(link.replace("/order?", "/order/cancel?"))
    assert done.status_code == 200 and "Your order is cancelled" in done.text
    [call] = CALLS
    assert call.url.path == f"/admin/api/2026-01/orders/{ORDER_ID}/cancel.json"
    assert call.headers["X-Shopify-Access-Token"] == "shpat-test-token-0123456789"
    with services.session_factory() as session:
        assert session.scalar(select(Order.status)) == "cancelled"
        assert session.scalar(select(OrderRequest.status)) == "cancelled_in_shopify"
    again = client.post(link.replace("/order?", "/order/cancel?"))
    assert again.status_code == 409 and len(CALLS) == 1  # cancelled already: nothing more
    services.sweeper.run()
    assert len(sent(email, "cancellation_notice")) == 1


def test_without_shopify_a_cancel_is_a_request_for_support_and_a_shipped_order_cannot_be_cancelled(
        services, client, clock, email):
    services.settings.shopify_admin_token = None
    post_shopify(client, "orders/create", order_body(START, "2026-03-05"), "o-create")
    services.sweeper.run()
    link = order_link(sent(email, "confirmation")[0].text)
    requested = client.post(link.replace("/order?", "/order/cancel?"))
    assert requested.status_code == 200 and "cancellation request" in requested.text and CALLS == []
    with services.session_factory() as session:
        assert session.scalar(select(Order.status)) == "open"
        assert session.scalar(select(OrderRequest.kind)) == "cancel"
    services.sweeper.run()
    [notice] = sent(email, "order_request_notice")
    assert notice.to == "help@store.test" and "please cancel it in Shopify and refund" in notice.text
    post_shopify(client, "orders/create", order_body(START, "2026-03-05", id=ORDER_ID + 1, name="#1002"), "o-2")
    fulfil_body = sample_json("fulfillments_create.json")
    fulfil_body.update(id=7002, order_id=ORDER_ID + 1, status="success", created_at=START.isoformat())
    post_shopify(client, "fulfillments/create", fulfil_body, "ful-2")
    services.sweeper.run()
    second = order_link([m for m in sent(email, "confirmation") if "#1002" in m.text][0].text)
    refused = client.post(second.replace("/order?", "/order/cancel?"))
    assert refused.status_code == 409 and "can no longer be cancelled" in refused.text


def test_the_order_page_speaks_arabic_right_to_left(services, client, email):
    post_shopify(client, "orders/create", order_body(START, None, customer_locale="ar"), "o-create")
    services.sweeper.run()
    page = client.get(order_link(sent(email, "confirmation")[0].text))
    assert '<html lang="ar" dir="rtl">' in page.text and "إلغاء هذا الطلب" in page.text


def test_the_order_page_speaks_every_catalog_language_portuguese_too(services, client, email):
    """Its words are in the shared catalogs (they were a dict of en, ko and ar: Portuguese got English)."""
    post_shopify(client, "orders/create", order_body(START, None, customer_locale="pt-BR"), "o-create")
    services.sweeper.run()
    page = client.get(order_link(sent(email, "confirmation")[0].text))
    assert '<html lang="pt-BR" dir="ltr">' in page.text
    assert "Cancelar este pedido" in page.text and "Informar um problema" in page.text
    assert "Cancel this order" not in page.text


# The catalog ------------------------------------------------------------------------------------------------
def test_product_webhooks_fill_the_catalog_and_an_older_update_changes_nothing(services, client):
    body = product(632910392, "IPod Nano", "2026-03-02T10:00:00Z",
                   metafields=metafields("Charge it first.", "먼저 충전하세요."))
    assert post_shopify(client, "products/create", body, "p-1").json()["result"] == "product:created"
    old = product(632910392, "Old title", "2026-03-01T10:00:00Z", metafields=[])
    assert post_shopify(client, "products/update", old, "p-2").json()["result"] == "product:stale"
    with services.session_factory() as session:
        row = session.get(Product, "632910392")
        assert (row.title, row.category, row.setup_instructions, row.use_cycle_days) == (
            "IPod Nano", "Appliances", "Charge it first.", 30)
        assert row.localized == {"ko": {"setup_instructions": "먼저 충전하세요."}}
        assert row.image_url == "https://cdn.example/632910392.jpg" and row.review_url.startswith("https://")
    assert post_shopify(client, "products/delete", {"id": 632910392}, "p-3").json()["result"] == "product:deleted"
    with services.session_factory() as session:
        assert session.get(Product, "632910392").deleted_at is not None


def test_the_setup_guide_uses_the_catalog_in_the_customers_language(services, client, clock, email):
    post_shopify(client, "products/create", product(632910392, "IPod Nano", "2026-03-01T00:00:00Z",
                                                    metafields=metafields("Charge it first.", "먼저 충전하세요.")),
                 "p-1")
    body = order_body(START, None, customer_locale="ko")
    body["customer"]["email_marketing_consent"] = {"state": "subscribed", "consent_updated_at": START.isoformat()}
    post_shopify(client, "orders/create", body, "o-create")
    fulfil(client, START)
    track(client, "delivered", START + timedelta(days=1))
    run_until(services, clock, START + timedelta(days=3))
    [guide] = sent(email, "setup_guide")
    assert "먼저 충전하세요." in guide.text and "Charge it first." not in guide.text


def test_the_admin_api_import_pages_through_every_product_with_its_metafields(services):
    counts = import_all(services.settings, services.session_factory, transport=services.shopify_transport)
    assert counts == {"created": 2}
    assert [c.url.path.rsplit("/", 1)[-1] for c in CALLS] == [
        "products.json", "metafields.json", "products.json", "metafields.json"]
    with services.session_factory() as session:
        titles = sorted(p.title for p in session.scalars(select(Product)))
    assert titles == ["Espresso Machine", "Milk Frother"]
    assert import_all(services.settings, services.session_factory, transport=services.shopify_transport) == {
        "updated": 2}  # the same again: nothing newer, nothing lost


def test_a_signed_webhook_is_required_for_the_catalog(client, services):
    body = json.dumps(product(1, "Forged", "2030-01-01T00:00:00Z")).encode()
    forged = client.post("/webhooks/shopify", content=body, headers={
        "X-Shopify-Topic": "products/create", "X-Shopify-Hmac-Sha256": "bm90IGEgc2lnbmF0dXJl",
        "Content-Type": "application/json"})
    assert forged.status_code == 401 and count(services, Product) == 0


def test_a_review_link_leads_to_the_products_own_review_url_from_the_catalog(services, client, clock):
    post_shopify(client, "products/create", product(632910392, "IPod Nano", "2026-03-01T00:00:00Z",
                                                    metafields=metafields("Charge it first.", "충전")), "p-1")
    post_shopify(client, "orders/create", order_body(START, None), "o-create")
    with services.session_factory() as session:
        order_id = session.scalar(select(Order.id))
    link = urlsplit(services.links.review(order_id, "632910392", clock.now()))
    answer = client.get(f"{link.path}?{link.query}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "https://shop.example/review/1"
