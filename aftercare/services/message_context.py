"""Building the `MessageContext` a template receives, from the batch's already-loaded state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from aftercare.domain.decisions import Send
from aftercare.domain.jurisdictions import ad_prefix
from aftercare.domain.points import PointsTable
from aftercare.frozen import builder
from aftercare.journeys.message import MessageView
from aftercare.journeys.step import Step
from aftercare.links import LinkSigner
from aftercare.rendering import catalogs
from aftercare.rendering.context import CONTEXT_FIELDS, AddressView, ItemView, MessageContext, ProductView
from aftercare.rendering.safety import checked_link, display_name, plain_text
from aftercare.services.batch_state import BatchState, address_part

SUPPORTED_LOCALES = catalogs.shipped_locales()  # every language with a catalog (en, ko, ar, pt_BR, ...)


@dataclass(frozen=True)
class ContextSettings:
    store_name: str
    support_email: str
    cancel_window: timedelta
    goodwill_points: int
    reward_threshold: int
    sender_contact: str = ""  # advertising details (aftercare/domain/jurisdictions.py)
    postal_address: str = ""
    opt_out_number: str = ""
    points: PointsTable | None = None  # per currency; None: goodwill_points and reward_threshold for all
    return_policy: Mapping[str, str] = field(default_factory=dict)  # locale -> summary; English the fallback


@lru_cache(maxsize=1024)  # a handful of distinct locales; the sweep asks for every message
def choose_locale(locale: str | None) -> str:
    """The catalog a customer's messages are written in: 'ko-KR' -> 'ko', 'pt-BR' -> 'pt_BR', else 'en'."""
    return catalogs.resolve(locale, SUPPORTED_LOCALES)


def build_context(
    *, spec: Step, customer_id: int, order_id: int, decision: Send, batch: BatchState, links: LinkSigner,
    settings: ContextSettings, now: datetime, cross_sell: tuple[ProductView, ...] = (), occurrence: str = "",
    item: str | None = None, payload: dict[str, Any] | None = None,
) -> MessageContext:
    """The template context for one message: the engine's fields, then the step's decision-time data
    (`Step.data`), then its render-time data (`Step.template_data`, e.g. signed links). A field of
    `MessageContext` is replaced; any other key reaches the template as its own variable (`extra`).

    Unsubscribe and preferences links are signed only for marketing messages, the only ones that show them:
    signing is a tenth of this function's cost."""
    step = spec.name
    marketing = spec.is_marketing
    c = batch.customers[customer_id]
    o = batch.orders[order_id]
    ship = batch.shipments.get(order_id)
    locale = choose_locale(c.locale)
    featured = set(decision.product_ids)
    products = batch.products
    items = tuple(
        _item(i, products.get(i.product_id), order_id, step, locale)
        for i in batch.items.get(order_id, ())
        if not featured or i.product_id in featured
    )
    rule = settings.points.rule(o.currency) if settings.points is not None else None
    threshold = max(rule.threshold if rule else settings.reward_threshold, 1)
    case = batch.recovery.get(order_id)
    goodwill = case.goodwill_points if case is not None else rule.goodwill if rule else settings.goodwill_points
    data: dict[str, Any] = dict(decision.data)
    if spec.template_data is not None:
        data.update(spec.template_data(_new_message_view({
            "step": step, "customer_id": customer_id, "order_id": order_id, "now": now, "links": links,
            "settings": settings, "order_placed_at": o.placed_at, "items": items, "decision_data": decision.data,
            "occurrence": occurrence, "item": item, "payload": payload or {},
            "csat_score": batch.csat[order_id].score if order_id in batch.csat else None,
            "recovery_case_id": batch.recovery[order_id].id if order_id in batch.recovery else None,
            "goodwill_points": goodwill, "currency": o.currency})))
    known = {k: v for k, v in data.items() if k in CONTEXT_FIELDS}
    extra = {k: v for k, v in data.items() if k not in CONTEXT_FIELDS}
    fields: dict[str, Any] = dict(
        step=step,
        locale=locale,
        timezone=c.timezone,
        store_name=settings.store_name,
        support_email=settings.support_email,
        first_name=display_name(c.first_name),
        vip=c.loyalty_tier.lower() in {"vip", "gold", "platinum"},
        loyalty_tier=c.loyalty_tier,
        points_balance=c.points_balance,
        points_expiring=max(0, min(c.points_expiring, c.points_balance)),  # never more than the balance
        points_expire_at=c.points_expire_at,
        order_number=o.number,
        order_placed_at=o.placed_at,
        currency=o.currency,
        items=items,
        subtotal=Decimal(o.subtotal),
        discount_total=Decimal(o.discount_total),
        discount_codes=tuple(o.discount_codes or ()),
        shipping_total=Decimal(o.shipping_total),
        tax_total=Decimal(o.tax_total),
        total=Decimal(o.total),
        shipping_address=_address(o.shipping_address),
        payment_summary=o.payment_summary or "",
        cancel_until=None,
        points_earned=o.points_earned,
        points_to_next_reward=threshold - (c.points_balance % threshold),
        carrier=ship.carrier if ship else None,
        tracking_number=ship.tracking_number if ship else None,
        tracking_url=checked_link(ship.tracking_url, field="tracking_url", order_id=order_id, step=step)
        if ship else None,
        promised_at=o.estimated_at or o.promised_at or (ship.promised_at if ship else None),
        delivered_at=ship.delivered_at if ship else None,
        referral_invite=decision.referral_invite,
        referral_url=links.url("/refer", {"k": "refer", "c": customer_id}, now) if decision.referral_invite else None,
        cross_sell=cross_sell,
        unsubscribe_url=links.unsubscribe(customer_id, now) if marketing else None,
        preferences_url=links.preferences(customer_id, now) if marketing else None,
        order_url=None,
        payload=dict(payload or {}),
        **_advertising(marketing, batch, customer_id, order_id, settings),
        region=address_part(o.shipping_address, "country_code") or (c.region or "").upper(),
        extra=extra,
        return_policy=settings.return_policy.get(locale) or settings.return_policy.get("en"),
    )
    if known:  # one construction, not a second one by `dataclasses.replace` (a fifth of this function)
        fields.update(known)
    return new_context(fields)


# `MessageContext(**values)`, the same instance, at a third of the cost (aftercare/frozen.py): the generated
# `__init__` of this frozen dataclass sets its sixty fields one `object.__setattr__` at a time, the largest
# single cost of `build_context`.
new_context = builder(MessageContext)
_new_message_view = builder(MessageView)  # what a step's template data sees, one per message
_new_item_view = builder(ItemView)  # one per order line of each message


def _advertising(marketing: bool, batch: BatchState, customer_id: int, order_id: int,
                 settings: ContextSettings) -> dict[str, str]:
    """What an advertising message must carry: the prefix of the customer's law, and the store's contact,
    postal address and free opt-out number wherever configured. Transactional messages carry none."""
    if not marketing:
        return {}
    c, address = batch.customers[customer_id], batch.orders[order_id].shipping_address
    region = address_part(address, "country_code") or c.region
    contact = settings.sender_contact.strip()
    return {
        "ad_prefix": ad_prefix(region, address_part(address, "province_code"), choose_locale(c.locale)),
        "sender_block": f"{settings.store_name} · {contact}" if contact else "",
        "postal_address": settings.postal_address.strip(),
        "opt_out_number": settings.opt_out_number.strip(),
    }


def _item(row: Any, product: Any, order_id: int, step: str, locale: str = "en") -> ItemView:
    """An order line with the catalog's setup instructions and video, in the customer's language when the
    catalog has that locale's text (from the product's `_<locale>` metafields), else the product's own."""
    own: dict[str, Any] = ((getattr(product, "localized", None) or {}).get(locale) or {}) if product is not None else {}
    video = own.get("video_url") or (product.video_url if product is not None else None)
    instructions = own.get("setup_instructions") or (product.setup_instructions if product is not None else None)
    return _new_item_view({
        "product_id": row.product_id,
        "title": row.title,
        "category": row.category,
        "quantity": row.quantity,
        "unit_price": Decimal(row.unit_price),
        "setup_instructions": instructions,
        "video_url": checked_link(video, field="video_url", order_id=order_id, step=step),
        "url": checked_link(product.url if product is not None else None, field="product_url", order_id=order_id,
                            step=step),
    })


def _address(raw: dict[str, Any] | None) -> AddressView | None:
    if not raw:
        return None
    lines = tuple(x for x in (raw.get("address1"), raw.get("address2")) if x)
    name = raw.get("name") or " ".join(x for x in (raw.get("first_name"), raw.get("last_name")) if x)
    return AddressView(
        name=plain_text(name),
        lines=lines,
        city=raw.get("city") or "",
        region=raw.get("province_code") or raw.get("province"),
        postal_code=raw.get("zip"),
        country=raw.get("country_code") or raw.get("country") or "",
    )
