"""The pages behind the links speak the customer's language, right to left for Arabic (issue 15, item 5)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from aftercare.bootstrap import Services
from aftercare.db.models import Customer
from tests.journeys import a_customer, place_order


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def customer_id(services: Services) -> int:
    with services.session_factory() as session:
        found = session.scalar(select(Customer.id))
        assert found is not None
        return found


@pytest.mark.parametrize(("locale", "lang", "direction", "heading"), [
    ("ko-KR", "ko", "ltr", "저희 서비스는 어떠셨나요?"),
    ("ar", "ar", "rtl", "كيف كانت تجربتكم معنا؟"),
    ("en", "en", "ltr", "How did we do?"),
    ("pt-BR", "pt-BR", "ltr", "Como foi sua experiência?"),
])
def test_the_csat_page_is_in_the_customers_language_and_direction(
    client: TestClient, services: Services, locale: str, lang: str, direction: str, heading: str
) -> None:
    order_id = place_order(services, customer=a_customer(locale=locale))
    shown = client.get(path_of(services.links.csat_links(order_id, services.clock.now())[4]),
                       headers={"Accept-Language": "en-US"})  # the customer's own language wins

    assert f'<html lang="{lang}" dir="{direction}">' in shown.text
    assert f"<h1>{heading}</h1>" in shown.text
    assert shown.headers["content-language"] == lang


def test_unsubscribe_and_preferences_pages_and_their_answers_are_localised(
    client: TestClient, services: Services
) -> None:
    place_order(services, customer=a_customer(locale="ar"))
    now = services.clock.now()
    unsubscribe = path_of(services.links.unsubscribe(customer_id(services), now))
    preferences = path_of(services.links.preferences(customer_id(services), now))

    assert "إلغاء الاشتراك" in client.get(unsubscribe).text
    done = client.post(unsubscribe)
    assert 'dir="rtl"' in done.text and "تم إلغاء اشتراككم" in done.text
    assert "تفضيلاتكم" in client.get(preferences).text


def test_an_error_page_follows_the_browsers_language_when_the_link_names_no_one(client: TestClient) -> None:
    korean = client.get("/csat", params={"t": "garbage"}, headers={"Accept-Language": "fr;q=0.9, ko;q=0.8"})
    arabic = client.get("/unsubscribe", headers={"Accept-Language": "ar-SA,ar;q=0.9,en;q=0.5"})
    english = client.get("/preferences", headers={"Accept-Language": "de-DE"})

    assert korean.status_code == 400 and "링크 주소가 완전하지 않습니다." in korean.text
    assert arabic.status_code == 400 and 'dir="rtl"' in arabic.text and "الرابط غير مكتمل." in arabic.text
    assert english.status_code == 400 and "The link is incomplete." in english.text
