"""Signed CSAT, unsubscribe and preferences links."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select

from aftercare.bootstrap import Services
from aftercare.db.models import Consent, CsatAnswer, Customer, InboxEvent, RecoveryCase
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


def without_token(page: str) -> str:
    return re.sub(r"\?t=[^\"]*", "?t=TOKEN", page)


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


def test_fetching_every_csat_link_records_nothing_until_the_customer_posts_their_answer(
    client: TestClient, services: Services
) -> None:
    """A mail scanner GETs all five score links in order: no answer, no recovery case, no points, no step."""
    order_id = place_order(services)
    links = services.links.csat_links(order_id, services.clock.now())
    before = snapshot(services)
    for score in range(1, 6):
        shown = client.get(path_of(links[score]))
        assert shown.status_code == 200
        assert f'value="{score}" checked' in shown.text and shown.text.count(" checked") == 1
        assert 'method="post"' in shown.text and 'name="comment"' in shown.text
    assert snapshot(services) == before
    answered = client.post(path_of(links[4]), data={"score": "4", "comment": "Quick delivery, thanks"})
    assert answered.status_code == 200 and "Thank you" in answered.text
    with services.session_factory() as session:
        answer = session.scalar(select(CsatAnswer))
        assert answer is not None and (answer.score, answer.channel) == (4, "email")
        event = session.scalar(select(InboxEvent).where(InboxEvent.topic == "csat"))
        assert event is not None and json.loads(event.body)["comment"] == "Quick delivery, thanks"
    after_answer = snapshot(services)
    assert client.post(path_of(links[1]), data={"score": "1"}).status_code == 200  # the first answer counts
    assert snapshot(services) == after_answer


def test_the_confirmed_score_counts_not_the_one_in_the_link(client: TestClient, services: Services) -> None:
    order_id = place_order(services)
    link = services.links.csat_links(order_id, services.clock.now())[1]
    before = snapshot(services)
    assert client.post(path_of(link), data={"score": "9"}).status_code == 400
    assert snapshot(services) == before
    assert client.post(path_of(link), data={"score": "5"}).status_code == 200
    with services.session_factory() as session:
        answer = session.scalar(select(CsatAnswer))
        assert answer is not None and answer.score == 5
        assert session.scalar(select(RecoveryCase)) is None


def test_opening_the_unsubscribe_and_preferences_pages_changes_nothing(
    client: TestClient, services: Services
) -> None:
    place_order(services)
    before = snapshot(services)
    unsubscribe = client.get(path_of(services.links.unsubscribe(1, services.clock.now())))
    assert unsubscribe.status_code == 200 and 'method="post"' in unsubscribe.text
    preferences = client.get(path_of(services.links.preferences(1, services.clock.now())))
    assert preferences.status_code == 200 and 'method="post"' in preferences.text
    assert snapshot(services) == before


def test_a_tampered_or_expired_csat_link_is_refused(client: TestClient, services: Services) -> None:
    order_id = place_order(services)
    token = parse_qs(urlsplit(services.links.csat_links(order_id, services.clock.now())[5]).query)["t"][0]
    before = snapshot(services)
    body, sig = token.split(".")
    assert client.post("/csat", params={"t": body + "x." + sig}).status_code == 403
    assert client.post("/csat", params={"t": "garbage"}).status_code == 400
    assert client.post("/csat").status_code == 400
    unsub = services.links.unsubscribe(1, services.clock.now())  # a valid token of the wrong kind
    assert client.post("/csat", params={"t": parse_qs(urlsplit(unsub).query)["t"][0]}).status_code == 403
    services.clock.advance(timedelta(days=31))  # type: ignore[attr-defined]
    assert client.post("/csat", params={"t": token}).status_code == 403
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


def test_a_token_with_bytes_appended_after_its_signature_is_refused(client: TestClient, services: Services) -> None:
    """Base64 decoders stop at padding and skip stray characters: `token + "=junk"` decoded to the same
    signature, so a mangled or extended token still unsubscribed the customer."""
    place_order(services)
    token = token_of(services.links.unsubscribe(1, services.clock.now()))
    before = snapshot(services)
    for suffix in ("=", "=junk", "==AAAA", "\n", ".", "!"):
        response = client.post("/unsubscribe", params={"t": token + suffix}, content=b"List-Unsubscribe=One-Click",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code in (400, 403), suffix
    body, sig = token.split(".")
    flipped = sig[:-1] + ("B" if sig[-1] == "A" else "A")  # the spare low bits of the last character
    assert client.post("/unsubscribe", params={"t": f"{body}.{flipped}"}).status_code == 403
    assert snapshot(services) == before


def test_a_link_for_a_customer_or_order_we_do_not_hold_gets_the_same_answer_and_changes_nothing(
    client: TestClient, services: Services
) -> None:
    order_id = place_order(services)
    now = services.clock.now()
    before = snapshot(services)
    one_click = {"List-Unsubscribe": "One-Click"}
    ghost_unsubscribe = client.post(path_of(services.links.unsubscribe(999, now)), data=one_click)
    ghost_prefs_page = client.get(path_of(services.links.preferences(999, now)))
    ghost_prefs_save = client.post(path_of(services.links.preferences(999, now)), data={"sms_marketing": "on"})
    ghost_csat = client.post(path_of(services.links.csat_links(999, now)[5]), data={"score": "5"})
    assert snapshot(services) == before
    real_unsubscribe = client.post(path_of(services.links.unsubscribe(1, now)), data=one_click)
    real_prefs_page = client.get(path_of(services.links.preferences(1, now)))
    real_prefs_save = client.post(path_of(services.links.preferences(1, now)), data={"sms_marketing": "on"})
    real_csat = client.post(path_of(services.links.csat_links(order_id, now)[5]), data={"score": "5"})
    for ghost, real in ((ghost_unsubscribe, real_unsubscribe), (ghost_prefs_save, real_prefs_save),
                        (ghost_csat, real_csat)):
        assert (ghost.status_code, without_token(ghost.text)) == (real.status_code, without_token(real.text))
    assert ghost_prefs_page.status_code == real_prefs_page.status_code == 200
    assert "Your preferences" in ghost_prefs_page.text
