"""Stored events are applied on receipt; when applying fails for any reason the request still gets its 2xx,
the event stays stored, and the catch-up (`apply-stored-events`, every 15 minutes) applies it later."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from aftercare.bootstrap import Services
from aftercare.db.models import InboxEvent, Order
from aftercare.webhooks import inbox
from tests.webhooks.conftest import post_shopify, sample


def test_an_event_is_applied_as_it_is_stored(client: TestClient, services: Services) -> None:
    response = post_shopify(client, "orders/create", sample("orders_create.json"), "wh-now")
    assert response.json() == {"status": "stored", "result": "order"}
    with services.session_factory() as session:
        assert session.scalar(select(InboxEvent.applied_at)) is not None
        assert session.scalar(select(Order.number)) == "#1001"


def test_a_failure_while_applying_keeps_the_event_and_still_answers_2xx(
    client: TestClient, services: Services, monkeypatch
) -> None:
    dispatch = inbox._dispatch

    def database_gone(*args, **kwargs):
        raise ConnectionError("the database went away mid-request")

    monkeypatch.setattr(inbox, "_dispatch", database_gone)
    response = post_shopify(client, "orders/create", sample("orders_create.json"), "wh-fails")
    assert response.status_code == 200
    assert response.json() == {"status": "stored", "result": "pending"}
    with services.session_factory() as session:
        event = session.scalar(select(InboxEvent))
        assert event is not None and event.applied_at is None
        assert session.scalar(select(Order)) is None

    monkeypatch.setattr(inbox, "_dispatch", dispatch)
    with services.session_factory() as session:
        ids = inbox.unapplied_ids(session, 10)
    assert inbox.apply_stored(services, ids) == {"applied": 1}  # what the catch-up flow's task runs
    with services.session_factory() as session:
        assert session.scalar(select(Order.number)) == "#1001"
        assert session.scalar(select(InboxEvent.applied_at)) is not None
