"""What a customer asks for on the order page: report a problem, or cancel an order that has not shipped.

A cancellation is allowed while the cancel window is open, or once an unshipped order's promised day has
passed (the store broke its promise; `order_cancel_after_late_promise`), and never once it has shipped. It
goes to Shopify's Admin API (`POST /admin/api/<version>/orders/<id>/cancel.json`) when a shop and token are
configured, with no database transaction open during the call; otherwise, or when Shopify refuses, it is
recorded as a cancellation request for support. A problem report is always a request for support. Support
works from `order_requests` (and `aftercare explain` shows them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from aftercare.clock import as_utc
from aftercare.db.models import Customer, Order, OrderRequest, Shipment
from aftercare.domain.promise import day_ends_at
from aftercare.settings import Settings

log = logging.getLogger(__name__)
PROBLEM_TOPICS = ("damaged", "missing", "wrong_item", "late", "other")
MAX_MESSAGE_CHARS = 2000


@dataclass(frozen=True)
class OrderPageView:
    """What the order page shows: no contact details, only the order's own facts."""

    order_id: int
    number: str
    status: str  # open, fulfilled, delivered, cancelled
    locale: str
    timezone: str
    placed_at: datetime
    promised_at: datetime | None
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    shipment_status: str | None
    delivered_at: datetime | None
    can_cancel: bool
    cancel_until: datetime | None
    requests: tuple[tuple[str, str], ...]  # (kind, status) of what the customer already asked


def can_cancel(*, status: str, shipped: bool, placed_at: datetime, window: timedelta, promised_at: datetime | None,
               zone: str, now: datetime, after_late_promise: bool) -> bool:
    """Pure: the rule the page shows and the POST enforces."""
    if status == "cancelled" or shipped:
        return False
    if now < placed_at + window:
        return True
    return after_late_promise and promised_at is not None and now >= day_ends_at(promised_at, zone)


def load_view(session: Session, settings: Settings, order_id: int, now: datetime) -> OrderPageView | None:
    order = session.get(Order, order_id)
    if order is None:
        return None
    customer = session.get(Customer, order.customer_id)
    ship = session.scalar(select(Shipment).where(Shipment.order_id == order_id).order_by(Shipment.id.desc()).limit(1))
    zone = customer.timezone if customer is not None else "UTC"
    promised = order.estimated_at or order.promised_at or (ship.promised_at if ship else None)
    window = timedelta(hours=settings.journey.cancel_window_hours)
    placed = as_utc(order.placed_at)
    cancellable = can_cancel(status=order.status, shipped=ship is not None, placed_at=placed, window=window,
                             promised_at=as_utc(promised) if promised else None, zone=zone, now=now,
                             after_late_promise=settings.order_cancel_after_late_promise)
    requests = tuple((r.kind, r.status) for r in session.scalars(
        select(OrderRequest).where(OrderRequest.order_id == order_id).order_by(OrderRequest.id)))
    return OrderPageView(
        order_id=order.id, number=order.number, status=order.status,
        locale=customer.locale if customer is not None else "en", timezone=zone, placed_at=placed,
        promised_at=promised, carrier=ship.carrier if ship else None,
        tracking_number=ship.tracking_number if ship else None, tracking_url=ship.tracking_url if ship else None,
        shipment_status=ship.status if ship else None, delivered_at=ship.delivered_at if ship else None,
        can_cancel=cancellable, cancel_until=placed + window if now < placed + window else None, requests=requests,
    )


def shopify_configured(settings: Settings) -> bool:
    return bool(settings.shopify_shop_domain and settings.shopify_admin_token
                and settings.shopify_admin_token.get_secret_value())


def cancel_in_shopify(settings: Settings, order_external_id: str, *,
                      transport: httpx.BaseTransport | None = None) -> str:
    """Ask Shopify to cancel; "cancelled", or "refused:<status>" / "unreachable" (then support takes it).
    Call it with no database transaction open."""
    assert settings.shopify_admin_token is not None
    url = (f"https://{settings.shopify_shop_domain}/admin/api/{settings.shopify_api_version}"
           f"/orders/{order_external_id}/cancel.json")
    try:
        with httpx.Client(transport=transport, timeout=settings.shopify_timeout_seconds) as client:
            response = client.post(url, json={"reason": "customer", "email": True}, headers={
                "X-Shopify-Access-Token": settings.shopify_admin_token.get_secret_value()})
    except httpx.HTTPError as exc:
        log.warning("shopify cancel order=%s failed: %s", order_external_id, type(exc).__name__)
        return "unreachable"
    if response.status_code in (200, 201):
        return "cancelled"
    log.warning("shopify cancel order=%s refused: %s", order_external_id, response.status_code)
    return f"refused:{response.status_code}"


def record(session: Session, *, order_id: int, kind: str, at: datetime, topic: str | None = None,
           message: str | None = None, shopify: str | None = None) -> OrderRequest | None:
    """Keep the customer's request; None for an order we do not hold."""
    order = session.get(Order, order_id)
    if order is None:
        return None
    status = "cancelled_in_shopify" if shopify == "cancelled" else "open"
    row = OrderRequest(order_id=order_id, customer_id=order.customer_id, kind=kind,
                       topic=topic if topic in PROBLEM_TOPICS else None,
                       message=(message or "")[:MAX_MESSAGE_CHARS] or None, status=status, created_at=at)
    session.add(row)
    session.flush()
    return row
