"""Exchange before refund: when a return starts, an offer to exchange the item or take store credit with a
bonus, before the refund completes; nothing once it is refunded.

Returns tools keep the sale this way: a refund ends the relationship, an exchange or store credit keeps it,
and a bonus on the credit (`exchange_bonus_kind` flat or percent, `exchange_bonus_value`) is what tips it.
The store reports the start of a return with its own event `return.started` (order; data: return, the
products) through `POST /webhooks/events`; a refund arrives as usual (Shopify `refunds/create`). The offer
is decided when due: items already refunded are left out, and with all of them refunded it is skipped.
Its two signed links (`/return-choice?t=`) record the choice and land on the store's returns portal
(`returns_portal_url_template`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select

from aftercare.db.binds import in_param
from aftercare.db.models import Order, ReturnItem
from aftercare.domain.decisions import Skip
from aftercare.domain.view import StepView
from aftercare.journeys.facts import FactQuery, fact
from aftercare.journeys.message import MessageView
from aftercare.journeys.step import Step, days, email, step, transactional
from aftercare.settings import JourneyTimings

EXCHANGE_OFFER = "exchange_offer"
RETURN_STARTED = "return.started"
ALREADY_REFUNDED = "returns.already_refunded"
CHOICES = ("exchange", "credit")


def _refunded(q: FactQuery) -> Mapping[int, dict[int, frozenset[str]]]:
    """Per customer, per order of the batch: the products already refunded ('*': the whole order)."""
    if not q.order_ids:
        return {}
    found: dict[int, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for cid, oid, pid in q.session.execute(
            select(Order.customer_id, ReturnItem.order_id, ReturnItem.product_id)
            .join(Order, Order.id == ReturnItem.order_id)
            .where(in_param(ReturnItem.order_id, "oids", q.dialect), ReturnItem.kind == "refund"),
            {"oids": list(q.order_ids)}):
        found[cid][oid].add(pid)
    return {cid: {oid: frozenset(p) for oid, p in orders.items()} for cid, orders in found.items()}


REFUNDED = fact("refunded", _refunded, default={})


def _returned_products(view: StepView) -> tuple[str, ...]:
    """The products the return is about (the event's, else the whole order) and not yet refunded."""
    named = view.payload.get("products") or view.order.product_ids
    refunded = view.facts.refunded.get(view.order.order_id, frozenset())
    if "*" in refunded:
        return ()
    return tuple(p for p in view.order.product_ids if p in set(map(str, named)) and p not in refunded)


def _not_refunded(view: StepView, now: datetime) -> Skip | None:
    return None if _returned_products(view) else Skip(ALREADY_REFUNDED)


def bonus(value: Decimal, kind: str, amount: float) -> Decimal:
    """The store-credit bonus on a return worth `value`: a flat amount, or a percent of it (to the cent)."""
    extra = Decimal(str(amount)) if kind == "flat" else value * Decimal(str(amount)) / 100
    return max(Decimal("0"), extra).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _offer(t: JourneyTimings) -> Any:
    def data(msg: MessageView) -> dict[str, Any]:
        value = sum((i.unit_price * i.quantity for i in msg.items), Decimal("0"))
        extra = bonus(value, t.exchange_bonus_kind, t.exchange_bonus_value)
        return_id = str(msg.payload.get("return") or msg.order_id)[:64]
        links = {c: msg.links.url("/return-choice", {"k": "return", "o": msg.order_id, "r": return_id, "x": c},
                                  msg.now) for c in CHOICES}
        return {"return_value": value, "credit_bonus": extra, "credit_total": value + extra, "return_links": links}
    return data


def exchange_offer(t: JourneyTimings) -> Step | None:
    if not t.exchange_offer_enabled:
        return None
    return step(EXCHANGE_OFFER, transactional, channels=(email,), on=RETURN_STARTED, items=_returned_products,
                sample=_SAMPLE_EXCHANGE_OFFER,
                check=_not_refunded, needs=(REFUNDED,), template_data=_offer(t), expires=days(5),
                purpose_text="a return started: exchange, or store credit with a bonus, before the refund")


STEPS = (exchange_offer,)


# What each step's template data gives a real message, for `aftercare preview`.
_SAMPLE_EXCHANGE_OFFER = {"return_value": Decimal("24.50"), "credit_bonus": Decimal("2.45"),
                          "credit_total": Decimal("26.95"),
                          "return_links": {c: f"https://example.com/return-choice?t={c}"
                                           for c in ("exchange", "credit")}}
