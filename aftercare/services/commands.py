"""What the outside world tells us, in our own words: the input of `Ingest`.

Webhook mappers (Shopify, SendGrid, Twilio) and the demo's synthetic store both produce these, so the
journey logic never sees a provider's payload shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from aftercare.domain.consent import ConsentSource
from aftercare.domain.vocabulary import Channel, Purpose


@dataclass(frozen=True)
class ConsentIn:
    """One consent statement: who said what, where, and when they said it (not when it reached us).

    `detail` says precisely where ("shopify", "sms:stop", "link:one_click"); it is what the current-state
    row shows as its source. `stated_at` None means "now" (our receipt time): our own pages and keywords.
    """

    channel: Channel
    purpose: Purpose
    granted: bool
    source: ConsentSource
    detail: str = ""
    stated_at: datetime | None = None
    explicit: bool = True  # False for a platform echo (see aftercare.domain.consent)
    text_version: str | None = None  # the version of our own page's text the customer saw

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", ConsentSource(self.source))
        object.__setattr__(self, "detail", self.detail or self.source.value)


@dataclass(frozen=True)
class CustomerIn:
    external_id: str
    email: str | None
    phone: str | None = None
    first_name: str = ""
    locale: str = "en"
    timezone: str | None = None  # None: derived from the address, then the phone (aftercare/domain/zones.py)
    region: str | None = None
    loyalty_tier: str | None = None
    points_balance: int | None = None
    points_expiring: int | None = None
    points_expire_at: datetime | None = None
    consents: tuple[ConsentIn, ...] = ()
    subdivision: str | None = None  # state or province code, for the time zone and the jurisdiction
    postal_code: str | None = None


@dataclass(frozen=True)
class ItemIn:
    product_id: str
    title: str
    quantity: int
    unit_price: Decimal
    category: str = "general"


@dataclass(frozen=True)
class OrderIn:
    external_id: str
    number: str
    customer: CustomerIn
    placed_at: datetime
    items: tuple[ItemIn, ...]
    subtotal: Decimal
    total: Decimal
    currency: str = "USD"
    discount_total: Decimal = Decimal("0")
    discount_codes: tuple[str, ...] = ()
    shipping_total: Decimal = Decimal("0")
    tax_total: Decimal = Decimal("0")
    shipping_address: dict[str, Any] | None = None
    payment_summary: str = ""
    cancelled_at: datetime | None = None
    warnings: tuple[str, ...] = ()  # fields fitted or dropped by the mapper (e.g. "first_name_truncated")
    # The promise as written on the order (a note attribute or metafield: a day or an ISO time), and the
    # shipping method (its code or title) for a promise per method in settings. Ingest reads them.
    promise: str | None = None
    shipping_method: str | None = None


@dataclass(frozen=True)
class FulfillmentIn:
    external_id: str
    order_external_id: str
    shipped_at: datetime
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    promised_at: datetime | None = None
    warnings: tuple[str, ...] = ()  # fields fitted or dropped by the mapper (e.g. "tracking_url_dropped")


@dataclass(frozen=True)
class RefundIn:
    external_id: str
    order_external_id: str
    created_at: datetime
    product_ids: tuple[str, ...] = field(default_factory=tuple)
    amount: Decimal = Decimal("0")
    kind: str = "refund"


# Shipment statuses in the order they happen; tracking events never move a shipment backwards.
TRACKING_PROGRESS = {
    "fulfilled": 0, "label_printed": 1, "label_purchased": 1, "confirmed": 1, "carrier_picked_up": 2,
    "in_transit": 3, "attempted_delivery": 4, "delayed": 4, "failure": 4, "out_for_delivery": 5,
    "ready_for_pickup": 5, "delivered": 9,
}
EXCEPTION_STATUSES = frozenset({"delayed", "failure"})
# A failed delivery attempt and the parcel out for delivery are news of their own (each its own notice,
# both off by default), not a carrier exception.
FAILED_ATTEMPT_STATUSES = frozenset({"attempted_delivery"})
OUT_FOR_DELIVERY_STATUSES = frozenset({"out_for_delivery"})


@dataclass(frozen=True)
class StoreEventIn:
    """The store's own named event (`loyalty.tier_changed`): about a customer, and optionally one of their
    orders; `data` is what the steps it triggers read (`ev.new_rank`), stored with each step it schedules."""

    name: str
    customer_external_id: str
    occurred_at: datetime
    idempotency_key: str
    order_external_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
