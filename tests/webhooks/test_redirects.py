"""Review and referral links: the click is recorded, the customer is sent to the store's configured page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from aftercare.bootstrap import Services, build_services
from aftercare.clock import FrozenClock
from aftercare.db.models import InboxEvent, Product
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from aftercare.webhooks.app import create_app
from tests.conftest import make_settings
from tests.journeys import place_order
from tests.webhooks.conftest import PUBLIC, snapshot

REVIEWS = "https://reviews.example/write?product={product_id}"
REFERRALS = "https://shop.example/pages/refer?code={code}"
FALLBACK = "https://shop.example/pages/reviews"


def make_client(tmp_path: Path, clock: FrozenClock, **overrides: object) -> tuple[Services, TestClient]:
    services = build_services(make_settings(tmp_path, public_base_url=PUBLIC, **overrides), clock=clock,
                              email=FakeEmailSender(), sms=FakeSmsSender())
    return services, TestClient(create_app(lambda: services), follow_redirects=False)


@pytest.fixture
def configured(tmp_path: Path, clock: FrozenClock) -> Iterator[tuple[Services, TestClient]]:
    services, client = make_client(tmp_path, clock, review_url_template=REVIEWS, referral_url_template=REFERRALS,
                                   review_fallback_url=FALLBACK)
    yield services, client
    services.engine.dispose()


def path_of(url: str) -> str:
    return url.removeprefix(PUBLIC)


def clicks(services: Services, topic: str) -> list[dict[str, object]]:
    with services.session_factory() as session:
        return [json.loads(e.body) for e in session.scalars(select(InboxEvent).where(InboxEvent.topic == topic))]


def without_inbox(state: dict[str, list[tuple[object, ...]]]) -> dict[str, list[tuple[object, ...]]]:
    return {name: rows for name, rows in state.items() if name != "inbox"}


def test_a_review_link_records_the_click_and_redirects_to_that_products_review_page(
    configured: tuple[Services, TestClient],
) -> None:
    services, client = configured
    order_id = place_order(services)
    before = snapshot(services)
    response = client.get(path_of(services.links.review(order_id, "sku-b", services.clock.now())))
    assert response.status_code == 303
    assert response.headers["location"] == "https://reviews.example/write?product=sku-b"
    assert clicks(services, "review_click") == [{"o": order_id, "p": "sku-b"}]
    assert without_inbox(snapshot(services)) == without_inbox(before)  # no consent, CSAT, step or points changed
    order_level = client.get(path_of(services.links.review(order_id, None, services.clock.now())))
    assert order_level.headers["location"] == "https://reviews.example/write?product=sku-a"  # its first item


def test_the_product_handle_fills_a_product_page_template_or_the_fallback_is_used(
    tmp_path: Path, clock: FrozenClock
) -> None:
    services, client = make_client(tmp_path, clock, review_url_template="https://shop.example/products/{handle}#reviews",
                                   review_fallback_url=FALLBACK)
    order_id = place_order(services)
    with services.session_factory() as session, session.begin():
        session.add(Product(id="sku-a", title="Espresso Machine", url="https://shop.example/products/espresso-pro"))
    now = services.clock.now()
    assert client.get(path_of(services.links.review(order_id, "sku-a", now))).headers["location"] == (
        "https://shop.example/products/espresso-pro#reviews"
    )
    assert client.get(path_of(services.links.review(order_id, "sku-b", now))).headers["location"] == FALLBACK
    services.engine.dispose()


def test_a_referral_link_redirects_with_the_referrers_code_and_records_the_click(
    configured: tuple[Services, TestClient],
) -> None:
    services, client = configured
    place_order(services)
    url = services.links.url("/refer", {"k": "refer", "c": 1}, services.clock.now())
    response = client.get(path_of(url))
    code = services.links.referral_code(1)
    assert response.status_code == 303 and response.headers["location"] == f"https://shop.example/pages/refer?code={code}"
    assert code != services.links.referral_code(2) and "1" not in code.strip("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert clicks(services, "referral_click") == [{"c": 1, "code": code}]


def test_a_product_id_cannot_move_the_redirect_to_another_host(configured: tuple[Services, TestClient]) -> None:
    services, client = configured
    order_id = place_order(services)
    for product_id in ("@evil.example/", "//evil.example", "x?product=y#", "../../../evil"):
        location = client.get(path_of(services.links.review(order_id, product_id, services.clock.now()))).headers[
            "location"]
        assert urlsplit(location).netloc == "reviews.example", location
        assert urlsplit(location).path == "/write"


@pytest.mark.parametrize(
    ("name", "template"),
    [
        ("review_url_template", "javascript:alert(document.cookie)//{product_id}"),
        ("review_url_template", "//evil.example/{product_id}"),
        ("review_url_template", "https://{handle}.example/reviews"),
        ("review_url_template", "https://shop.example/{order_email}"),
        ("review_fallback_url", "data:text/html,hi"),
        ("referral_url_template", "ftp://shop.example/{code}"),
        ("referral_url_template", "https://shop.example/r/{product_id}"),
    ],
)
def test_only_absolute_http_urls_with_known_placeholders_are_accepted(tmp_path: Path, name: str, template: str) -> None:
    with pytest.raises(ValidationError):
        make_settings(tmp_path, **{name: template})


def test_forged_review_and_referral_links_are_refused_and_record_nothing(
    configured: tuple[Services, TestClient],
) -> None:
    services, client = configured
    order_id = place_order(services)
    before = snapshot(services)
    review = path_of(services.links.review(order_id, "sku-a", services.clock.now()))
    assert client.get(review[:-2] + "AA").status_code == 403
    assert client.get("/review").status_code == 400
    assert client.get("/refer?t=garbage").status_code == 400
    unsubscribe = path_of(services.links.unsubscribe(1, services.clock.now()))
    assert client.get("/refer?" + unsubscribe.split("?", 1)[1]).status_code == 403  # a link of another kind
    assert snapshot(services) == before


def test_without_a_configured_destination_the_customer_gets_a_page_not_a_404(
    tmp_path: Path, clock: FrozenClock
) -> None:
    services, client = make_client(tmp_path, clock)
    order_id = place_order(services)
    response = client.get(path_of(services.links.review(order_id, "sku-a", services.clock.now())))
    assert response.status_code == 200 and "not available" in response.text
    assert len(clicks(services, "review_click")) == 1
    services.engine.dispose()
