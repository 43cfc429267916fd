"""Pure mappers from Shopify's REST webhook bodies to our commands (`OrderIn`, `FulfillmentIn`, `RefundIn`).

No database and no I/O here: each function takes the decoded JSON object and returns our own words, or
raises `ValueError` / `KeyError` / `TypeError` for a body that lacks what it needs. A cosmetic field too long
for its column is cut to the column's length (read from the models), and a link we would not put in a message
is dropped; either is named in the command's `warnings`, so one odd field never costs a whole order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aftercare.db.limits import fit, fit_or_drop
from aftercare.db.models import Customer, Order, OrderItem, Shipment
from aftercare.domain.consent import ConsentSource
from aftercare.domain.vocabulary import Channel, Purpose
from aftercare.domain.zones import resolve_zone
from aftercare.rendering.safety import safe_url
from aftercare.services.commands import ConsentIn, CustomerIn, FulfillmentIn, ItemIn, OrderIn, RefundIn

ORDER_TOPICS = frozenset({"orders/create", "orders/updated", "orders/cancelled", "orders/paid"})
FULFILLMENT_TOPICS = frozenset({"fulfillments/create", "fulfillments/update"})
TRACKING_TOPICS = frozenset({"fulfillment_events/create"})
REFUND_TOPICS = frozenset({"refunds/create"})
PRODUCT_TOPICS = frozenset({"products/create", "products/update", "products/delete"})  # the catalog
KNOWN_TOPICS = ORDER_TOPICS | FULFILLMENT_TOPICS | TRACKING_TOPICS | REFUND_TOPICS | PRODUCT_TOPICS
FAILED_FULFILLMENT = frozenset({"cancelled", "error", "failure"})

# Shopify orders carry no IANA time zone for the customer, only addresses and phones. The customer's zone
# matters for SMS quiet hours, so it is derived from the shipping (else billing) address's state and postal
# code, then the phone, then the country (aftercare/domain/zones.py), else `default_timezone`.


def parse_time(value: Any) -> datetime:
    """Shopify's ISO-8601 times with an offset, as aware UTC."""
    if not isinstance(value, str):
        raise ValueError("expected an ISO-8601 time")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _opt_time(value: Any) -> datetime | None:
    return parse_time(value) if value else None


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal("0")
    except InvalidOperation as exc:
        raise ValueError("not an amount") from exc


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def guess_timezone(address: dict[str, Any] | None, phone: str | None = None, default: str = "UTC") -> str:
    address = address or {}
    return resolve_zone(country=str(address.get("country_code") or "") or None,
                        region=str(address.get("province_code") or "") or None,
                        postal_code=str(address.get("zip") or "") or None, phone=phone, default=default).zone


def _lenient_time(value: Any) -> datetime | None:
    """A consent or record time, or None when absent or unreadable: a bad timestamp never costs an order."""
    try:
        return parse_time(value) if value else None
    except ValueError:
        return None


# A consent state the customer chose; `not_subscribed` (never asked), `pending` (double opt-in unconfirmed),
# `invalid` and `redacted` are not choices, so they never outrank a choice made with us.
EXPLICIT_STATES = frozenset({"subscribed", "unsubscribed"})


def _platform_consent(channel: Channel, purpose: Purpose, consent: dict[str, Any],
                      record_time: datetime | None) -> ConsentIn:
    """Shopify's consent as a statement at Shopify's own time: `consent_updated_at`, else the record's
    `updated_at` (then only an echo: the platform repeating what it last knew)."""
    state = str(consent["state"])
    own_time = _lenient_time(consent.get("consent_updated_at"))
    return ConsentIn(channel, purpose, state == "subscribed", ConsentSource.PLATFORM, "shopify",
                     stated_at=own_time or record_time, explicit=own_time is not None and state in EXPLICIT_STATES)


def _consents(customer: dict[str, Any], record_time: datetime | None) -> tuple[ConsentIn, ...]:
    """Marketing consent as Shopify recorded it. Transactional SMS only with SMS marketing consent: Shopify
    has no separate flag, and texting a number nobody agreed to be texted on is the worse mistake."""
    out: list[ConsentIn] = []
    email = _dict(customer.get("email_marketing_consent"))
    if email.get("state"):
        out.append(_platform_consent(Channel.EMAIL, Purpose.MARKETING, email, record_time))
    sms = _dict(customer.get("sms_marketing_consent"))
    if sms.get("state"):
        out.append(_platform_consent(Channel.SMS, Purpose.MARKETING, sms, record_time))
        out.append(_platform_consent(Channel.SMS, Purpose.TRANSACTIONAL, sms, record_time))
    return tuple(out)


def map_customer(
    order: dict[str, Any], *, default_timezone: str = "UTC", notes: list[str] | None = None
) -> CustomerIn:
    """The order's customer; fields cut to fit are named in `notes`."""
    notes = [] if notes is None else notes
    customer = _dict(order.get("customer"))
    shipping = _dict(order.get("shipping_address"))
    billing = _dict(order.get("billing_address"))
    address = shipping or billing or _dict(customer.get("default_address"))
    external = customer.get("id")
    email = customer.get("email") or order.get("email") or order.get("contact_email")
    phone = customer.get("phone") or shipping.get("phone") or billing.get("phone") or order.get("phone")
    return CustomerIn(
        external_id=f"shopify:{external}" if external is not None else f"shopify-order:{order['id']}",
        email=email,
        phone=phone,
        first_name=fit(
            str(customer.get("first_name") or shipping.get("first_name") or billing.get("first_name") or ""),
            Customer.first_name, "first_name", notes,
        ),
        locale=fit(str(order.get("customer_locale") or "en"), Customer.locale, "locale", notes),
        timezone=guess_timezone(address, phone, default_timezone),
        region=fit(str(address.get("country_code")), Customer.region, "region", notes)
        if address.get("country_code") else None,
        consents=_consents(customer, _lenient_time(customer.get("updated_at") or order.get("updated_at"))),
    )


def product_key(line: dict[str, Any]) -> str:
    """Our product id for a line item: Shopify's product id; a custom item has none, so its line id."""
    if line.get("product_id") is not None:
        return str(line["product_id"])
    return f"line:{line.get('variant_id') or line.get('id')}"


def note_attribute(order: dict[str, Any], name: str | None) -> str | None:
    """A note attribute's value (Shopify: `note_attributes: [{"name", "value"}]`), None when absent."""
    if not name:
        return None
    for attr in order.get("note_attributes") or ():
        if isinstance(attr, dict) and attr.get("name") == name and attr.get("value") not in (None, ""):
            return str(attr["value"])
    return None


def metafield(resource: dict[str, Any], ref: str | None) -> str | None:
    """A metafield's value by `namespace.key` from a body's `metafields` list, None when absent."""
    if not ref or "." not in ref:
        return None
    namespace, key = ref.split(".", 1)
    for field in resource.get("metafields") or ():
        if isinstance(field, dict) and field.get("namespace") == namespace and field.get("key") == key:
            value = field.get("value")
            return None if value in (None, "") else str(value)
    return None


def shipping_method(order: dict[str, Any]) -> str | None:
    """The first shipping line's code, else its title (what a promise per method is keyed by)."""
    for line in order.get("shipping_lines") or ():
        if isinstance(line, dict):
            value = line.get("code") or line.get("title")
            if value:
                return str(value)[:64]
    return None


def map_order(order: dict[str, Any], *, default_timezone: str = "UTC", promise_attribute: str | None = None,
              promise_metafield: str | None = None) -> OrderIn:
    notes: list[str] = []
    lines = [line for line in order.get("line_items") or () if isinstance(line, dict)]
    items = tuple(
        ItemIn(
            product_key(line),
            fit(str(line.get("title") or line.get("name") or ""), OrderItem.title, "item_title", notes),
            int(line.get("quantity") or 1),
            _money(line.get("price")),
        )
        for line in lines
    )
    shipping_total = sum(
        (_money(s.get("price")) for s in order.get("shipping_lines") or () if isinstance(s, dict)),
        Decimal("0"),
    )
    gateways = order.get("payment_gateway_names") or ()
    customer = map_customer(order, default_timezone=default_timezone, notes=notes)
    number = fit(str(order.get("name") or order.get("order_number") or order["id"]), Order.number, "number", notes)
    payment_summary = fit(", ".join(str(g) for g in gateways), Order.payment_summary, "payment_summary", notes)
    return OrderIn(
        external_id=str(order["id"]),
        number=number,
        customer=customer,
        placed_at=parse_time(order.get("processed_at") or order["created_at"]),
        items=items,
        subtotal=_money(order.get("subtotal_price")),
        total=_money(order.get("total_price")),
        currency=str(order.get("currency") or "USD")[:3],
        discount_total=_money(order.get("total_discounts")),
        discount_codes=tuple(
            str(d.get("code")) for d in order.get("discount_codes") or () if isinstance(d, dict)
        ),
        shipping_total=shipping_total,
        tax_total=_money(order.get("total_tax")),
        shipping_address=_dict(order.get("shipping_address")) or None,
        payment_summary=payment_summary,
        cancelled_at=_opt_time(order.get("cancelled_at")),
        warnings=tuple(dict.fromkeys(notes)),
        promise=note_attribute(order, promise_attribute) or metafield(order, promise_metafield),
        shipping_method=shipping_method(order),
    )


def map_fulfillment(fulfillment: dict[str, Any]) -> FulfillmentIn:
    notes: list[str] = []
    carrier, number = fulfillment.get("tracking_company"), fulfillment.get("tracking_number")
    return FulfillmentIn(
        external_id=str(fulfillment["id"]),
        order_external_id=str(fulfillment["order_id"]),
        shipped_at=parse_time(fulfillment.get("created_at") or fulfillment["updated_at"]),
        carrier=fit(str(carrier), Shipment.carrier, "carrier", notes) if carrier else None,
        tracking_number=fit(str(number), Shipment.tracking_number, "tracking_number", notes) if number else None,
        tracking_url=_tracking_url(fulfillment.get("tracking_url"), notes),
        promised_at=_opt_time(fulfillment.get("estimated_delivery_at")),
        warnings=tuple(dict.fromkeys(notes)),
    )


def _tracking_url(value: Any, notes: list[str]) -> str | None:
    """Only an http(s) link with a host, short enough to store whole; anything else is dropped and noted."""
    if not value:
        return None
    url = safe_url(value)
    if url is None:
        notes.append("tracking_url_dropped")
        return None
    return fit_or_drop(url, Shipment.tracking_url, "tracking_url", notes)


@dataclass(frozen=True)
class TrackingIn:
    shipment_external_id: str
    order_external_id: str
    status: str
    at: datetime
    estimated_delivery_at: datetime | None = None


def map_fulfillment_event(event: dict[str, Any]) -> TrackingIn:
    status = event["status"]
    if not isinstance(status, str) or not status:
        raise ValueError("fulfillment event without a status")
    return TrackingIn(
        shipment_external_id=str(event["fulfillment_id"]),
        order_external_id=str(event["order_id"]),
        status=status.lower(),
        at=parse_time(event.get("happened_at") or event["created_at"]),
        estimated_delivery_at=_opt_time(event.get("estimated_delivery_at")),
    )


def map_refund(refund: dict[str, Any]) -> RefundIn:
    """Refunded products by product id. A refund with no line items (shipping, goodwill) refunds none."""
    products = tuple(
        dict.fromkeys(
            product_key(_dict(r.get("line_item")) or {"id": r.get("line_item_id")})
            for r in refund.get("refund_line_items") or ()
            if isinstance(r, dict)
        )
    )
    amount = sum(
        (
            _money(t.get("amount"))
            for t in refund.get("transactions") or ()
            if isinstance(t, dict) and t.get("kind") == "refund" and t.get("status") in (None, "success")
        ),
        Decimal("0"),
    )
    return RefundIn(
        external_id=f"shopify-refund:{refund['id']}",
        order_external_id=str(refund["order_id"]),
        created_at=parse_time(refund.get("processed_at") or refund["created_at"]),
        product_ids=products,
        amount=amount,
    )
