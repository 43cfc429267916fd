"""The data every template receives. Templates may use these fields and nothing else (StrictUndefined).

The sweep builds a `MessageContext` from the database for each message; tests build one with
`sample_context`. Money is `Decimal` in the order's currency; times are timezone-aware UTC and are shown
in the customer's own zone by the renderer's filters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class ItemView:
    product_id: str
    title: str
    category: str
    quantity: int
    unit_price: Decimal
    setup_instructions: str | None = None
    video_url: str | None = None
    review_url: str | None = None
    url: str | None = None  # the product's page (to reorder it), when the catalog has one


@dataclass(frozen=True)
class AddressView:
    name: str
    lines: tuple[str, ...]
    city: str
    region: str | None
    postal_code: str | None
    country: str


@dataclass(frozen=True)
class ProductView:
    product_id: str
    title: str
    url: str


@dataclass(frozen=True)
class MessageContext:
    step: str
    locale: str
    timezone: str
    store_name: str
    support_email: str
    first_name: str
    vip: bool
    loyalty_tier: str
    points_balance: int
    points_expiring: int
    points_expire_at: datetime | None
    order_number: str
    order_placed_at: datetime
    currency: str
    items: tuple[ItemView, ...]
    subtotal: Decimal
    discount_total: Decimal
    discount_codes: tuple[str, ...]
    shipping_total: Decimal
    tax_total: Decimal
    total: Decimal
    shipping_address: AddressView | None
    payment_summary: str
    cancel_until: datetime | None
    points_earned: int
    points_to_next_reward: int
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    promised_at: datetime | None = None
    delivered_at: datetime | None = None
    csat_links: dict[int, str] = field(default_factory=dict)  # score 1..5 -> signed link
    review_url: str | None = None
    goodwill_points: int = 0
    referral_invite: bool = False
    referral_url: str | None = None
    cross_sell: tuple[ProductView, ...] = ()
    points_expiry_reminder: bool = False  # this win-back also carries the points-expiry reminder
    offer_code: str | None = None
    offer_percent: int | None = None  # what the offer code takes off, stated with it (issue 15)
    offer_expires_at: datetime | None = None  # until when the code works
    unsubscribe_url: str | None = None
    preferences_url: str | None = None
    order_url: str | None = None
    csat_score: int | None = None  # the recovery notice: what the customer answered
    recovery_resolve_url: str | None = None  # the recovery notice: signed link (a page; its button resolves)
    payload: Mapping[str, Any] = field(default_factory=dict)  # the triggering store event's data
    # What advertising must carry where the customer's law says so (aftercare/domain/jurisdictions.py); the
    # renderer opens an advertising subject and SMS with `ad_prefix` even if a template forgets it.
    ad_prefix: str = ""  # "(광고)" for Korea
    sender_block: str = ""  # the sender's name and contact, in marketing messages
    postal_address: str = ""  # the store's postal address, in marketing email (CAN-SPAM)
    opt_out_number: str = ""  # a free number to refuse advertising SMS (Korea's 080 number)
    region: str = ""  # the customer's country (ISO 3166-1): with the language, the locale of formats
    extra: Mapping[str, Any] = field(default_factory=dict)  # a step's own template variables, by name
    # Before it arrives: the return and exchange policy summary (settings, per locale), a delay notice's new
    # estimate and the promise it replaces.
    return_policy: str | None = None
    new_estimate: datetime | None = None
    original_promised_at: datetime | None = None


CONTEXT_FIELDS: frozenset[str] = frozenset(f.name for f in fields(MessageContext)) - {"extra"}


_SAMPLE_PLACED = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)  # the sample order's time

def sample_context(step: str, locale: str = "en", *, vip: bool = False, referral_invite: bool = True,
                   extra: Mapping[str, Any] | None = None, marketing: bool = False) -> MessageContext:
    """A full context for rendering tests and previews: every optional field filled (a step's own
    variables in `extra`: a step's `sample`); `marketing` adds the advertising details (the Korean prefix
    for ko)."""
    placed = _SAMPLE_PLACED
    items = (
        ItemView(
            "sku-espresso", "Espresso Machine Pro", "appliances", 1, Decimal("349.00"),
            setup_instructions="Rinse the water tank, run two empty cycles, then brew.",
            video_url="https://example.com/videos/espresso-setup",
            review_url="https://example.com/review/sku-espresso",
            url="https://example.com/p/sku-espresso",
        ),
        ItemView("sku-beans", "House Blend Beans 1kg", "coffee", 2, Decimal("24.50"),
                 review_url="https://example.com/review/sku-beans"),
    )
    return MessageContext(
        step=step,
        locale=locale,
        timezone={"ko": "Asia/Seoul", "ar": "Asia/Riyadh",
                  "pt_BR": "America/Sao_Paulo"}.get(locale, "America/New_York"),
        store_name="Aftercare Demo Store",
        support_email="support@example.com",
        first_name={"ko": "지민", "ar": "ليلى", "pt_BR": "João"}.get(locale, "Alex"),
        vip=vip,
        loyalty_tier="vip" if vip else "member",
        points_balance=420,
        points_expiring=120,
        points_expire_at=placed + timedelta(days=60),
        order_number="#1042",
        order_placed_at=placed,
        currency={"ko": "KRW", "ar": "SAR", "pt_BR": "BRL"}.get(locale, "USD"),
        items=items,
        subtotal=Decimal("398.00"),
        discount_total=Decimal("20.00"),
        discount_codes=("WELCOME20",),
        shipping_total=Decimal("0.00"),
        tax_total=Decimal("31.84"),
        total=Decimal("409.84"),
        shipping_address=AddressView("Alex Doe", ("12 Main St", "Apt 4"), "Springfield", "IL", "62701", "US"),
        payment_summary="Visa ending 4242",
        cancel_until=placed + timedelta(hours=2),
        points_earned=398,
        points_to_next_reward=80,
        carrier="UPS",
        tracking_number="1Z001985YW99744790",
        tracking_url="https://www.ups.com/track?tracknum=1Z001985YW99744790",
        promised_at=placed + timedelta(days=5),
        delivered_at=placed + timedelta(days=4),
        csat_links={n: f"https://example.com/csat/{n}?sig=abc" for n in range(1, 6)},
        review_url="https://example.com/review/order-1042",
        goodwill_points=200,
        referral_invite=referral_invite,
        referral_url="https://example.com/refer/abc",
        cross_sell=(ProductView("sku-grinder", "Burr Grinder", "https://example.com/p/sku-grinder"),),
        points_expiry_reminder=True,
        offer_code="COMEBACK15",
        offer_percent=15,
        offer_expires_at=placed + timedelta(days=74),
        unsubscribe_url="https://example.com/u/abc",
        preferences_url="https://example.com/prefs/abc",
        order_url="https://example.com/orders/1042",
        csat_score=1,
        recovery_resolve_url="https://example.com/recovery/resolve?t=abc",
        payload={},
        ad_prefix="(광고)" if marketing and locale == "ko" else "",
        sender_block="Aftercare Demo Store · +1 212 555 0100" if marketing else "",
        postal_address="1 Main St, Springfield, IL 62701, USA" if marketing else "",
        opt_out_number="080-000-0000" if marketing and locale == "ko" else "",
        region={"ko": "KR", "ar": "SA", "pt_BR": "BR"}.get(locale, "US"),
        extra=dict(extra or {}),
        return_policy="Free returns and exchanges within 30 days of delivery.",
        new_estimate=placed + timedelta(days=8),
        original_promised_at=placed + timedelta(days=5),
    )
