"""The inbox: every accepted request is stored raw, idempotent on its de-duplication key, then applied.

`store` inserts with ON CONFLICT DO NOTHING, so a replay finds its key taken and is a no-op. `apply_event`
applies a stored event inside a savepoint: if it fails (an order not seen yet, a body we cannot map), the
event stays stored and unapplied with its error, and the stored-event flow tries again later.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from aftercare.bootstrap import Services
from aftercare.clock import as_utc
from aftercare.db.models import Customer, InboxEvent
from aftercare.domain.consent import ConsentSource
from aftercare.domain.vocabulary import Channel, Purpose
from aftercare.journeys.store_events import StoreEvent
from aftercare.services import catalog
from aftercare.services.commands import ConsentIn, StoreEventIn
from aftercare.services.ingest import UnknownOrder
from aftercare.webhooks import helpdesk, sendgrid, shopify, twilio

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 20


class UnknownCustomer(LookupError):
    """A signed link names a customer that no longer exists."""


def store(
    session: Session,
    *,
    source: str,
    dedup_key: str,
    topic: str,
    headers: dict[str, str],
    body: str,
    now: datetime,
) -> InboxEvent | None:
    """Insert the event; None when its key was already stored (a replay)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(InboxEvent.__table__)
        .values(
            source=source,
            dedup_key=dedup_key[:200],
            topic=topic[:64],
            received_at=now,
            headers=headers,
            body=body,
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(InboxEvent.__table__.c.id)
    )
    new_id = session.execute(stmt).scalar()
    return session.get(InboxEvent, new_id) if new_id is not None else None


def store_and_apply(services: Services, items: list[dict[str, Any]]) -> list[str]:
    """Store a request's items in one transaction, then apply each new one on receipt, in its own.

    Once stored, the request is answered 2xx whatever applying does: an error there (a locked database, a bug)
    leaves the event stored and unapplied, and the `apply-stored-events` catch-up deployment applies it later.
    Each item holds `store`'s keywords (source, dedup_key, topic, headers, body). Returns one note per item:
    "duplicate" for a replay, "pending" for one left to the catch-up, else what applying it did.
    """
    with services.session_factory() as session, session.begin():
        stored = [store(session, now=services.clock.now(), **item) for item in items]
        ids = [event.id if event is not None else None for event in stored]
    return ["duplicate" if event_id is None else apply_on_receipt(services, event_id) for event_id in ids]


def apply_on_receipt(services: Services, event_id: int) -> str:
    """Apply one stored event now; never raises (the event is already kept, and the request must get its 2xx)."""
    try:
        with services.session_factory() as session, session.begin():
            event = session.get(InboxEvent, event_id)
            return "duplicate" if event is None else apply_event(session, services, event)
    except Exception as exc:  # noqa: BLE001 - stored already: the catch-up deployment applies it later
        log.warning("inbox event id=%s stored, not applied on receipt: %s", event_id, type(exc).__name__)
        return "pending"


def apply_event(session: Session, services: Services, event: InboxEvent) -> str:
    """Apply a stored event once; returns a short note. Never raises for bad data or an unknown order."""
    if event.applied_at is not None:
        return "already_applied"
    now = services.clock.now()
    try:
        with session.begin_nested():
            note = _dispatch(session, services, event, now)
    except (UnknownOrder, UnknownCustomer) as exc:
        event.attempts += 1
        event.error = f"{type(exc).__name__}: waiting for it to arrive"
        return "pending"
    except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError, DataError) as exc:  # unmappable
        event.attempts += 1
        event.error = f"{type(exc).__name__}: cannot map {event.source} {event.topic}"
        log.warning(
            "inbox event id=%s source=%s topic=%s not applied: %s",
            event.id,
            event.source,
            event.topic,
            type(exc).__name__,
        )
        return "unmappable"
    event.applied_at, event.error = now, None
    event.attempts += 1
    return note


def unapplied_ids(session: Session, limit: int, older_than: datetime | None = None) -> list[int]:
    query = select(InboxEvent.id).where(InboxEvent.applied_at.is_(None), InboxEvent.attempts < MAX_ATTEMPTS)
    if older_than is not None:
        query = query.where(InboxEvent.received_at <= older_than)
    return list(session.scalars(query.order_by(InboxEvent.received_at, InboxEvent.id).limit(limit)))


def apply_stored(services: Services, ids: list[int]) -> dict[str, int]:
    """Apply stored events one transaction each (what the stored-event flow's task runs)."""
    counts: dict[str, int] = {}
    for event_id in ids:
        with services.session_factory() as session, session.begin():
            event = session.get(InboxEvent, event_id)
            if event is None:
                continue
            note = apply_event(session, services, event)
        key = note if note in ("pending", "unmappable", "already_applied") else "applied"
        counts[key] = counts.get(key, 0) + 1
    return counts


# Dispatch ------------------------------------------------------------------------------------------------
def _dispatch(session: Session, services: Services, event: InboxEvent, now: datetime) -> str:
    if event.source == "shopify":
        return _apply_shopify(session, services, event, json.loads(event.body), now)
    if event.source == "sendgrid":
        return sendgrid.apply(session, services.ingest, json.loads(event.body), now)
    if event.source == "twilio":
        params = dict(parse_qsl(event.body, keep_blank_values=True))
        if event.topic == "status":
            return twilio.apply_status(session, services.ingest, params, now)
        window = timedelta(days=services.settings.csat_reply_window_days)
        return twilio.apply_inbound(session, services.ingest, params, now, window, as_utc(event.received_at))
    if event.source == "link":
        return _apply_link(session, services, event.topic, json.loads(event.body), now, as_utc(event.received_at))
    if event.source == "store":
        touched = services.ingest.record_store_event(session, store_event_from(json.loads(event.body), now), now)
        return f"store_event:{len(touched)}_scheduled"
    if event.source == helpdesk.SOURCE:  # a recovery case resolved by the helpdesk or support's link
        return helpdesk.apply(session, services, event.topic, json.loads(event.body), now)
    return "ignored:unknown_source"


def store_event_from(body: dict[str, Any], now: datetime) -> StoreEventIn:
    """The stored body of a store event (see `aftercare.journeys.store_events`) as the ingest command."""
    e = StoreEvent.parse(body, now)
    return StoreEventIn(name=e.name, customer_external_id=e.customer, occurred_at=e.occurred_at,
                        idempotency_key=e.idempotency_key, order_external_id=e.order, data=dict(e.data))


def _apply_shopify(
    session: Session, services: Services, event: InboxEvent, body: dict[str, Any], now: datetime
) -> str:
    ingest, topic = services.ingest, event.topic
    if topic in shopify.ORDER_TOPICS:
        settings = services.settings
        order = shopify.map_order(body, default_timezone=settings.shopify_default_timezone,
                                  promise_attribute=settings.promise_note_attribute,
                                  promise_metafield=settings.promise_metafield)
        _record_warnings(event, order.warnings, order.external_id)
        ingest.record_order(session, order, now)
        return "order"
    if topic in shopify.FULFILLMENT_TOPICS:
        if str(body.get("status") or "").lower() in shopify.FAILED_FULFILLMENT:
            return "ignored:failed_fulfillment"
        data = shopify.map_fulfillment(body)
        _record_warnings(event, data.warnings, data.order_external_id)
        ingest.record_fulfillment(session, data, now)
        if body.get("shipment_status"):  # fulfillments/update carries the carrier's latest status too
            ingest.record_tracking(
                session,
                shipment_external_id=data.external_id,
                order_external_id=data.order_external_id,
                status=str(body["shipment_status"]),
                at=shopify.parse_time(body.get("updated_at") or body["created_at"]),
                now=now,
            )
        return "fulfillment"
    if topic in shopify.TRACKING_TOPICS:
        t = shopify.map_fulfillment_event(body)
        ingest.record_tracking(
            session,
            shipment_external_id=t.shipment_external_id,
            order_external_id=t.order_external_id,
            status=t.status,
            at=t.at,
            now=now,
            estimated_delivery_at=t.estimated_delivery_at,
        )
        return f"tracking:{t.status}"
    if topic in shopify.REFUND_TOPICS:
        refund = shopify.map_refund(body)
        if not refund.product_ids:  # shipping or goodwill only: no item was refunded
            return "ignored:no_items_refunded"
        ingest.record_refund(session, refund, now)
        return "refund"
    if topic in shopify.PRODUCT_TOPICS:  # the catalog fills itself (aftercare/services/catalog.py)
        return catalog.apply_webhook(session, services.settings, topic, body, now)
    return "ignored:unknown_topic"


def _record_warnings(event: InboxEvent, warnings: tuple[str, ...], order_external_id: str) -> None:
    """A field the mapper had to cut or drop: kept on the event for an operator, logged with ids only."""
    if not warnings:
        return
    event.warnings = list(warnings)
    log.warning(
        "inbox event id=%s source=%s topic=%s order=%s applied with warnings: %s",
        event.id,
        event.source,
        event.topic,
        order_external_id,
        ",".join(warnings),
    )


def _apply_order_request(session: Session, services: Services, topic: str, body: dict[str, Any], now: datetime,
                         said: datetime) -> str:
    """A problem report or a cancellation from the order page: kept for support; a cancellation Shopify
    carried out cancels the order here too (its orders/cancelled webhook, arriving later, changes nothing)."""
    kind = "problem" if topic == "order_problem" else "cancel"
    row = services.ingest.record_order_request(
        session, order_id=int(body["o"]), kind=kind, at=said, now=now, topic=body.get("topic"),
        message=body.get("message"), shopify=body.get("shopify"))
    return f"order_{kind}:{'cancelled' if row.status == 'cancelled_in_shopify' else 'recorded'}"


def _apply_link(session: Session, services: Services, topic: str, body: dict[str, Any], now: datetime,
                said: datetime) -> str:
    """A customer's own choice on our pages counts as said when they made it (`said`, the receipt time),
    even when applied later, with the version of the page's text they saw."""
    ingest = services.ingest
    if topic in ("review_click", "referral_click", "subscription_click", "return_choice"):  # the record itself
        return f"{topic}:recorded"
    if topic in ("order_problem", "order_cancel"):  # the order page (aftercare/webhooks/order_page.py)
        return _apply_order_request(session, services, topic, body, now, said)
    if topic == "csat":
        answer = ingest.record_csat(
            session, order_id=int(body["o"]), score=int(body["s"]), channel="email", at=now, now=now
        )
        return "csat:recorded" if answer is not None else "csat:already_answered"
    customer = session.get(Customer, int(body["c"]))
    if customer is None:
        raise UnknownCustomer(str(body["c"]))
    version = services.settings.consent_copy_version
    if topic == "unsubscribe":
        via = body.get("via", "page")
        ingest.email_unsubscribed(session, customer, said, source=f"link:{via}", received_at=said,
                                  text_version=version if via == "page" else None)
        return "unsubscribed"
    if topic == "preferences":
        ingest.record_consent(session, customer, [
            ConsentIn(Channel.EMAIL, Purpose.MARKETING, bool(body["email_marketing"]), ConsentSource.PREFERENCES,
                      "link:preferences", text_version=version),
            ConsentIn(Channel.SMS, Purpose.MARKETING, bool(body["sms_marketing"]), ConsentSource.PREFERENCES,
                      "link:preferences", text_version=version),
        ], said)
        return "preferences"
    return "ignored:unknown_topic"
