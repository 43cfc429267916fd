"""Signed CSAT, unsubscribe and preferences links."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select

from aftercare.bootstrap import Services
from aftercare.db.models import Consent, CsatAnswer, Customer
from tests.journeys import place_order
from tests.webhooks.conftest import snapshot


def granted(services: Services) -> tuple[dict[tuple[str, str], bool], bool]:
    """The consent that decides sending: granted per (channel, purpose), and whether email is unsubscribed."""
    with services.session_factory() as session:
        customer = session.scalar(select(Customer))
        assert customer is not None
        rows = {(c.channel, c.purpose): c.granted for c in session.scalars(select(Consent))}
        return rows, customer.email_unsubscribed_at is not None


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_a_csat_link_records_its_score_once(client: TestClient, services: Services) -> None:
    order_id = place_order(services)
    links = services.links.csat_links(order_id, services.clock.now())
    assert client.get(path_of(links[4])).status_code == 200
    before = snapshot(services)
    assert client.get(path_of(links[4])).status_code == 200
    assert client.get(path_of(links[1])).status_code == 200  # a second answer does not count
    assert snapshot(services) == before
    with services.session_factory() as session:
        answer = session.scalar(select(CsatAnswer))
        assert answer is not None and (answer.score, answer.channel) == (4, "email")


def test_a_tampered_or_expired_csat_link_is_refused(client: TestClient, services: Services) -> None:
    order_id = place_order(services)
    token = parse_qs(urlsplit(services.links.csat_links(order_id, services.clock.now())[5]).query)["t"][0]
    before = snapshot(services)
    body, sig = token.split(".")
    assert client.get("/csat", params={"t": body + "x." + sig}).status_code == 403
    assert client.get("/csat", params={"t": "garbage"}).status_code == 400
    assert client.get("/csat").status_code == 400
    unsub = services.links.unsubscribe(1, services.clock.now())  # a valid token of the wrong kind
    assert client.get("/csat", params={"t": parse_qs(urlsplit(unsub).query)["t"][0]}).status_code == 403
    services.clock.advance(timedelta(days=31))  # type: ignore[attr-defined]
    assert client.get("/csat", params={"t": token}).status_code == 403
    assert snapshot(services) == before


def test_one_click_unsubscribe_then_a_repeat_changes_no_consent_and_is_kept_as_evidence(
    client: TestClient, services: Services
) -> None:
    place_order(services)
    url = path_of(services.links.unsubscribe(1, services.clock.now()))
    assert "Unsubscribe" in client.get(url).text
    response = client.post(
        url,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    with services.session_factory() as session:
        customer = session.scalar(select(Customer))
        assert customer is not None and customer.email_unsubscribed_at is not None
        consent = session.scalar(select(Consent).where(Consent.channel == "email"))
        assert consent is not None and not consent.granted and consent.source == "link:one_click"
    before = granted(services), len(snapshot(services)["consent_events"])
    services.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    assert client.post(url, content=b"List-Unsubscribe=One-Click").status_code == 200
    assert granted(services) == before[0]
    assert len(snapshot(services)["consent_events"]) == before[1] + 1


def test_the_preferences_page_shows_and_saves_marketing_consent(
    client: TestClient, services: Services
) -> None:
    place_order(services)
    url = path_of(services.links.preferences(1, services.clock.now()))
    page = client.get(url)
    assert page.status_code == 200 and page.text.count(" checked") == 2
    saved = client.post(url, data={"sms_marketing": "on"})
    assert saved.status_code == 200 and saved.text.count(" checked") == 1
    consents, _ = granted(services)
    assert consents[("email", "marketing")] is False and consents[("sms", "marketing")] is True
    before = granted(services), len(snapshot(services)["consent_events"])
    services.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    assert client.post(url, data={"sms_marketing": "on"}).status_code == 200  # the same choice again
    assert granted(services) == before[0]
    assert len(snapshot(services)["consent_events"]) == before[1] + 2  # kept as the newest statement


def test_forged_unsubscribe_and_preferences_posts_change_nothing(
    client: TestClient, services: Services
) -> None:
    place_order(services)
    before = snapshot(services)
    assert client.post("/unsubscribe?t=eyJjIjoxfQ.AAAA").status_code == 403
    assert client.post("/preferences?t=eyJjIjoxfQ.AAAA", data={}).status_code == 403
    assert client.post("/unsubscribe").status_code == 400
    assert snapshot(services) == before
